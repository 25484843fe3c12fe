//! Identity and access: anonymous access, service tokens, guest mode, and sign-in end to end
//! against a real standalone OIDC provider (oauth2-mock-server, a Node process from
//! `tests/oidc`). Each domain's role matrix is beside that domain's tests: `catalog_roles.rs`,
//! `offerings_roles.rs`, `usage_roles.rs`, and the web UI's forms in `ui.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use portolan::auth::tokens::Keys;
use portolan::config::{AuthSettings, ProviderType, Secret, SignInProviderSettings, TokenSettings};
use portolan::settings::Settings;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::fixtures::{ORG, flow_component as component};
use crate::helpers::{
    CONFIG_TOKEN, Db, EXPIRED_TOKEN, Roles, SIGNING_KEY, call, serve_logged, spawn_secured, spawn_with, temp_dir,
    write_file,
};

const CLIENT_SECRET: &str = "client-secret-7c3e1f9a2b";

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

crate::both!(
    github_sign_in_maps_the_login_by_annotation,
    anonymous_and_forged_calls_get_401_under_the_api,
    service_tokens_are_scoped_shown_once_and_revocable,
    guest_mode_is_the_default_and_stays_on_loopback,
    sign_in_with_the_real_provider_ends_at_me_with_the_mapped_user,
    secrets_never_reach_the_log,
);
