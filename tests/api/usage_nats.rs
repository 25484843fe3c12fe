//! Usage intake from NATS JetStream: two `portolan serve` processes share one durable pull
//! consumer on the real NATS server; batches published once, published twice under one id, and
//! redelivered after one process is killed (`kill -9`) are counted exactly once.
//!
//! Each test uses a stream, subjects and consumer of its own, so runs never collide. NATS is
//! `PORTOLAN_TEST_NATS_URL` (required when set), else `nats://127.0.0.1:4222` when it answers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::{Value, json};

use crate::helpers::*;

const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: pay-api}
spec: {type: openapi, lifecycle: production, owner: platform-team, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-web}
spec: {type: website, lifecycle: production, owner: platform-team, consumesApis: [pay-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: reports}
spec: {type: service, lifecycle: production, owner: platform-team}
"#;

/// The NATS server to test against, or `None` (said loudly) when none answers.
pub fn nats_url() -> Option<String> {
    if let Ok(url) = std::env::var("PORTOLAN_TEST_NATS_URL")
        && !url.is_empty()
    {
        return Some(url);
    }
    if std::net::TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1)).is_ok() {
        return Some("nats://127.0.0.1:4222".into());
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** No NATS at 127.0.0.1:4222: the NATS usage tests are NOT running. ***\n");
    None
}

/// A `portolan serve` child, killed and reaped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &std::path::Path, catalog: &std::path::Path, log: &std::path::Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["serve", "--config", config.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()])
        .env("RUST_LOG", "portolan=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start portolan");
    Server(child)
}

/// One batch of `n` single-call events in the last hour, spread over minutes and two consumers.
fn batch(id: &str, n: usize) -> Vec<u8> {
    let now = chrono::Utc::now();
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let t = now - chrono::Duration::seconds(60 + (i as i64 % 50) * 60);
            json!({
                "time": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "api": "pay-api",
                "consumer": if i % 3 == 0 { "reports" } else { "shop-web" },
                "errors": i64::from(i % 10 == 0),
                "latencyMs": 5 + i % 40,
            })
        })
        .collect();
    serde_json::to_vec(&json!({"id": id, "events": events})).unwrap()
}

async fn totals(app: &TestApp) -> (i64, i64) {
    let (status, body) = app.get_json("/api/portal/consumption?api=pay-api&bucket=hour").await;
    assert_eq!(status, 200, "{body}");
    (body["totals"]["calls"].as_i64().unwrap_or(-1), body["totals"]["errors"].as_i64().unwrap_or(-1))
}

async fn two_instances_on_one_durable_consumer_count_every_batch_once_across_a_kill(db: Db) {
    let Some(nats) = nats_url() else { return };
    let dir = temp_dir();
    let database_url = fresh_database(db, dir.path());
    let catalog = write_file(dir.path(), "catalog.yaml", CATALOG);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (stream, subjects, consumer) =
        (format!("PORTOLAN_USAGE_T{tag}"), format!("t{tag}.usage.>"), format!("portolan-usage-t{tag}"));
    let config = write_file(
        dir.path(),
        "portolan.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[database]\nurl = \"{database_url}\"\npool_size = 3\n\
             [usage]\nnats_url = \"{nats}\"\nnats_stream = \"{stream}\"\nnats_subjects = \"{subjects}\"\n\
             nats_consumer = \"{consumer}\"\nnats_ack_wait_secs = 2\n"
        ),
    );
    // The publisher's side: the stream as the instances would create it.
    let client = async_nats::connect(&nats).await.expect("connect to NATS");
    let js = jetstream::new(client);
    js.get_or_create_stream(jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subjects.clone()],
        ..Default::default()
    })
    .await
    .expect("stream");
    let subject = format!("t{tag}.usage.gateway-1");
    let publish = |id: String, n: usize| {
        let (js, subject) = (js.clone(), subject.clone());
        async move {
            js.publish(subject, batch(&id, n).into()).await.expect("publish").await.expect("stored");
        }
    };
    const PER: usize = 500;
    let batches = 40;
    for i in 0..batches / 2 {
        publish(format!("b-{i}"), PER).await;
    }
    // One batch published twice under one id (a publisher's retry): counted once.
    publish("b-0".into(), PER).await;

    // A viewer without NATS on the same database (it migrates the database first).
    let viewer = spawn_on(database_url.clone(), temp_dir(), vec![catalog.clone()], |_, _| {}).await;
    let a = start(&config, &catalog, &dir.path().join("a.log"));
    let b = start(&config, &catalog, &dir.path().join("b.log"));

    // Kill one instance (SIGKILL: no clean-up, its unacknowledged messages are redelivered) as
    // soon as counting has begun, then publish the second half.
    let started = Instant::now();
    while totals(&viewer).await.0 <= 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing was counted from NATS; a.log:\n{}",
            std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut a = a;
    a.0.kill().unwrap();
    let _ = a.0.wait();
    let midway = totals(&viewer).await.0;
    for i in batches / 2..batches {
        publish(format!("b-{i}"), PER).await;
    }
    publish(format!("b-{}", batches - 1), PER).await;

    let expected_calls = (batches * PER) as i64;
    let expected_errors = (batches * PER.div_ceil(10)) as i64;
    let started = Instant::now();
    loop {
        let (calls, errors) = totals(&viewer).await;
        assert!(calls <= expected_calls, "counted twice: {calls} calls of {expected_calls}");
        if calls == expected_calls {
            assert_eq!(errors, expected_errors);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "counted {calls} of {expected_calls} calls (midway {midway}); b.log:\n{}",
            std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Past another ack wait: every redelivery has been seen, nothing more is counted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(totals(&viewer).await, (expected_calls, expected_errors));
    let mut info = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer::<jetstream::consumer::pull::Config>(&consumer)
        .await
        .unwrap();
    let info = info.info().await.unwrap();
    assert_eq!(info.num_pending, 0, "every message was delivered");
    assert_eq!(info.num_ack_pending, 0, "every message was acknowledged");
    let log = std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
    assert!(log.contains("Taking usage batches from NATS JetStream."), "{log}");
    drop((b, viewer));
    let _ = js.delete_stream(&stream).await;
}

crate::both!(two_instances_on_one_durable_consumer_count_every_batch_once_across_a_kill);
