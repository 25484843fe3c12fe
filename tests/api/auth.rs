//! Identity and access: the policy matrix, anonymous access, service tokens, guest mode, and
//! sign-in end to end against a real standalone OIDC provider (oauth2-mock-server, a Node
//! process from `tests/oidc`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use portolan::auth::policy::{POLICY, Rule};
use portolan::auth::tokens::Keys;
use portolan::config::{AuthSettings, ConfigServiceToken, ProviderType, Secret, SignInProviderSettings, TokenSettings};
use portolan::settings::Settings;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{Db, TestApp, spawn_with, temp_dir, write_file};

const SIGNING_KEY: &str = "test-signing-key-5b0f7d2e9c1a4b3f";
const CONFIG_TOKEN: &str = "ptk_config-ci-token-0123456789abcdef";
const EXPIRED_TOKEN: &str = "ptk_config-old-token-0123456789abcdef";
const CLIENT_SECRET: &str = "client-secret-7c3e1f9a2b";

const ORG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: engineering}
spec: {type: department, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, parent: engineering, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {profile: {email: Alice@Example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {profile: {email: bob@example.com}, memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: carol
  annotations: {github.com/user-login: carol-gh}
spec: {memberOf: [platform]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shared}
spec: {type: service, lifecycle: production, owner: team-b}
"#;

fn component(name: &str, owner: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec: {{type: service, lifecycle: production, owner: {owner}}}\n"
    )
}

/// Auth on, anonymous access off, `group:default/platform` admins, a known signing key.
fn secured(s: &mut Settings, dir: &Path) {
    s.reading.file_roots = vec![dir.to_path_buf()];
    s.auth = Some(AuthSettings {
        guest: Some(false),
        anonymous_read: Some(false),
        admins: vec!["group:default/platform".into()],
        parent_groups: true,
        tokens: TokenSettings {
            signing_keys: vec![Secret::new(SIGNING_KEY)],
            service: vec![
                ConfigServiceToken {
                    name: "ci".into(),
                    token: Secret::new(CONFIG_TOKEN),
                    scopes: vec!["catalog:write".into()],
                    expires_at: None,
                },
                ConfigServiceToken {
                    name: "old".into(),
                    token: Secret::new(EXPIRED_TOKEN),
                    scopes: vec!["admin".into()],
                    expires_at: Some("2020-01-01T00:00:00Z".into()),
                },
            ],
            ..TokenSettings::default()
        },
        ..AuthSettings::default()
    });
}

pub async fn spawn_secured(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let org_dir = temp_dir();
    let org = write_file(org_dir.path(), "org.yaml", ORG);
    let mut app = spawn_with(db, vec![org], |s, d| {
        secured(s, d);
        tweak(s, d);
    })
    .await;
    app.keep.push(org_dir);
    app
}

/// Access tokens for the matrix roles, signed like portolan signs its own.
struct Roles {
    reader: String,
    bob: String,
    alice: String,
    carol: String,
}

impl Roles {
    fn new() -> Self {
        let keys = Keys::from_settings(&TokenSettings {
            signing_keys: vec![Secret::new(SIGNING_KEY)],
            ..TokenSettings::default()
        });
        let user = |name: &str, group: &str| {
            keys.issue(
                &format!("user:default/{name}"),
                &[format!("user:default/{name}"), format!("group:default/{group}")],
                false,
                None,
                false,
            )
            .unwrap()
        };
        Self {
            reader: keys.issue("person:reader@example.com", &[], true, Some("reader@example.com"), false).unwrap(),
            bob: user("bob", "team-b"),
            alice: user("alice", "team-a"),
            carol: user("carol", "platform"),
        }
    }

    fn all(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("anonymous", None),
            ("reader", Some(&self.reader)),
            ("non-owner", Some(&self.bob)),
            ("owner", Some(&self.alice)),
            ("admin", Some(&self.carol)),
        ]
    }
}

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn uid_of(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) =
        call(app, "GET", &format!("/api/catalog/entities/by-name/component/default/{name}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["metadata"]["uid"].as_str().unwrap().to_owned()
}

/// Every mutating route (every SignedIn, OwnerOrAdmin and Admin row of the policy table) as
/// anonymous, reader, non-owner, owner and admin.
async fn every_guarded_route_answers_each_role_as_the_policy_says(db: Db) {
    let app = spawn_secured(db, |_, _| {}).await;
    let roles = Roles::new();
    let mut covered: Vec<(&str, &str)> = Vec::new();

    // Register (SignedIn): everyone signed in and not reader-only.
    for (i, name) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
        app.write(&format!("{name}.yaml"), &component(name, "team-a"));
        let _ = i;
    }
    let mut locations: HashMap<&str, String> = HashMap::new();
    let expected = [401, 403, 201, 201, 201];
    for ((role, token), want) in roles.all().into_iter().zip(expected) {
        let file = match role {
            "non-owner" => "c1.yaml",
            "owner" => "c2.yaml",
            "admin" => "c3.yaml",
            _ => "c4.yaml",
        };
        let target = app.dir.path().join(file).display().to_string();
        let (status, body) =
            call(&app, "POST", "/api/catalog/locations", token, Some(&json!({"type": "file", "target": target}))).await;
        assert_eq!(status, want, "POST /api/catalog/locations as {role}: {body}");
        if status == 201 {
            locations.insert(file, body["location"]["id"].as_str().unwrap().to_owned());
        }
    }
    covered.push(("POST", "/api/catalog/locations"));

    // Refresh (SignedIn).
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 200, 200, 200]) {
        let (status, body) =
            call(&app, "POST", "/api/catalog/refresh", token, Some(&json!({"entityRef": "component:default/c1"})))
                .await;
        assert_eq!(status, want, "POST /api/catalog/refresh as {role}: {body}");
    }
    covered.push(("POST", "/api/catalog/refresh"));

    // Change a location (OwnerOrAdmin): c1 and c2 are team-a's.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 200, 200]) {
        let file = if role == "admin" { "c2.yaml" } else { "c1.yaml" };
        let target = app.dir.path().join(file).display().to_string();
        let (status, body) = call(
            &app,
            "PUT",
            &format!("/api/catalog/locations/{}", locations[file]),
            token,
            Some(&json!({"type": "file", "target": target})),
        )
        .await;
        assert_eq!(status, want, "PUT location as {role}: {body}");
    }
    covered.push(("PUT", "/api/catalog/locations/{id}"));

    // Delete a location (OwnerOrAdmin): the owner deletes c3's, the admin c2's.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 204, 204]) {
        let file = if role == "admin" { "c2.yaml" } else { "c3.yaml" };
        let (status, body) =
            call(&app, "DELETE", &format!("/api/catalog/locations/{}", locations[file]), token, None).await;
        assert_eq!(status, want, "DELETE location as {role}: {body}");
        if role == "non-owner" {
            assert!(body["error"]["message"].as_str().unwrap().contains("owned by group:default/team-a"), "{body}");
        }
    }
    covered.push(("DELETE", "/api/catalog/locations/{id}"));

    // Delete an entity (OwnerOrAdmin): c1 is team-a's; `shared` is team-b's, which the admin deletes.
    let c1 = uid_of(&app, &roles.carol, "c1").await;
    let shared = uid_of(&app, &roles.carol, "shared").await;
    let (status, body) =
        call(&app, "DELETE", &format!("/api/catalog/entities/by-uid/{shared}"), Some(&roles.alice), None).await;
    assert_eq!(status, 403, "the owner of c1 may not delete team-b's entity: {body}");
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 204, 204]) {
        let uid = if role == "admin" { &shared } else { &c1 };
        let (status, body) = call(&app, "DELETE", &format!("/api/catalog/entities/by-uid/{uid}"), token, None).await;
        assert_eq!(status, want, "DELETE entity as {role}: {body}");
    }
    covered.push(("DELETE", "/api/catalog/entities/by-uid/{uid}"));

    // Service tokens (Admin).
    let mut created = None;
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 201]) {
        let (status, body) =
            call(&app, "POST", "/api/auth/tokens", token, Some(&json!({"name": "ci", "scopes": ["catalog:write"]})))
                .await;
        assert_eq!(status, want, "POST /api/auth/tokens as {role}: {body}");
        if status == 201 {
            created = Some(body["id"].as_str().unwrap().to_owned());
        }
    }
    covered.push(("POST", "/api/auth/tokens"));
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 200]) {
        let (status, body) = call(&app, "GET", "/api/auth/tokens", token, None).await;
        assert_eq!(status, want, "GET /api/auth/tokens as {role}: {body}");
    }
    covered.push(("GET", "/api/auth/tokens"));
    let id = created.unwrap();
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 204]) {
        let (status, body) = call(&app, "DELETE", &format!("/api/auth/tokens/{id}"), token, None).await;
        assert_eq!(status, want, "DELETE /api/auth/tokens as {role}: {body}");
    }
    covered.push(("DELETE", "/api/auth/tokens/{id}"));

    // Running a discovery provider (Admin); none is configured here, so the admin gets 404.
    for ((role, token), want) in roles.all().into_iter().zip([401, 403, 403, 403, 404]) {
        let (status, body) = call(&app, "POST", "/api/providers/nope/run", token, None).await;
        assert_eq!(status, want, "POST /api/providers/{{id}}/run as {role}: {body}");
    }
    covered.push(("POST", "/api/providers/{id}/run"));

    // The matrix covers every guarded row of the policy table.
    let guarded: Vec<(&str, &str)> = POLICY
        .iter()
        .filter(|(_, _, r)| matches!(r, Rule::SignedIn | Rule::OwnerOrAdmin | Rule::Admin))
        .map(|(m, p, _)| (*m, *p))
        .collect();
    for g in &guarded {
        assert!(covered.contains(g), "the role matrix does not cover {g:?}");
    }
}

