//! Spawning the application on a fresh database, and typed helpers to call it.
#![allow(dead_code)] // Shared helpers: not every test module uses every one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

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
    ];
    settings.catalog.rules = vec![RuleSetting {
        allow: kinds.map(String::from).to_vec(),
        locations: Some(vec![RuleLocation { kind: "file".into(), target: format!("{}/**/*", dir.display()) }]),
    }];
}
