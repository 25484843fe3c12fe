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