/// With anonymous access off, any path under /api/catalog and /api/portal is 401 before
/// routing and before the body is read; reads work for signed-in readers.
async fn anonymous_and_forged_calls_get_401_under_the_api(db: Db) {
    let app = spawn_secured(db, |_, _| {}).await;
    let roles = Roles::new();
    for path in ["/api/catalog/entities", "/api/catalog/no-such-route", "/api/portal/products", "/api/catalog"] {
        let (status, body) = call(&app, "GET", path, None, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        crate::helpers::assert_error(&body, 401, "AuthenticationError", "unauthenticated");
    }
    // A malformed body would be a 400 if it were read: authentication comes first.
    let res = app
        .client
        .post(app.url("/api/catalog/locations"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // Forged: signed with another key.
    let forged = Keys::from_settings(&TokenSettings {
        signing_keys: vec![Secret::new("another-key-entirely-0000")],
        ..TokenSettings::default()
    })
    .issue("user:default/carol", &["group:default/platform".into()], false, None, false)
    .unwrap();
    let (status, _) = call(&app, "GET", "/api/catalog/entities", Some(&forged), None).await;
    assert_eq!(status, 401);
    let (status, _) = call(&app, "GET", "/api/catalog/entities", Some("ptk_not-a-real-token-at-all"), None).await;
    assert_eq!(status, 401);
    // Open routes stay open; readers read, including Backstage's POST reads.
    for path in ["/healthz", "/readyz", "/api/openapi.json"] {
        assert_eq!(call(&app, "GET", path, None, None).await.0, 200, "{path}");
    }
    // /metrics is read like the catalog (issue 24; `server.metrics_public` opens it).
    assert_eq!(call(&app, "GET", "/metrics", None, None).await.0, 401);
    assert_eq!(call(&app, "GET", "/metrics", Some(&roles.reader), None).await.0, 200);
    let (status, body) = call(&app, "GET", "/api/catalog/entities?filter=kind=user", Some(&roles.reader), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 3);
    let (status, body) = call(
        &app,
        "POST",
        "/api/catalog/entities/by-refs",
        Some(&roles.reader),
        Some(&json!({"entityRefs": ["user:default/alice"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["metadata"]["name"], "alice");
    // With anonymous_read on, anonymous callers read but cannot write.
    let open = spawn_secured(db, |s, _| s.auth.as_mut().unwrap().anonymous_read = Some(true)).await;
    assert_eq!(call(&open, "GET", "/api/catalog/entities", None, None).await.0, 200);
    let (status, _) =
        call(&open, "POST", "/api/catalog/locations", None, Some(&json!({"type": "file", "target": "/x"}))).await;
    assert_eq!(status, 401);
}

/// Service tokens: created by an admin, shown once, scoped, revocable; config tokens too.
async fn service_tokens_are_scoped_shown_once_and_revocable(db: Db) {
    let app = spawn_secured(db, |_, _| {}).await;
    let roles = Roles::new();
    app.write("svc.yaml", &component("svc", "team-b"));
    let target = app.dir.path().join("svc.yaml").display().to_string();
    let register = json!({"type": "file", "target": target, "dryRun": true});
    let (status, writer) = call(
        &app,
        "POST",
        "/api/auth/tokens",
        Some(&roles.carol),
        Some(&json!({"name": "importer", "scopes": ["catalog:write"], "expiresInDays": 30})),
    )
    .await;
    assert_eq!(status, 201, "{writer}");
    let secret = writer["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ptk_"));
    assert!(writer["expiresAt"].is_string());
    let (_, usage) = call(
        &app,
        "POST",
        "/api/auth/tokens",
        Some(&roles.carol),
        Some(&json!({"name": "meter", "scopes": ["usage:write"]})),
    )
    .await;
    let usage_secret = usage["token"].as_str().unwrap().to_owned();
    let (status, body) =
        call(&app, "POST", "/api/auth/tokens", Some(&roles.carol), Some(&json!({"name": "x", "scopes": ["root"]})))
            .await;
    assert_eq!(status, 400, "{body}");

    // Listed without secrets, and not stored in the clear.
    let (_, list) = call(&app, "GET", "/api/auth/tokens", Some(&roles.carol), None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&secret) && !list.to_string().contains(&secret[4..]));

    let (status, body) = call(&app, "POST", "/api/catalog/locations?dryRun=true", Some(&secret), Some(&register)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) =
        call(&app, "POST", "/api/catalog/locations?dryRun=true", Some(&usage_secret), Some(&register)).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, "GET", "/api/catalog/entities", Some(&usage_secret), None).await;
    assert_eq!(status, 200, "every service token reads");
    let (status, me) = call(&app, "GET", "/api/auth/me", Some(&secret), None).await;
    assert_eq!((status, me["type"].as_str()), (200, Some("service")), "{me}");

    let id = writer["id"].as_str().unwrap();
    assert_eq!(call(&app, "DELETE", &format!("/api/auth/tokens/{id}"), Some(&roles.carol), None).await.0, 204);
    assert_eq!(call(&app, "GET", "/api/catalog/entities", Some(&secret), None).await.0, 401);
    let (_, list) = call(&app, "GET", "/api/auth/tokens", Some(&roles.carol), None).await;
    assert!(list[0]["revokedAt"].is_string(), "{list}");

    // From config: hashed at load, scoped, with expiry.
    let (status, body) =
        call(&app, "POST", "/api/catalog/locations?dryRun=true", Some(CONFIG_TOKEN), Some(&register)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(call(&app, "GET", "/api/auth/tokens", Some(CONFIG_TOKEN), None).await.0, 403);
    assert_eq!(call(&app, "GET", "/api/catalog/entities", Some(EXPIRED_TOKEN), None).await.0, 401);
}

/// No [auth] section: a guest who may do everything, on loopback only unless written.
async fn guest_mode_is_the_default_and_stays_on_loopback(db: Db) {
    let app = spawn_with(db, vec![], |_, _| {}).await;
    let (status, me) = call(&app, "GET", "/api/auth/me", None, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["type"], "guest");
    assert_eq!(me["admin"], true);
    let (status, body) =
        call(&app, "POST", "/api/auth/tokens", None, Some(&json!({"name": "t", "scopes": ["admin"]}))).await;
    assert_eq!(status, 201, "{body}");

    let build = |auth: Option<AuthSettings>| {
        let dir = temp_dir();
        let mut s = Settings::default();
        s.server.bind = "0.0.0.0:0".into();
        s.server.workers = 1;
        s.database.url = crate::helpers::fresh_database(db, dir.path());
        s.catalog.paths = vec![];
        s.auth = auth;
        async move {
            let r = portolan::startup::Application::build(s).await;
            drop(dir);
            r.map(|app| app.handle())
        }
    };
    let Err(err) = build(None).await else { panic!("guest mode on 0.0.0.0 must be refused") };
    assert!(format!("{err:#}").contains("guest mode"), "{err:#}");
    let ok = build(Some(AuthSettings { guest: Some(true), ..AuthSettings::default() })).await;
    ok.expect("explicit guest = true is accepted").stop(false).await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in against the real provider.

/// The standalone provider: `node tests/oidc/server.mjs`, steered through its stdin.
pub struct Provider {
    pub issuer: String,
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

/// Where the provider's script and its `node_modules` are: `PORTOLAN_TEST_OIDC`, or
/// `tests/oidc` when installed. `None` (with a loud note) only outside CI.
fn provider_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PORTOLAN_TEST_OIDC") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("node_modules/oauth2-mock-server").is_dir(),
            "PORTOLAN_TEST_OIDC={} has no node_modules/oauth2-mock-server: run `npm ci` there",
            dir.display()
        );
        return Some(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    if dir.join("node_modules/oauth2-mock-server").is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must run `npm ci` in tests/oidc and set PORTOLAN_TEST_OIDC");
    let _ = writeln!(
        std::io::stderr(),
        "\n*** tests/oidc is not installed (npm ci there, or set PORTOLAN_TEST_OIDC): the sign-in tests are NOT running. ***\n"
    );
    None
}

impl Provider {
    pub async fn start() -> Option<Self> {
        let dir = provider_dir()?;
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js 20+)");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the provider starts within 20 s")
            .unwrap()
            .expect("the provider prints its issuer");
        let issuer = first.strip_prefix("issuer ").expect("issuer line").to_owned();
        Some(Self { issuer, child, stdin, lines })
    }

    /// Sends one steering line and waits for its acknowledgement.
    pub async fn say(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let ack = self.lines.next_line().await.unwrap().unwrap();
        assert_eq!(ack, format!("ok {line}"));
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn oidc_provider(issuer: &str) -> SignInProviderSettings {
    SignInProviderSettings {
        kind: ProviderType::Oidc,
        issuer: Some(issuer.to_owned()),
        client_id: "portolan-test".into(),
        client_secret: Secret::new(CLIENT_SECRET),
        scopes: vec![],
        user_annotation: None,
        redirect_base_url: None,
        github_url: None,
        github_api_url: None,
        sign_in: Default::default(),
    }
}

/// A browser, more or less: follows redirects one by one and keeps cookies per host.
pub struct Browser {
    client: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    pub fn new() -> Self {
        crate::helpers::install_tls();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, jar: HashMap::new() }
    }

    fn host_of(url: &str) -> String {
        url::Url::parse(url).unwrap().host_str().unwrap_or_default().to_owned()
            + ":"
            + &url::Url::parse(url).unwrap().port_or_known_default().unwrap().to_string()
    }

    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&Self::host_of(url)).and_then(|c| c.get(name)).cloned()
    }

    pub async fn request(&mut self, method: &str, url: &str) -> reqwest::Response {
        let host = Self::host_of(url);
        let mut req = self.client.request(method.parse().unwrap(), url);
        // Like a browser, a change names the page's origin (here: the portal's own).
        if !matches!(method, "GET" | "HEAD") {
            req = req.header("origin", url::Url::parse(url).unwrap().origin().ascii_serialization());
        }
        if let Some(cookies) = self.jar.get(&host).filter(|c| !c.is_empty()) {
            let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", header.join("; "));
        }
        let res = req.send().await.expect("request");
        let jar = self.jar.entry(host).or_default();
        for set in res.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        res
    }

    /// GETs a URL and follows redirects; returns the last response and every URL visited.
    pub async fn follow(&mut self, url: &str) -> (reqwest::Response, Vec<String>) {
        let mut url = url.to_owned();
        let mut visited = vec![url.clone()];
        for _ in 0..10 {
            let res = self.request("GET", &url).await;
            if !res.status().is_redirection() {
                return (res, visited);
            }
            let location = res.headers()["location"].to_str().unwrap();
            url = url::Url::parse(&url).unwrap().join(location).unwrap().to_string();
            visited.push(url.clone());
        }
        panic!("too many redirects: {visited:?}");
    }
}

async fn sign_in_with_the_real_provider_ends_at_me_with_the_mapped_user(db: Db) {
    let Some(mut provider) = Provider::start().await else { return };
    let issuer = provider.issuer.clone();
    let app = spawn_secured(db, |s, _| {
        let auth = s.auth.as_mut().unwrap();
        auth.providers.insert("corp".into(), oidc_provider(&issuer));
        auth.providers.insert("down".into(), oidc_provider("http://127.0.0.1:9"));
    })
    .await;
    let mut browser = Browser::new();
    let (res, visited) = browser.follow(&app.url("/api/auth/corp/start")).await;
    let status = res.status().as_u16();
    let me: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{me} after {visited:?}");
    assert!(visited[1].starts_with(&issuer), "went through the provider: {visited:?}");
    assert!(visited[1].contains("code_challenge_method=S256") && visited[1].contains("nonce="), "{}", visited[1]);
    assert!(visited.last().unwrap().ends_with("/api/auth/me"), "{visited:?}");
    assert_eq!(me["type"], "user");
    assert_eq!(me["userEntityRef"], "user:default/alice");
    assert_eq!(me["user"]["metadata"]["name"], "alice");
    assert_eq!(me["user"]["spec"]["profile"]["email"], "Alice@Example.com");
    assert_eq!(me["groups"], json!(["group:default/team-a", "group:default/engineering"]));
    assert_eq!(
        me["ownershipEntityRefs"],
        json!(["user:default/alice", "group:default/team-a", "group:default/engineering"])
    );
    assert_eq!(me["admin"], false);

    // The session cookie is a real session: it registers a location, and refresh renews it.
    app.write("mine.yaml", &component("mine", "team-a"));
    let target = app.dir.path().join("mine.yaml").display().to_string();
    let cookie = browser.cookie(&app.address, "portolan_token").expect("session cookie");
    let res = app
        .client
        .post(app.url("/api/catalog/locations"))
        .header("cookie", format!("portolan_token={cookie}"))
        .header("origin", &app.address)
        .json(&json!({"type": "file", "target": target}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let res = browser.request("POST", &app.url("/api/auth/refresh")).await;
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    let (status, me) = call(&app, "GET", "/api/auth/me", body["token"].as_str(), None).await;
    assert_eq!((status, me["userEntityRef"].as_str()), (200, Some("user:default/alice")));
    assert_eq!(browser.request("POST", &app.url("/api/auth/logout")).await.status().as_u16(), 204);
    assert!(browser.cookie(&app.address, "portolan_token").is_none());
    assert_eq!(browser.request("GET", &app.url("/api/auth/me")).await.status().as_u16(), 401);

    // Mapping by annotation (login) and the unmapped person.
    provider.say("user nobody@example.com nobody").await;
    let (res, _) = browser.follow(&app.url("/api/auth/corp/start")).await;
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("no User entity"), "{body}");

    // Broken ID tokens from the real provider.
    provider.say("user alice@example.com alice").await;
    for (mode, why) in
        [("expired", "expired"), ("audience", "another client"), ("signature", "signature"), ("nonce", "nonce")]
    {
        provider.say(&format!("next {mode}")).await;
        let (res, visited) = browser.follow(&app.url("/api/auth/corp/start")).await;
        assert_eq!(res.status().as_u16(), 401, "{mode}: {visited:?}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(why), "{mode}: {body}");
    }

    // Bad state: a callback whose state is not the one this browser started.
    let res = browser.request("GET", &app.url("/api/auth/corp/start")).await;
    let to_provider = res.headers()["location"].to_str().unwrap().to_owned();
    let res = browser.request("GET", &to_provider).await;
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == "state" { "forged".to_string() } else { v.to_string() }))
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.request("GET", forged.as_str()).await;
    assert_eq!(res.status().as_u16(), 401);
    let res = browser.request("GET", &callback).await;
    assert_eq!(res.status().as_u16(), 302, "the real state still works once");

    // A provider that is down: serve started anyway; sign-in says so.
    let (res, _) = browser.follow(&app.url("/api/auth/down/start")).await;
    assert_eq!(res.status().as_u16(), 503);
    let (res, _) = browser.follow(&app.url("/api/auth/nope/start")).await;
    assert_eq!(res.status().as_u16(), 404);
}

/// `portolan serve --config <file>` with debug logs captured: the child, its log so far, its port.
async fn serve_logged(config: &Path) -> (tokio::process::Child, Arc<Mutex<String>>, u16) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (port_tx, mut port_rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        let port_tx = port_tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("portolan is listening")
                    && let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(port) = v["port"].as_u64()
                {
                    let _ = port_tx.send(port as u16);
                }
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        });
    }
    let port = tokio::time::timeout(std::time::Duration::from_secs(60), port_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("serve did not start: {}", log.lock().unwrap()))
        .unwrap();
    (child, log, port)
}

