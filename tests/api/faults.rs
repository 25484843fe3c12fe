//! Faults, as a user would meet them (issue 16): an upstream that truncates, stalls or crawls; a
//! full disk under SQLite; SIGTERM while requests are in flight; a PostgreSQL database that stops
//! taking connections. Each keeps the last good state and says what happened.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::fake_host::FakeHost;
use crate::fixtures::component;
use crate::helpers::*;

/// How the raw upstream answers.
#[derive(Clone)]
enum Upstream {
    /// A whole response.
    Good(String),
    /// Announces twice the body's length, sends half of it and closes the connection.
    Truncate(String),
    /// Sends the headers and a few bytes, then nothing for a minute.
    Stall,
    /// A whole response after a delay.
    Slow(String, Duration),
}

/// A loopback HTTP/1.1 server written on raw sockets, so that it can break a response in ways a
/// well-behaved HTTP server library will not.
struct RawHost {
    port: u16,
    mode: Arc<Mutex<Upstream>>,
}

impl RawHost {
    fn start(mode: Upstream) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(mode));
        let shared = mode.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mode = shared.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let header = |len: usize| {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/yaml\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
                        )
                    };
                    let _ = match mode {
                        Upstream::Good(body) => stream.write_all(format!("{}{body}", header(body.len())).as_bytes()),
                        Upstream::Truncate(body) => {
                            let half = &body[..body.len() / 2];
                            stream.write_all(format!("{}{half}", header(body.len() * 2)).as_bytes())
                        }
                        Upstream::Stall => {
                            let r = stream.write_all(format!("{}apiV", header(4096)).as_bytes());
                            std::thread::sleep(Duration::from_secs(60));
                            r
                        }
                        Upstream::Slow(body, delay) => {
                            std::thread::sleep(delay);
                            stream.write_all(format!("{}{body}", header(body.len())).as_bytes())
                        }
                    };
                });
            }
        });
        Self { port, mode }
    }

    fn set(&self, mode: Upstream) {
        *self.mode.lock().unwrap() = mode;
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

async fn location_error(app: &TestApp) -> Value {
    let (_, list) = app.get_json("/api/catalog/locations").await;
    list[0]["data"]["lastError"].clone()
}

async fn refresh(app: &TestApp, entity_ref: &str) -> u16 {
    app.post_json("/api/catalog/refresh", &json!({ "entityRef": entity_ref })).await.0
}

/// An upstream that truncates its answer, stalls past `reading.timeout_secs`, or answers slowly
/// within it: the first two are recorded as the location's error and the entity keeps its last
/// good state; the slow one is read.
async fn an_upstream_that_truncates_stalls_or_crawls_keeps_the_last_good_state(db: Db) {
    let host = RawHost::start(Upstream::Good(component("upstream", "team-a")));
    let port = host.port;
    let app = spawn_with(db, vec![], move |s, _| {
        s.reading.allow = vec![portolan::catalog::fetch::AllowRule { host: format!("127.0.0.1:{port}"), paths: None }];
        s.reading.timeout_secs = 2;
    })
    .await;
    let (status, body) =
        app.post_json("/api/catalog/locations", &json!({"type": "url", "target": host.url("/c.yaml")})).await;
    assert_eq!(status, 201, "{body}");
    let owner = |e: &Value| e["spec"]["owner"].as_str().map(str::to_owned);

    host.set(Upstream::Truncate(component("upstream", "team-truncated")));
    assert_eq!(refresh(&app, "component:default/upstream").await, 200);
    let (status, e) = app.entity("component", "default", "upstream").await;
    assert_eq!((status, owner(&e)), (200, Some("team-a".into())), "{e}");
    let err = location_error(&app).await;
    let message = err["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("c.yaml"), "the error names what was read: {err}");
    assert!(message.contains("body") || message.contains("closed"), "the error says the body broke off: {err}");

    host.set(Upstream::Stall);
    let started = Instant::now();
    assert_eq!(refresh(&app, "component:default/upstream").await, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "the read gave up after its timeout: {:?}", started.elapsed());
    let (_, e) = app.entity("component", "default", "upstream").await;
    assert_eq!(owner(&e), Some("team-a".into()), "{e}");
    let err = location_error(&app).await;
    assert!(err["message"].as_str().unwrap_or_default().contains("timed out"), "{err}");

    host.set(Upstream::Slow(component("upstream", "team-slow"), Duration::from_millis(900)));
    assert_eq!(refresh(&app, "component:default/upstream").await, 200);
    let (_, e) = app.entity("component", "default", "upstream").await;
    assert_eq!(owner(&e), Some("team-slow".into()), "a slow answer within the timeout is read: {e}");
    assert!(location_error(&app).await.is_null(), "the error is cleared once a read succeeds");
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", at.to_str()?])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", self.0.to_str().unwrap()]).status();
    }
}

