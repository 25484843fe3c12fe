//! Append, answer, fold: an acknowledged batch shows in the views before it is folded, and a
//! process killed (`kill -9`) after the folder merged a partition's records into the rollups
//! but before it marked them folded counts the batch exactly once when another instance folds
//! again. The crash point is real: `PORTOLAN_USAGE_FOLD_PAUSE_MS` makes the folder stop there
//! and say so in its log, and the test kills it then.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::usage_nats::Server;

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
kind: API
metadata: {name: ledger-api}
spec: {type: grpc, lifecycle: production, owner: platform-team, definition: "syntax = \"proto3\";"}
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

/// 400 events over the last two hours: pay-api and ledger-api, two consumers, every tenth an error.
fn events() -> Vec<Value> {
    let now = chrono::Utc::now();
    (0..400)
        .map(|i| {
            let t = now - chrono::Duration::seconds(90 + (i as i64 % 100) * 60);
            json!({
                "time": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "api": if i % 4 == 0 { "ledger-api" } else { "pay-api" },
                "consumer": if i % 3 == 0 { "reports" } else { "shop-web" },
                "calls": 1 + i % 5,
                "errors": i64::from(i % 10 == 0),
                "latencyMs": 5 + i % 40,
            })
        })
        .collect()
}

/// The totals over the last day of every API, read at each bucket (minute: the last two hours).
async fn totals(base: &str) -> Vec<(i64, i64)> {
    let client = reqwest::Client::new();
    let from = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for bucket in ["minute", "hour", "day", "week"] {
        let body: Value = client
            .get(format!("{base}/api/portal/consumption?api=pay-api&bucket={bucket}&from={}", from.replace('+', "%2B")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push((body["totals"]["calls"].as_i64().unwrap_or(-1), body["totals"]["errors"].as_i64().unwrap_or(-1)));
    }
    out
}

async fn unfolded(base: &str) -> i64 {
    let body: Value = reqwest::get(format!("{base}/api/usage/status")).await.unwrap().json().await.unwrap();
    body["unfolded"]["records"].as_i64().expect("unfolded.records")
}

async fn a_crash_between_folding_and_marking_counts_the_batch_once(db: Db) {
    let dir = temp_dir();
    let url = fresh_database(db, dir.path());
    let catalog = write_file(dir.path(), "catalog.yaml", CATALOG);
    let log = dir.path().join("a.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data-a");
    let child = Command::new(env!("CARGO_BIN_EXE_portolan"))
        .arg("serve")
        .args(["--bind", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .args(["--data-dir", data.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("PORTOLAN_USAGE_FOLD_PAUSE_MS", "600000")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start portolan");
    let mut a = Server(child);
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(60), "the instance never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let events = events();
    let expected_calls: i64 =
        events.iter().filter(|e| e["api"] == "pay-api").map(|e| e["calls"].as_i64().unwrap()).sum();
    let expected_errors: i64 =
        events.iter().filter(|e| e["api"] == "pay-api").map(|e| e["errors"].as_i64().unwrap()).sum();
    let expected = vec![(expected_calls, expected_errors); 4];
    let post = |base: String, body: Value| {
        let client = client.clone();
        async move {
            let res = client
                .post(format!("{base}/api/usage/events"))
                .header("Idempotency-Key", "crash-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let answer = post(base.clone(), Value::Array(events.clone())).await;
    assert_eq!(answer["accepted"], 400, "{answer}");
    assert_eq!(answer["duplicate"], false);
    // Answered: the views show it at once, at every level, folded or not.
    assert_eq!(totals(&base).await, expected);

    // The folder has merged a partition's records into the rollups and stopped before deleting
    // them (its transaction is open).
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Paused between folding usage records and marking them folded.") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the folder never reached its pause; a.log:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Mid-fold, a view still counts the batch once.
    assert_eq!(totals(&base).await, expected, "a view during the fold");
    assert!(unfolded(&base).await > 0, "the records are not marked folded yet");
    a.0.kill().unwrap();
    let _ = a.0.wait();

    // Another instance folds everything again: counted once, the records gone.
    let b = spawn_on(url, temp_dir(), vec![catalog], |_, _| {}).await;
    let started = Instant::now();
    while unfolded(&b.address).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the second instance never folded the records");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(totals(&b.address).await, expected, "after the fold");
    // The same batch again: a duplicate, nothing more counted.
    let again = post(b.address.clone(), Value::Array(events.clone())).await;
    let sent = events;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["accepted"], 400);
    assert_eq!(totals(&b.address).await, expected, "after the retry");
    // The pairs were folded once too: both consumers observed on pay-api.
    let (status, seen) = b.get_json("/api/portal/declared-vs-observed?api=pay-api").await;
    assert_eq!(status, 200, "{seen}");
    let reports: i64 = sent
        .iter()
        .filter(|e| e["api"] == "pay-api" && e["consumer"] == "reports")
        .map(|e| e["calls"].as_i64().unwrap())
        .sum();
    let undeclared = seen["observedNotDeclared"].as_array().unwrap();
    assert_eq!(undeclared.len(), 1, "{seen}");
    assert_eq!(undeclared[0]["consumer"], "component:default/reports", "{seen}");
    assert_eq!(undeclared[0]["calls"], reports, "{seen}");
}

crate::both!(a_crash_between_folding_and_marking_counts_the_batch_once);