/// The log of a real `portolan serve` start and sign-in holds no secret.
async fn secrets_never_reach_the_log(db: Db) {
    let Some(provider) = Provider::start().await else { return };
    let dir = temp_dir();
    let org = write_file(dir.path(), "org.yaml", ORG);
    let database = crate::helpers::fresh_database(db, dir.path());
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nlog_format = \"json\"\nworkers = 1\n[database]\nurl = \"{database}\"\n\
             [catalog]\npaths = [\"{}\"]\n\
             [auth]\nadmins = [\"group:default/platform\"]\n\
             [auth.providers.corp]\ntype = \"oidc\"\nissuer = \"{}\"\nclient_id = \"portolan-test\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             [auth.tokens]\nsigning_keys = [\"{SIGNING_KEY}\"]\n\
             [[auth.tokens.service]]\nname = \"ci\"\ntoken = \"{CONFIG_TOKEN}\"\nscopes = [\"catalog:write\"]\n",
            org.display(),
            provider.issuer
        ),
    );
    let (mut child, log, port) = serve_logged(&config).await;
    let base = format!("http://127.0.0.1:{port}");
    let mut browser = Browser::new();
    let (res, visited) = browser.follow(&format!("{base}/api/auth/corp/start")).await;
    assert_eq!(res.status().as_u16(), 200, "{visited:?}");
    let session = browser.cookie(&base, "portolan_token").unwrap();
    let code = url::Url::parse(&visited[2]).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
    let client = reqwest::Client::new();
    let res = client.get(format!("{base}/api/catalog/entities")).bearer_auth(CONFIG_TOKEN).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = client
        .get(format!("{base}/api/catalog/entities"))
        .bearer_auth("ptk_wrong-token-value-xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let body = res.text().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let log = log.lock().unwrap().clone();
    assert!(log.contains("Signed in.") && log.contains("user:default/alice"), "the sign-in is logged: {log}");
    for secret in
        [CLIENT_SECRET, SIGNING_KEY, CONFIG_TOKEN, "ptk_wrong-token-value-xyz", session.as_str(), code.as_str()]
    {
        assert!(
            !log.contains(secret),
            "a secret reached the log: {secret}\n{}",
            log.lines().filter(|l| l.contains(secret)).collect::<Vec<_>>().join("\n")
        );
        assert!(!body.contains(secret), "a secret reached an error body: {secret}");
    }
    drop(provider);
}