/// Fills the file system holding `dir` with one file, until it refuses another byte.
fn fill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.write_all(&chunk[..512]);
    let _ = f.sync_all();
    path
}

/// SQLite on a full disk: a write is answered 507 `storage_full` and stores nothing of itself,
/// what was there before is still served, and once space is freed the same write succeeds.
/// Needs root (a tmpfs mount); says so and passes where mounting is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_507_and_keeps_the_last_good_state() {
    let outer = temp_dir();
    let Some(disk) = Tmpfs::mount(&outer.path().join("disk"), "64m") else {
        eprintln!("*** SKIPPED sqlite_on_a_full_disk...: cannot mount a tmpfs here (needs root). ***");
        return;
    };
    let files = temp_dir();
    let good = write_file(files.path(), "good.yaml", &component("before-full", "team-a"));
    // Big enough that its transaction cannot fit in what SQLite already holds on the disk.
    let padding = "x".repeat(900);
    let big: String = (0..3000)
        .map(|i| {
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: big-{i}\n  description: {padding}\n\
                 spec:\n  type: service\n  lifecycle: production\n  owner: team-b\n---\n"
            )
        })
        .collect();
    let big = write_file(files.path(), "big.yaml", &big);
    let url = format!("sqlite://{}", disk.0.join("portolan.db").display());
    let roots = files.path().to_path_buf();
    let data_dir = disk.0.clone();
    let app = spawn_on(url, temp_dir(), vec![], move |s, _| {
        s.reading.file_roots = vec![roots];
        s.database.data_dir = data_dir;
    })
    .await;
    let register = |path: &Path| {
        let body = json!({"type": "file", "target": path});
        let app = &app;
        async move { app.post_json("/api/catalog/locations", &body).await }
    };
    let (status, body) = register(&good).await;
    assert_eq!(status, 201, "{body}");
    let filler = fill(&disk.0);

    let (status, body) = register(&big).await;
    assert_eq!(status, 507, "{body}");
    assert_error(&body, 507, "InsufficientStorageError", "storage_full");
    assert!(body["error"]["message"].as_str().unwrap().contains("disk is full"), "{body}");
    // The last good state is served; nothing of the refused write is.
    let (status, e) = app.entity("component", "default", "before-full").await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["spec"]["owner"], "team-a");
    assert_eq!(app.entity("component", "default", "big-0").await.0, 404);
    let components = "/api/catalog/entities/by-query?filter=kind=component&limit=1";
    let (status, page) = app.get_json(components).await;
    assert_eq!((status, page["totalItems"].as_u64()), (200, Some(1)), "{page}");

    std::fs::remove_file(filler).unwrap();
    let (status, body) = register(&big).await;
    assert_eq!(status, 201, "the same write succeeds once space is freed: {body}");
    let (_, page) = app.get_json(components).await;
    assert_eq!(page["totalItems"].as_u64(), Some(3001), "{page}");
    drop(app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(disk);
}

