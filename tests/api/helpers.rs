//! Spawning the application on a fresh database, and typed helpers to call it.
#![allow(dead_code)] // Shared helpers: not every test module uses every one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use portolan::auth::tokens::Keys;
use portolan::config::{AuthSettings, ConfigServiceToken, Secret, TokenSettings};
use portolan::settings::Settings;
use portolan::startup::Application;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Defines each listed test twice: `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::install_tls();
                    super::$name($crate::helpers::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_url().is_some() {
                        $crate::helpers::install_tls();
                        super::$name($crate::helpers::Db::Postgres).await
                    }
                }
            )*
        }
    };
}

/// Installs the TLS provider reqwest's clients need (rustls without a default provider). Every
/// `both!` test calls it; a test defined otherwise calls it before building a client.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

static WARNED: Once = Once::new();

/// The PostgreSQL server tests may create databases on, if configured.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("PORTOLAN_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty());
    if url.is_none() {
        WARNED.call_once(|| {
            // Written past the test harness's capture, so it shows in every run.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** PORTOLAN_TEST_POSTGRES_URL is not set: the postgres:: tests are NOT running on PostgreSQL. ***\n"
            );
        });
    }
    url
}

/// A fresh, empty database for one test: a SQLite file in a temp dir, or a new PostgreSQL
/// database on the configured server.
pub fn fresh_database(db: Db, dir: &Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}", dir.join("portolan.db").display()),
        Db::Postgres => {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            let base = postgres_url().expect("postgres url");
            let name = format!("portolan_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = diesel::pg::PgConnection::establish(&base).expect("connect to PostgreSQL");
            admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            format!("{prefix}/{name}")
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    /// Further folders that must live as long as the server (fixtures it reads).
    pub keep: Vec<tempfile::TempDir>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its workers then release the database.
        drop(self.handle.stop(false));
    }
}

/// A temp folder, kept for the test's life.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("portolan-test").tempdir().expect("temp dir")
}

/// The repository's demo catalog.
pub fn demo_catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-info")
}

/// The shared corpus beside the checkout.
pub fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(p.join("corpus").is_dir(), "../shared/corpus is missing beside the checkout");
    p.canonicalize().unwrap()
}

/// Spawns the app with the given catalog paths (none: an empty catalog) and settings tweak.
pub async fn spawn_with(db: Db, catalog: Vec<PathBuf>, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let dir = temp_dir();
    let database_url = fresh_database(db, dir.path());
    spawn_on(database_url, dir, catalog, tweak).await
}

/// Spawns the app on an existing database (a restart, or a second instance).
pub async fn spawn_on(
    database_url: String,
    dir: tempfile::TempDir,
    catalog: Vec<PathBuf>,
    tweak: impl FnOnce(&mut Settings, &Path),
) -> TestApp {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 2;
    settings.database.url = database_url.clone();
    settings.database.pool_size = 4;
    settings.database.data_dir = dir.path().to_path_buf();
    settings.catalog.paths = catalog;
    tweak(&mut settings, dir.path());
    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, client: reqwest::Client::new(), database_url, dir, keep: Vec::new(), handle }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_with(db, vec![demo_catalog()], |_, _| {}).await
}

impl TestApp {
    /// Stops this server, waits until it has, and starts a new one on the same database and
    /// temp folder.
    pub async fn restart(mut self, catalog: Vec<PathBuf>, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
        self.handle.stop(true).await;
        let dir = std::mem::replace(&mut self.dir, temp_dir());
        spawn_on(self.database_url.clone(), dir, catalog, tweak).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// GET that expects JSON; returns status and body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self.client.post(self.url(path)).json(body).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn entity(&self, kind: &str, namespace: &str, name: &str) -> (u16, Value) {
        self.get_json(&format!("/api/catalog/entities/by-name/{kind}/{namespace}/{name}")).await
    }

    pub async fn entities(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/api/catalog/entities{query}")).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().expect("a bare array")
    }

    /// Writes a file into the test's temp dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// `type>targetRef` pairs of an entity's relations, sorted.
pub fn relation_pairs(entity: &Value) -> Vec<String> {
    let mut out: Vec<String> = entity["relations"]
        .as_array()
        .map(|a| {
            a.iter().map(|r| format!("{}>{}", r["type"].as_str().unwrap(), r["targetRef"].as_str().unwrap())).collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Asserts Backstage's error shape with our code.
pub fn assert_error(body: &Value, status: u16, name: &str, code: &str) {
    assert_eq!(body["error"]["name"], name, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["response"]["statusCode"], status, "{body}");
    assert!(body["request"]["method"].is_string(), "{body}");
    assert!(body["request"]["url"].is_string(), "{body}");
}

/// Runs the CLI binary; returns exit code, stdout and stderr.
pub fn portolan(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portolan")).args(args).output().expect("run portolan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A catalog rule letting locations registered through the API under `dir` hold every kind
/// (for tests about something else than the catalog rules).
pub fn allow_every_kind_from(settings: &mut Settings, dir: &Path) {
    use portolan::catalog::rules::{RuleLocation, RuleSetting};
    let kinds = [
        "Component",
        "System",
        "API",
        "Resource",
        "Location",
        "User",
        "Group",
        "Domain",
        "Product",
        "Platform",
        "Template",
        "Scorecard",
        "Campaign",
    ];
    settings.catalog.rules = vec![RuleSetting {
        allow: kinds.map(String::from).to_vec(),
        locations: Some(vec![RuleLocation { kind: "file".into(), target: format!("{}/**/*", dir.display()) }]),
    }];
}

/// Spawns the app with a catalog of YAML files, written once into a folder that lives as long
/// as the app: `spawn_with_yaml(db, &[("org.yaml", ORG)], |_, _| {})`.
pub async fn spawn_with_yaml<S: AsRef<str>>(
    db: Db,
    files: &[(&str, S)],
    tweak: impl FnOnce(&mut Settings, &Path),
) -> TestApp {
    let dir = temp_dir();
    let paths = files.iter().map(|(name, text)| write_file(dir.path(), name, text.as_ref())).collect();
    let mut app = spawn_with(db, paths, tweak).await;
    app.keep.push(dir);
    app
}

// ---------------------------------------------------------------------------------------------
// Authenticated callers.

/// The key the secured set-ups configure, and the tests sign users' access tokens with.
pub const SIGNING_KEY: &str = "test-signing-key-5b0f7d2e9c1a4b3f";
/// A `catalog:write` service token from the secured set-up's configuration.
pub const CONFIG_TOKEN: &str = "ptk_config-ci-token-0123456789abcdef";
/// An `admin` service token from the secured set-up's configuration, expired in 2020.
pub const EXPIRED_TOKEN: &str = "ptk_config-old-token-0123456789abcdef";

/// portolan's token keys, as the secured set-ups configure them.
pub fn keys() -> Keys {
    Keys::from_settings(&TokenSettings { signing_keys: vec![Secret::new(SIGNING_KEY)], ..TokenSettings::default() })
}

/// An access token for `user:default/<user>`, member of `group:default/<group>`, signed as
/// portolan signs its own.
pub fn user_token(user: &str, group: &str) -> String {
    keys()
        .issue(
            &format!("user:default/{user}"),
            &[format!("user:default/{user}"), format!("group:default/{group}")],
            false,
            None,
            false,
        )
        .unwrap()
}

/// A service token from configuration.
pub fn config_token(name: &str, token: &str, scope: &str) -> ConfigServiceToken {
    ConfigServiceToken { name: name.into(), token: Secret::new(token), scopes: vec![scope.into()], expires_at: None }
}

/// Auth on, anonymous access off, `group:default/platform` admins (with [`fixtures::ORG`]
/// carol), [`SIGNING_KEY`], and two config tokens: [`CONFIG_TOKEN`] and [`EXPIRED_TOKEN`].
pub fn secured(s: &mut Settings, dir: &Path) {
    s.reading.file_roots = vec![dir.to_path_buf()];
    s.auth = Some(AuthSettings {
        guest: Some(false),
        anonymous_read: Some(false),
        admins: vec!["group:default/platform".into()],
        parent_groups: true,
        tokens: TokenSettings {
            signing_keys: vec![Secret::new(SIGNING_KEY)],
            service: vec![
                config_token("ci", CONFIG_TOKEN, "catalog:write"),
                ConfigServiceToken {
                    expires_at: Some("2020-01-01T00:00:00Z".into()),
                    ..config_token("old", EXPIRED_TOKEN, "admin")
                },
            ],
            ..TokenSettings::default()
        },
        ..AuthSettings::default()
    });
}

/// The app [`secured`], with the organisation of [`fixtures::ORG`] (and `more` YAML files).
pub async fn spawn_secured(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    spawn_secured_with(db, &[], tweak).await
}

pub async fn spawn_secured_with(db: Db, more: &[(&str, &str)], tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let mut files = vec![("org.yaml", crate::fixtures::ORG)];
    files.extend_from_slice(more);
    spawn_with_yaml(db, &files, |s, d| {
        secured(s, d);
        tweak(s, d);
    })
    .await
}

/// Access tokens for the role matrices, on [`fixtures::ORG`]: a reader-only person, bob
/// (team-b), alice (team-a, under engineering) and carol (platform: an admin).
pub struct Roles {
    pub reader: String,
    pub bob: String,
    pub alice: String,
    pub carol: String,
}

impl Roles {
    pub fn new() -> Self {
        Self {
            reader: keys().issue("person:reader@example.com", &[], true, Some("reader@example.com"), false).unwrap(),
            bob: user_token("bob", "team-b"),
            alice: user_token("alice", "team-a"),
            carol: user_token("carol", "platform"),
        }
    }

    /// Anonymous, reader, non-owner (bob), owner (alice) and admin (carol).
    pub fn all(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("anonymous", None),
            ("reader", Some(&self.reader)),
            ("non-owner", Some(&self.bob)),
            ("owner", Some(&self.alice)),
            ("admin", Some(&self.carol)),
        ]
    }
}

/// A caller of the app: anonymous, with a bearer token, or with the session cookie.
pub struct Caller<'a> {
    app: &'a TestApp,
    token: Option<String>,
    cookie: bool,
}

impl TestApp {
    /// A caller without credentials.
    pub fn anonymous(&self) -> Caller<'_> {
        Caller { app: self, token: None, cookie: false }
    }

    /// A caller sending `Authorization: Bearer <token>` (a service token or an access token).
    pub fn as_token(&self, token: &str) -> Caller<'_> {
        Caller { app: self, token: Some(token.to_owned()), cookie: false }
    }

    /// `user:default/<user>` of `group:default/<group>`, signed in (an access token signed
    /// with [`SIGNING_KEY`], sent as a bearer token; `.with_cookie()` sends it as the session).
    pub fn as_user(&self, user: &str, group: &str) -> Caller<'_> {
        self.as_token(&user_token(user, group))
    }

    /// [`TestApp::as_token`], or anonymous for `None`.
    pub fn caller(&self, token: Option<&str>) -> Caller<'_> {
        match token {
            Some(t) => self.as_token(t),
            None => self.anonymous(),
        }
    }
}

impl Caller<'_> {
    /// Sends the token as the session cookie (`portolan_token`), as a browser does, with the
    /// portal's `Origin` on changes.
    pub fn with_cookie(mut self) -> Self {
        self.cookie = true;
        self
    }

    /// A request with this caller's credentials.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.app.client.request(method.parse().unwrap(), self.app.url(path));
        match (&self.token, self.cookie) {
            (Some(t), false) => req = req.bearer_auth(t),
            (Some(t), true) => {
                req = req.header("cookie", format!("portolan_token={t}"));
                if !matches!(method, "GET" | "HEAD") {
                    req = req.header("origin", &self.app.address);
                }
            }
            (None, _) => {}
        }
        req
    }

    /// Calls `method path` with a JSON body if given; the status and the JSON answer (`Null`
    /// when it is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }
}

/// `method path` as `token` (anonymous for `None`), for the role matrices.
pub async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    app.caller(token).call(method, path, body).await
}

/// `portolan serve` as a child process on a free port with `url`'s database, `data` as its data
/// folder and `catalog` loaded (plus `extra` arguments), its logs dropped; killed when dropped.
/// The child and its base address.
pub fn serve_child(url: &str, data: &Path, catalog: &Path, extra: &[&str]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portolan"))
        .arg("serve")
        .args(extra)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--database-url", url])
        .args(["--data-dir", data.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// `POST /api/scaffolder/v2/tasks` to `base` until the server is up and takes it (60 s at most):
/// the task's id.
pub async fn create_task_on(base: &str, body: &Value) -> String {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the server never took the task");
        let res = client.post(format!("{base}/api/scaffolder/v2/tasks")).json(body).send().await;
        if let Ok(r) = res
            && r.status() == 201
        {
            return r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `portolan serve --config <file>` with debug logs captured: the child, its log so far, its port.
pub async fn serve_logged(config: &Path) -> (tokio::process::Child, std::sync::Arc<std::sync::Mutex<String>>, u16) {
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, BufReader};
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