/// A GitHub OAuth app's endpoints in GitHub's wire format: authorize, access_token, /user and
/// /user/emails.
mod github {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use serde_json::json;

    pub const ACCESS_TOKEN: &str = "gho_fake-access-token-16c0";

    async fn authorize(q: web::Query<std::collections::HashMap<String, String>>) -> HttpResponse {
        let ok = q.get("code_challenge_method").map(String::as_str) == Some("S256") && q.contains_key("code_challenge");
        let to = format!(
            "{}?code={}&state={}",
            q["redirect_uri"],
            if ok { "gh-code" } else { "no-pkce" },
            url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
        );
        HttpResponse::Found().insert_header(("location", to)).finish()
    }

    async fn access_token(
        req: HttpRequest,
        form: web::Form<std::collections::HashMap<String, String>>,
    ) -> HttpResponse {
        let json_wanted = req.headers().get("accept").is_some_and(|v| v.to_str().unwrap().contains("application/json"));
        if !json_wanted
            || form.get("code").map(String::as_str) != Some("gh-code")
            || !form.contains_key("code_verifier")
        {
            return HttpResponse::Ok().json(json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}));
        }
        HttpResponse::Ok()
            .json(json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "read:user,user:email"}))
    }

    fn authorized(req: &HttpRequest) -> bool {
        req.headers().get("authorization").is_some_and(|v| v.to_str().unwrap() == format!("Bearer {ACCESS_TOKEN}"))
    }

    async fn user(req: HttpRequest) -> HttpResponse {
        if !authorized(&req) {
            return HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"}));
        }
        HttpResponse::Ok().json(json!({"login": "carol-gh", "id": 4242, "name": "Carol", "email": null}))
    }

    async fn emails(req: HttpRequest) -> HttpResponse {
        if !authorized(&req) {
            return HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"}));
        }
        HttpResponse::Ok().json(json!([
            {"email": "carol@old.example", "primary": false, "verified": true, "visibility": null},
            {"email": "carol@example.com", "primary": true, "verified": true, "visibility": "private"}
        ]))
    }

    pub async fn start() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(|| {
            App::new()
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/api/user", web::get().to(user))
                .route("/api/user/emails", web::get().to(emails))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        format!("http://127.0.0.1:{port}")
    }
}