/// A `portolan serve` process, killed when dropped.
struct Serve {
    child: Child,
    log: std::path::PathBuf,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn serve(dir: &Path, extra: &str, host: &FakeHost) -> Serve {
    let port = free_port();
    let config = write_file(
        dir,
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nworkers = 2\n{extra}\n[database]\ndata_dir = \"{}\"\n\
             [[reading.allow]]\nhost = \"{}\"\n",
            dir.join("data").display(),
            host.host()
        ),
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let log = dir.join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["serve", "--config", config.to_str().unwrap(), "--catalog", empty.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start portolan");
    // Killed and waited for when dropped, also when it never starts.
    let server = Serve { child, log, port };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("portolan did not start: {}", std::fs::read_to_string(&server.log).unwrap_or_default());
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Waits for the process to exit, up to `limit`; how long it took.
async fn exit_within(child: &mut Child, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a stop on SIGTERM exits 0: {status}");
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the process did not exit within {limit:?}");
}

/// Location registrations whose upstream answers after `delay`, started at once.
fn slow_registrations(
    server: &Serve,
    host: &FakeHost,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<(u16, Value), reqwest::Error>>> {
    (0..n)
        .map(|i| {
            let path = format!("/drain-{i}.yaml");
            host.file(&path, &component(&format!("drain-{i}"), "team-a"));
            let url = format!("http://127.0.0.1:{}/api/catalog/locations", server.port);
            let target = host.url(&path);
            tokio::spawn(async move {
                let res =
                    reqwest::Client::new().post(url).json(&json!({"type": "url", "target": target})).send().await?;
                let status = res.status().as_u16();
                Ok((status, res.json().await.unwrap_or(Value::Null)))
            })
        })
        .collect()
}

/// SIGTERM while requests are in flight: no new connection is taken, every in-flight request
/// is answered, the process exits 0, and one line says the drain is done. With a
/// `server.shutdown_timeout_secs` shorter than the requests, they are cut off at it, and the line
/// says that instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_within_the_shutdown_timeout() {
    crate::helpers::install_tls();
    let host = FakeHost::start().await;
    let dir = temp_dir();
    let mut server = serve(dir.path(), "", &host).await;
    host.set_delay(Duration::from_millis(2500));
    let pending = slow_registrations(&server, &host, 6);
    tokio::time::sleep(Duration::from_millis(800)).await;
    sigterm(&server.child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", server.port))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(late.is_err(), "no new connection is taken once draining: {late:?}");
    for (i, answer) in futures_util::future::join_all(pending).await.into_iter().enumerate() {
        let (status, body) = answer.unwrap().unwrap_or_else(|e| panic!("registration {i} was cut off: {e}"));
        assert_eq!(status, 201, "registration {i}: {body}");
    }
    let took = exit_within(&mut server.child, Duration::from_secs(30)).await;
    assert!(took < Duration::from_secs(10), "{took:?}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("Stopped on SIGTERM")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("in-flight requests drained in"), "{log}");

    // A shutdown timeout shorter than the requests in flight.
    let dir = temp_dir();
    let mut server = serve(dir.path(), "shutdown_timeout_secs = 1", &host).await;
    host.set_delay(Duration::from_secs(20));
    let pending = slow_registrations(&server, &host, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    sigterm(&server.child);
    exit_within(&mut server.child, Duration::from_secs(8)).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    for answer in futures_util::future::join_all(pending).await {
        assert!(answer.unwrap().is_err(), "a request past the shutdown timeout is cut off");
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("Stopped on SIGTERM")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("cut off"), "{log}");
}

/// PostgreSQL refusing this test's database (connections disallowed and the open ones
/// terminated, as during a restart; other tests' databases are not touched): `/readyz` answers
/// 503 `unavailable` within a few seconds while `/healthz` stays 200, and 200 again once the
/// database takes connections; nothing stored before is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readyz_is_503_while_the_database_is_unreachable() {
    use diesel::{Connection, RunQueryDsl};
    if postgres_url().is_none() {
        return;
    }
    let app = spawn_with(Db::Postgres, vec![demo_catalog()], |_, _| {}).await;
    let (_, before) = app.get_json("/api/catalog/entities/by-query?limit=1").await;
    let total = before["totalItems"].as_u64().unwrap();
    assert!(total > 50, "{before}");
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin = diesel::pg::PgConnection::establish(&postgres_url().unwrap()).unwrap();
    let mut admin_sql = |sql: String| diesel::sql_query(sql).execute(&mut admin).unwrap();
    admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
    let started = Instant::now();
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").is_some();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(retry, "a 503 says when to retry");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "/readyz answers quickly: {:?}", started.elapsed());
    assert_eq!(app.get("/healthz").await.status(), 200, "the process itself is alive");
    let (status, body) = app.get_json("/api/catalog/entities?limit=1").await;
    assert!(status == 503 || status == 200, "a read is 503 (or served from memory), never a 500: {status} {body}");

    admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "/readyz is 200 again once the database takes connections");
    let (_, after) = app.get_json("/api/catalog/entities/by-query?limit=1").await;
    assert_eq!(after["totalItems"].as_u64(), Some(total), "{after}");
}

both!(an_upstream_that_truncates_stalls_or_crawls_keeps_the_last_good_state);
