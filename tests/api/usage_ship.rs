//! `portolan usage ship` end to end: real nginx (the gateway example of docs/offerings.md plus the
//! usage `log_format` of docs/usage.md) asks portolan through `auth_request`, writes its access log, and the
//! shipped log is what the consumption view counts; a re-run counts nothing twice, bad lines
//! are reported by number, and `--follow` carries on across a rotation.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::offerings as fixture;
use crate::gateway_nginx::{free_port, nginx_binary, nginx_example, post, start_nginx, upstream};
use crate::helpers::{Db, TestApp, portolan, spawn_with, temp_dir};

/// The ```nginx block of docs/usage.md with the usage `log_format`.
fn usage_log_block() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/usage.md")).unwrap();
    let at = doc.find("log_format portolan_usage").expect("docs/usage.md has the usage log_format");
    let start = doc[..at].rfind("```nginx\n").unwrap() + "```nginx\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

async fn calls(app: &TestApp) -> Value {
    let (status, body) = app.get_json("/api/portal/consumption?api=pay-api&bucket=hour").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn wait_for_calls(app: &TestApp, n: i64, what: &str, log: &Path) {
    let started = Instant::now();
    loop {
        let c = calls(app).await;
        if c["totals"]["calls"] == n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: {c}\nlog:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_nginx_access_log_is_shipped_and_counted_once(db: Db) {
    let Some(bin) = nginx_binary() else { return };
    let f = fixture();
    // The gateway check would count the same calls again: the log is the one source here.
    let app = spawn_with(db, f.files.clone(), |s, _| s.usage.gateway_counts = false).await;
    let token = post(&app, "/api/auth/tokens", json!({"name": "nginx", "scopes": ["gateway:check"]})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub =
        post(&app, "/api/portal/subscriptions", json!({"api": "pay-api", "plan": "spare", "consumer": "shop-app"}))
            .await;
    let key = post(&app, &format!("/api/portal/subscriptions/{}/keys", sub["id"].as_str().unwrap()), json!({})).await;
    let key = key["key"].as_str().unwrap().to_owned();

    let (up_port, up) = upstream().await;
    let nginx_port = free_port();
    let dir = temp_dir();
    let log = dir.path().join("usage.log");
    let block = nginx_example()
        .replace("127.0.0.1:7007", app.address.trim_start_matches("http://"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{up_port}"))
        .replace("listen 8000;", &format!("listen 127.0.0.1:{nginx_port};"))
        .replace("api=availability-api", "api=pay-api")
        .replace("ptk_REPLACE_WITH_THE_GATEWAY_TOKEN", &token)
        .replace(
            "location /availability/ {\n",
            &format!(
                "location /availability/ {{\n        set $portolan_api pay-api;\n        access_log {} portolan_usage;\n",
                log.display()
            ),
        );
    let config = format!("{}\n{block}", usage_log_block());
    let nginx = start_nginx(&bin, dir.path(), &config, nginx_port).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{nginx_port}/availability/stock/sku-1");
    let call = |k: Option<&str>| {
        let mut req = client.get(&url);
        if let Some(k) = k {
            req = req.header("X-Api-Key", k);
        }
        req.send()
    };
    for _ in 0..5 {
        assert_eq!(call(Some(&key)).await.unwrap().status().as_u16(), 200);
    }
    for _ in 0..2 {
        assert_eq!(call(None).await.unwrap().status().as_u16(), 401);
    }
    assert_eq!(call(Some("ptl_000000000000_not-a-key")).await.unwrap().status().as_u16(), 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(!text.contains(&key), "the secret part of a key is never in the log: {text}");
    // A line that is not nginx's: reported with its number, not fatal.
    std::fs::write(&log, format!("{text}GET /oops 200\n")).unwrap();
    assert_eq!(calls(&app).await["totals"]["calls"], 0, "nothing counted before the log is shipped");

    let path = log.to_str().unwrap();
    let (code, out, err) = portolan(&["usage", "ship", "--format", "nginx-json", path, "--url", &app.address]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Shipped 9 lines in 1 batches: 5 events accepted, 1 rejected, 1 bad lines, 2 without a caller"),
        "{out}"
    );
    assert!(err.contains(&format!("{path}:8: rejected: key: no API key with the prefix 000000000000")), "{err}");
    assert!(err.contains(&format!("{path}:9: not an nginx JSON log line")), "{err}");
    let c = calls(&app).await;
    assert_eq!(c["totals"]["calls"], 5, "{c}");
    assert_eq!(c["totals"]["errors"], 0, "{c}");
    assert_eq!(c["top"][0]["consumer"], "component:default/shop-app", "{c}");
    assert!(c["totals"]["p50"].as_f64().is_some(), "latency came from $request_time: {c}");

    // Again: the same batch, counted once.
    let (code, out, _) = portolan(&["usage", "ship", path, "--url", &app.address]);
    assert_eq!(code, 0);
    assert!(out.contains("0 events accepted") && out.contains("1 batches already counted"), "{out}");
    assert_eq!(calls(&app).await["totals"]["calls"], 5);

    // --follow: new lines are shipped as they come, also after a rotation.
    let follow_log = dir.path().join("follow.log");
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["usage", "ship", "--follow", path, "--url", &app.address])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&follow_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // It starts by reading the file from its start again: the batch already counted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(calls(&app).await["totals"]["calls"], 5);
    for _ in 0..2 {
        assert_eq!(call(Some(&key)).await.unwrap().status().as_u16(), 200);
    }
    wait_for_calls(&app, 7, "two calls more, followed", &follow_log).await;
    std::fs::rename(&log, dir.path().join("usage.log.1")).unwrap();
    let pid = nginx.0.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-USR1", &pid]).status().unwrap().success());
    let started = Instant::now();
    while !log.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "nginx reopened its log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(call(Some(&key)).await.unwrap().status().as_u16(), 200);
    }
    wait_for_calls(&app, 10, "three calls more, in the rotated-to file", &follow_log).await;
    let _ = follower.start_kill();
    up.stop(false).await;
    drop((nginx, f));
}

crate::both!(an_nginx_access_log_is_shipped_and_counted_once);