/// GitHub sign-in maps the login through the configured annotation; carol is an admin.
async fn github_sign_in_maps_the_login_by_annotation(db: Db) {
    let gh = github::start().await;
    let app = spawn_secured(db, |s, _| {
        s.auth.as_mut().unwrap().providers.insert(
            "github".into(),
            SignInProviderSettings {
                kind: ProviderType::Github,
                issuer: None,
                client_id: "gh-client".into(),
                client_secret: Secret::new(CLIENT_SECRET),
                scopes: vec![],
                user_annotation: Some("github.com/user-login".into()),
                redirect_base_url: None,
                github_url: Some(gh.clone()),
                github_api_url: Some(format!("{gh}/api")),
                sign_in: Default::default(),
            },
        );
    })
    .await;
    let mut browser = Browser::new();
    let (res, visited) = browser.follow(&app.url("/api/auth/github/start?redirect=/api/auth/me")).await;
    assert_eq!(res.status().as_u16(), 200, "{visited:?}");
    assert!(visited[1].contains("scope=read%3Auser+user%3Aemail"), "{}", visited[1]);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["userEntityRef"], "user:default/carol", "{me}");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["admin"], true);
    assert_eq!(me["groups"], json!(["group:default/platform"]));
    // An open redirect is refused.
    let res = browser.request("GET", &app.url("/api/auth/github/start?redirect=//evil.example")).await;
    assert_eq!(res.status().as_u16(), 400);
}

