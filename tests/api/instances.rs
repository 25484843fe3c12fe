//! Several `portolan serve` processes on one PostgreSQL database: refresh work is claimed through
//! the database, so no location is ever processed by two instances at once, and a crashed
//! instance's lease is taken over once it expires.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};

use crate::fake_host::FakeHost;
use crate::helpers::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &std::path::Path, empty: &std::path::Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["serve", "--config", config.to_str().unwrap(), "--catalog", empty.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portolan");
    Server(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_process_one_location_at_once_and_take_over_expired_leases() {
    if postgres_url().is_none() {
        return;
    }
    let dir = temp_dir();
    let url = fresh_database(Db::Postgres, dir.path());
    let host = FakeHost::start().await;
    host.file(
        "/slow.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: shared-one}\nspec: {type: service, lifecycle: production, owner: t}\n",
    );
    host.set_delay(Duration::from_millis(300));
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{url}\"\npool_size = 3\n[catalog]\nrefresh_interval_secs = 1\nlease_secs = 3\n\
             [[catalog.locations]]\ntype = \"url\"\ntarget = \"{}\"\n[[reading.allow]]\nhost = \"{}\"\n",
            host.url("/slow.yaml"),
            host.host()
        ),
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let a = start(&config, &empty);
    let b = start(&config, &empty);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let hits = host.hits("/slow.yaml");
    assert!(hits.len() >= 3, "the instances kept refreshing: {} reads", hits.len());
    assert_eq!(host.max_in_flight("/slow.yaml"), 1, "a location was read by two instances at once");
    for pair in hits.windows(2) {
        assert!(pair[1].started >= pair[0].finished, "overlapping reads: {pair:?}");
    }

    // A crashed instance: its lease stays in the database until it expires; nobody reads meanwhile.
    let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let until = now + 4_000;
    conn.batch_execute(&format!(
        "UPDATE locations SET lease_owner = 'crashed-instance', lease_expires_at = {until}, next_refresh_at = 0"
    ))
    .unwrap();
    // Let a processing in flight finish (read, publish, listeners: slower on a loaded machine),
    // then count.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let before = host.hits("/slow.yaml").len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(host.hits("/slow.yaml").len(), before, "nobody reads while the crashed lease is live");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(host.hits("/slow.yaml").len() > before, "the expired lease was taken over");
    let owners: Vec<String> = diesel::sql_query("SELECT coalesce(lease_owner, '') AS id FROM locations")
        .load::<IdRow>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(!owners.contains(&"crashed-instance".to_string()), "{owners:?}");
    assert_eq!(host.max_in_flight("/slow.yaml"), 1);
    drop((a, b));
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Issue 16, defect 3: a process killed (`kill -9`) during its start-up load leaves its lease
/// behind; the restarted process takes it over as soon as the dead one's heartbeat is stale,
/// instead of waiting for `catalog.lease_secs` (set to 5 minutes here), and answers `/healthz`
/// with every entity there.
async fn a_restart_after_a_kill_during_the_start_up_load_takes_over_at_once(db: Db) {
    let dir = temp_dir();
    let url = fresh_database(db, dir.path());
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    for f in 0..100 {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{f:03}-{i:03}}}\nspec: {{type: service, lifecycle: production, owner: team-{f}}}\n"
            ));
        }
        write_file(&catalog, &format!("f{f:03}.yaml"), &text);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!("[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"{url}\"\n[catalog]\nlease_secs = 300\n"),
    );
    let serve = || {
        Server(
            Command::new(env!("CARGO_BIN_EXE_portolan"))
                .args(["serve", "--config", config.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()])
                .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start portolan"),
        )
    };
    let held = || -> bool {
        let sql = "SELECT coalesce(lease_owner, '') AS id FROM locations";
        let owners: Vec<IdRow> = match db {
            Db::Sqlite => {
                let Ok(mut c) = diesel::sqlite::SqliteConnection::establish(url.trim_start_matches("sqlite://")) else {
                    return false;
                };
                diesel::sql_query(sql).load(&mut c).unwrap_or_default()
            }
            Db::Postgres => {
                let mut c = diesel::pg::PgConnection::establish(&url).unwrap();
                diesel::sql_query(sql).load(&mut c).unwrap_or_default()
            }
        };
        owners.iter().any(|r| !r.id.is_empty())
    };
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/healthz");
    let mut first = serve();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !held() {
        assert!(std::time::Instant::now() < deadline, "the start-up load never took its lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.0.kill().unwrap(); // SIGKILL: no clean-up at all
    first.0.wait().unwrap();
    assert!(client.get(&health).send().await.is_err(), "killed before the start-up load finished");
    assert!(held(), "the dead process's lease is still in the database");

    let restarted = std::time::Instant::now();
    let _second = serve();
    loop {
        if client.get(&health).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(90),
            "the restart waited for the dead lease (lease_secs = 300)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The figure in BENCHMARKS.md ("Restart after kill -9").
    eprintln!("restart after kill -9 during the start-up load: /healthz 200 after {:?}", restarted.elapsed());
    let body: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/api/catalog/entities/by-query?filter=kind=component&limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["totalItems"], 20_000, "every entity is there at the first /healthz");
}

crate::both!(a_restart_after_a_kill_during_the_start_up_load_takes_over_at_once);