const GATEWAY_TOKEN: &str = "ptk_config-gateway-token-0123456789ab";

/// An API offered by team-b's platform, and team-a components to subscribe with.
fn offering_files(dir: &Path) -> PathBuf {
    let mut text = String::from(
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: matrix-api}\nspec: {type: openapi, lifecycle: production, owner: team-b, definition: x}\n\
         ---\napiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata: {name: matrix-platform}\n\
         spec:\n  owner: team-b\n  offerings:\n    - api: matrix-api\n      plans:\n        - {name: auto, approval: auto}\n        - {name: manual, approval: manual}\n        - {name: other, approval: auto}\n",
    );
    for i in 1..=12 {
        text.push_str(&format!("---\n{}", component(&format!("m{i}"), "team-a")));
    }
    write_file(dir, "offering.yaml", &text)
}

/// The roles of the offerings matrix: alice's team-a owns the consumers, bob's team-b the platform.
fn offering_roles(roles: &Roles) -> [(&'static str, Option<&str>); 5] {
    [
        ("anonymous", None),
        ("reader", Some(&roles.reader)),
        ("consumer owner", Some(&roles.alice)),
        ("platform owner", Some(&roles.bob)),
        ("admin", Some(&roles.carol)),
    ]
}

/// Every offerings and gateway route as anonymous, reader, consumer owner, platform owner and admin.
async fn every_offerings_route_answers_each_role_as_the_policy_says(db: Db) {
    let dir = temp_dir();
    let org = write_file(dir.path(), "org.yaml", ORG);
    let offering = offering_files(dir.path());
    let mut app = spawn_with(db, vec![org, offering], |s, d| {
        secured(s, d);
        s.auth.as_mut().unwrap().tokens.service.push(ConfigServiceToken {
            name: "gateway".into(),
            token: Secret::new(GATEWAY_TOKEN),
            scopes: vec!["gateway:check".into()],
            expires_at: None,
        });
    })
    .await;
    app.keep.push(dir);
    let roles = Roles::new();
    let admin = Some(roles.carol.as_str());
    let mut covered: Vec<(&str, &str)> = Vec::new();
    let subscribe = |consumer: &'static str, plan: &'static str| {
        let app = &app;
        async move {
            let body = json!({"api": "matrix-api", "plan": plan, "consumer": consumer});
            let (status, s) = call(app, "POST", "/api/portal/subscriptions", admin, Some(&body)).await;
            assert_eq!(status, 201, "{s}");
            s["id"].as_str().unwrap().to_owned()
        }
    };

    // Reads.
    let m6 = subscribe("m6", "auto").await;
    for path in [
        "/api/portal/offerings".to_owned(),
        "/api/portal/offerings/default/matrix-api".to_owned(),
        "/api/portal/subscriptions".to_owned(),
        format!("/api/portal/subscriptions/{m6}"),
    ] {
        for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 200, 200, 200, 200]) {
            let (status, body) = call(&app, "GET", &path, token, None).await;
            assert_eq!(status, want, "GET {path} as {role}: {body}");
        }
    }
    covered.extend([
        ("GET", "/api/portal/offerings"),
        ("GET", "/api/portal/offerings/{namespace}/{api}"),
        ("GET", "/api/portal/subscriptions"),
        ("GET", "/api/portal/subscriptions/{id}"),
    ]);

    // Request (the consumer's owner).
    for ((role, token), (consumer, want)) in
        offering_roles(&roles).into_iter().zip([("m1", 401), ("m1", 403), ("m1", 201), ("m2", 403), ("m3", 201)])
    {
        let body = json!({"api": "matrix-api", "plan": "auto", "consumer": consumer});
        let (status, out) = call(&app, "POST", "/api/portal/subscriptions", token, Some(&body)).await;
        assert_eq!(status, want, "POST /api/portal/subscriptions as {role}: {out}");
        if role == "platform owner" {
            assert!(out["error"]["message"].as_str().unwrap().contains("owned by group:default/team-a"), "{out}");
        }
    }
    covered.push(("POST", "/api/portal/subscriptions"));

    // The platform's actions: approve, reject (pending), pause, resume, transfer (active).
    let platform_side = [401, 403, 403, 200, 200];
    for (action, plan, from) in [
        ("approve", "manual", None),
        ("reject", "manual", None),
        ("pause", "auto", None),
        ("resume", "auto", Some("pause")),
        ("transfer", "auto", None),
    ] {
        let mut ids = Vec::new();
        for consumer in ["m4", "m5"] {
            let id = subscribe(consumer, plan).await;
            if let Some(first) = from {
                assert_eq!(
                    call(&app, "POST", &format!("/api/portal/subscriptions/{id}/{first}"), admin, Some(&json!({})))
                        .await
                        .0,
                    200
                );
            }
            ids.push(id);
        }
        for ((role, token), want) in offering_roles(&roles).into_iter().zip(platform_side) {
            let id = if role == "admin" { &ids[1] } else { &ids[0] };
            let body = json!({"plan": "other", "reason": "matrix"});
            let (status, out) =
                call(&app, "POST", &format!("/api/portal/subscriptions/{id}/{action}"), token, Some(&body)).await;
            assert_eq!(status, want, "{action} as {role}: {out}");
        }
        for id in &ids {
            // Rejected ones are final already.
            let (status, out) =
                call(&app, "POST", &format!("/api/portal/subscriptions/{id}/close"), admin, Some(&json!({}))).await;
            assert!(status == 200 || (action == "reject" && status == 409), "{action}: {out}");
        }
    }
    // Close (the consumer's owner).
    let ids = [subscribe("m4", "auto").await, subscribe("m5", "auto").await];
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 200, 403, 200]) {
        let id = if role == "admin" { &ids[1] } else { &ids[0] };
        let (status, out) =
            call(&app, "POST", &format!("/api/portal/subscriptions/{id}/close"), token, Some(&json!({}))).await;
        assert_eq!(status, want, "close as {role}: {out}");
    }
    covered.push(("POST", "/api/portal/subscriptions/{id}/{action}"));

    // Keys (the consumer's owner; listing for either party).
    let sub = subscribe("m7", "auto").await;
    let keys_path = format!("/api/portal/subscriptions/{sub}/keys");
    let mut keys: Vec<Value> = Vec::new();
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 201, 403, 201]) {
        let (status, out) = call(&app, "POST", &keys_path, token, Some(&json!({}))).await;
        assert_eq!(status, want, "POST keys as {role}: {out}");
        if status == 201 {
            keys.push(out);
        }
    }
    covered.push(("POST", "/api/portal/subscriptions/{id}/keys"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 200, 200, 200]) {
        let (status, out) = call(&app, "GET", &keys_path, token, None).await;
        assert_eq!(status, want, "GET keys as {role}: {out}");
        if status == 200 {
            assert!(!out.to_string().contains(keys[0]["key"].as_str().unwrap()), "no secret in the list");
        }
    }
    covered.push(("GET", "/api/portal/subscriptions/{id}/keys"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 201, 403, 201]) {
        let key = if role == "admin" { &keys[1] } else { &keys[0] };
        let (status, out) = call(
            &app,
            "POST",
            &format!("/api/portal/keys/{}/rotate", key["id"].as_str().unwrap()),
            token,
            Some(&json!({})),
        )
        .await;
        assert_eq!(status, want, "rotate as {role}: {out}");
        if status == 201 {
            keys.push(out);
        }
    }
    covered.push(("POST", "/api/portal/keys/{id}/rotate"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 204, 403, 204]) {
        let key = if role == "admin" { &keys[3] } else { &keys[2] };
        let (status, out) =
            call(&app, "DELETE", &format!("/api/portal/keys/{}", key["id"].as_str().unwrap()), token, None).await;
        assert_eq!(status, want, "DELETE key as {role}: {out}");
    }
    covered.push(("DELETE", "/api/portal/keys/{id}"));

    // The gateway: service tokens with gateway:check, and admins.
    let live = keys[0]["key"].as_str().unwrap().to_owned();
    let check = json!({"key": live, "api": "matrix-api"});
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 403, 403, 200]) {
        let (status, out) = call(&app, "POST", "/api/gateway/check", token, Some(&check)).await;
        assert_eq!(status, want, "POST /api/gateway/check as {role}: {out}");
    }
    let (status, out) = call(&app, "POST", "/api/gateway/check", Some(GATEWAY_TOKEN), Some(&check)).await;
    assert_eq!((status, out["reason"].as_str()), (200, Some("ok")), "the gateway's token: {out}");
    let (status, _) = call(&app, "POST", "/api/gateway/check", Some(CONFIG_TOKEN), Some(&check)).await;
    assert_eq!(status, 403, "a catalog:write token may not check keys");
    covered.push(("POST", "/api/gateway/check"));
    for ((role, token), want) in offering_roles(&roles).into_iter().zip([401, 403, 403, 403, 204]) {
        let mut req = app.client.get(app.url("/api/gateway/auth?api=matrix-api")).header("X-Api-Key", &live);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), want, "GET /api/gateway/auth as {role}");
    }
    let res = app
        .client
        .get(app.url("/api/gateway/auth?api=matrix-api"))
        .header("X-Api-Key", &live)
        .bearer_auth(GATEWAY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    // A token is needed here, so a Bearer API key is no credential: 401.
    let res = app.client.get(app.url("/api/gateway/auth?api=matrix-api")).bearer_auth(&live).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    covered.push(("GET", "/api/gateway/auth"));

    // The matrix covers every offerings and gateway row of the policy table.
    let rows: Vec<(&str, &str)> = POLICY
        .iter()
        .filter(|(_, p, r)| {
            // The web UI's forms (tests/api/ui.rs has their matrix) aside.
            p.starts_with("/api/") && matches!(r, Rule::PartyOrAdmin | Rule::Gateway)
                || p.starts_with("/api/portal/offerings")
                || p.starts_with("/api/portal/subscriptions")
                || p.starts_with("/api/portal/keys")
                || p.starts_with("/api/gateway")
        })
        .map(|(m, p, _)| (*m, *p))
        .collect();
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert!(covered.contains(r), "the offerings role matrix does not cover {r:?}");
    }
}

/// API keys never reach the log of a real `portolan serve`: not when issued, checked (both
/// forms), rotated or revoked.
async fn api_keys_never_reach_the_log(db: Db) {
    let dir = temp_dir();
    let f = crate::offerings::fixture();
    let database = crate::helpers::fresh_database(db, dir.path());
    let paths: Vec<String> = f.files.iter().map(|p| format!("\"{}\"", p.display())).collect();
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nlog_format = \"json\"\nworkers = 1\n[database]\nurl = \"{database}\"\n\
             [catalog]\npaths = [{}]\n",
            paths.join(", ")
        ),
    );
    let (mut child, log, port) = serve_logged(&config).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let sub: Value =
        post("/api/portal/subscriptions", json!({"api": "pay-api", "plan": "free", "consumer": "shop-app"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let id = sub["id"].as_str().unwrap();
    let key: Value =
        post(&format!("/api/portal/subscriptions/{id}/keys"), json!({})).await.unwrap().json().await.unwrap();
    let secret = key["key"].as_str().unwrap().to_owned();
    let checked: Value =
        post("/api/gateway/check", json!({"key": secret, "api": "pay-api"})).await.unwrap().json().await.unwrap();
    assert_eq!(checked["reason"], "ok", "{checked}");
    let wrong = "ptl_0123456789ab_wrong-key-value-abcdefghijklmnop";
    let checked: Value =
        post("/api/gateway/check", json!({"key": wrong, "api": "pay-api"})).await.unwrap().json().await.unwrap();
    assert_eq!(checked["reason"], "unknown_key");
    for (header, value) in [("x-api-key", secret.clone()), ("authorization", format!("Bearer {secret}"))] {
        let res =
            client.get(format!("{base}/api/gateway/auth?api=pay-api")).header(header, value).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 204);
    }
    let rotated: Value = post(&format!("/api/portal/keys/{}/rotate", key["id"].as_str().unwrap()), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    let res =
        client.delete(format!("{base}/api/portal/keys/{}", rotated["id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("Issued an API key.") && log.contains(key["prefix"].as_str().unwrap()),
        "key events are logged by prefix: {log}"
    );
    let secret_part = |k: &str| k.rsplit_once('_').map(|(_, s)| s.to_owned()).unwrap();
    for s in [secret.clone(), secret_part(&secret), new_secret.clone(), secret_part(&new_secret), wrong.to_owned()] {
        assert!(
            !log.contains(&s),
            "a key reached the log: {s}\n{}",
            log.lines().filter(|l| l.contains(&s)).collect::<Vec<_>>().join("\n")
        );
    }
    drop(f);
}

crate::both!(
    github_sign_in_maps_the_login_by_annotation,
    every_guarded_route_answers_each_role_as_the_policy_says,
    anonymous_and_forged_calls_get_401_under_the_api,
    service_tokens_are_scoped_shown_once_and_revocable,
    guest_mode_is_the_default_and_stays_on_loopback,
    sign_in_with_the_real_provider_ends_at_me_with_the_mapped_user,
    secrets_never_reach_the_log,
    every_offerings_route_answers_each_role_as_the_policy_says,
    api_keys_never_reach_the_log,
    every_usage_route_answers_each_role_as_the_policy_says,
);

const USAGE_TOKEN: &str = "ptk_config-usage-token-0123456789abcdef";
const KPI_TOKEN: &str = "ptk_config-kpi-token-0123456789abcdef";

/// Every consumption route (intake, views, KPIs) as anonymous, reader, non-owner, owner, admin
/// and the service tokens with and without the scopes they need.
async fn every_usage_route_answers_each_role_as_the_policy_says(db: Db) {
    let dir = temp_dir();
    let org = write_file(dir.path(), "org.yaml", ORG);
    let usage = write_file(
        dir.path(),
        "usage.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: usage-api}\nspec: {type: openapi, lifecycle: production, owner: team-b, definition: x}\n\
         ---\napiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {name: usage-product}\nspec: {owner: team-a, kpis: [{name: k}]}\n",
    );
    let mut app = spawn_with(db, vec![org, usage], |s, d| {
        secured(s, d);
        let service = &mut s.auth.as_mut().unwrap().tokens.service;
        for (name, token, scope) in [("usage", USAGE_TOKEN, "usage:write"), ("kpi", KPI_TOKEN, "kpi:write")] {
            service.push(ConfigServiceToken {
                name: name.into(),
                token: Secret::new(token),
                scopes: vec![scope.into()],
                expires_at: None,
            });
        }
    })
    .await;
    app.keep.push(dir);
    let roles = Roles::new();
    let mut covered: Vec<(&str, &str)> = Vec::new();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // The intake (UsageWrite): usage:write tokens and admins.
    let events = json!([{"time": now, "api": "usage-api", "consumer": "shared"}]);
    let mut everyone: Vec<(&str, Option<&str>)> = roles.all().to_vec();
    everyone.extend([
        ("usage token", Some(USAGE_TOKEN)),
        ("kpi token", Some(KPI_TOKEN)),
        ("catalog token", Some(CONFIG_TOKEN)),
    ]);
    for ((role, token), want) in everyone.iter().zip([401, 403, 403, 403, 200, 200, 403, 403]) {
        let (status, body) = call(&app, "POST", "/api/usage/events", *token, Some(&events)).await;
        assert_eq!(status, want, "POST /api/usage/events as {role}: {body}");
        if status == 200 {
            assert_eq!(body["accepted"], 1, "{body}");
        }
    }
    // Backfills: admins only, not the intake's token.
    let (status, body) = call(&app, "POST", "/api/usage/events?backfill=true", Some(USAGE_TOKEN), Some(&events)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&app, "POST", "/api/usage/events?backfill=true", Some(&roles.carol), Some(&events)).await;
    assert_eq!(status, 200, "{body}");
    covered.push(("POST", "/api/usage/events"));

    // The views (Read): anyone signed in, no anonymous caller (anonymous reads are off here).
    for path in ["/api/portal/consumption", "/api/portal/adoption", "/api/portal/declared-vs-observed"] {
        for ((role, token), want) in everyone.iter().zip([401, 200, 200, 200, 200, 200, 200, 200]) {
            let (status, body) = call(&app, "GET", &format!("{path}?api=usage-api"), *token, None).await;
            assert_eq!(status, want, "GET {path} as {role}: {body}");
        }
        let (_, c) = call(&app, "GET", "/api/portal/consumption?api=usage-api", Some(&roles.reader), None).await;
        assert_eq!(c["totals"]["calls"], 3, "{c}");
        covered.push(("GET", path));
    }

    // KPI values (KpiWrite): the product's owner (alice's team-a), admins, kpi:write tokens.
    let values = json!([{"kpi": "k", "time": now, "value": 1.5}]);
    for ((role, token), want) in everyone.iter().zip([401, 403, 403, 200, 200, 403, 200, 403]) {
        let (status, body) =
            call(&app, "POST", "/api/portal/products/default/usage-product/kpis", *token, Some(&values)).await;
        assert_eq!(status, want, "POST kpis as {role}: {body}");
    }
    covered.push(("POST", "/api/portal/products/{namespace}/{name}/kpis"));

    let rows: Vec<(&str, &str)> = POLICY
        .iter()
        .filter(|(_, p, r)| {
            matches!(r, Rule::UsageWrite | Rule::KpiWrite)
                || ["/api/portal/consumption", "/api/portal/adoption", "/api/portal/declared-vs-observed"].contains(p)
        })
        .map(|(m, p, _)| (*m, *p))
        .collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(covered.contains(r), "the usage role matrix does not cover {r:?}");
    }
}
