//! Consumption: the usage intake (batches, idempotency, per-row rejection, attribution), the
//! rollups' percentiles, the views on a known data set with exact numbers, the governance
//! findings it feeds, product KPIs and platform targets (guest mode unless said otherwise).

use std::path::Path;
use std::time::{Duration, Instant};

use portolan::config::Settings;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_error, spawn_with, temp_dir, write_file};

const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: shop-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: data-team}
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
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: pay}
spec:
  owner: platform-team
  providesApis: [pay-api, ledger-api]
  offerings:
    - api: pay-api
      plans:
        - {name: free, approval: auto}
    - api: ledger-api
      plans:
        - {name: std, approval: auto}
  targets:
    - {metric: activeConsumers, target: 3, direction: increase}
    - {metric: monthlyCalls, target: 100, direction: increase}
    - {metric: errorRate, api: pay-api, target: 0.05, direction: decrease}
    - {metric: p95LatencyMs, api: pay-api, target: 100, direction: decrease}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: shop}
spec:
  owner: shop-team
  lifecycle: production
  parts: [shop-web, shop-app]
  kpis:
    - {name: conversion-rate, unit: percent, target: 3, direction: increase}
    - {name: checkout-seconds, unit: seconds, target: 90, direction: decrease}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-web}
spec: {type: website, lifecycle: production, owner: shop-team, consumesApis: [pay-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-app}
spec: {type: service, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: reports}
spec: {type: service, lifecycle: production, owner: data-team, consumesApis: [ledger-api]}
"#;

async fn spawn(db: Db) -> TestApp {
    spawn_tweaked(db, |_, _| {}).await
}

async fn spawn_tweaked(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let dir = temp_dir();
    let file = write_file(dir.path(), "catalog.yaml", CATALOG);
    let mut app = spawn_with(db, vec![file], tweak).await;
    app.keep.push(dir);
    app
}

/// An RFC 3339 time `secs` seconds from now.
fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl TestApp {
    async fn post_events(&self, body: &Value, key: Option<&str>) -> (u16, Value) {
        self.post_events_at("/api/usage/events", body, key).await
    }

    async fn post_events_at(&self, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn consumption(&self, query: &str) -> Value {
        let (status, body) = self.get_json(&format!("/api/portal/consumption?{query}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn accepted(body: &Value) -> i64 {
    body["accepted"].as_i64().unwrap_or(-1)
}

async fn a_batch_is_counted_once_and_bad_rows_are_rejected_alone(db: Db) {
    let app = spawn(db).await;
    let t = ago(60);
    let batch = json!([
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 10, "errors": 1, "latencyMs": 20},
        {"time": t, "api": "no-such-api", "consumer": "shop-web"},
        {"time": "yesterday", "api": "pay-api", "consumer": "shop-web"},
        {"time": t, "api": "pay-api"},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 2, "errors": 3},
        {"time": ago(8 * 86_400), "api": "pay-api", "consumer": "shop-web"},
        {"time": ago(-600), "api": "pay-api", "consumer": "shop-web"},
        {"time": t, "api": "api:default/pay-api", "consumer": "component:default/shop-web", "calls": 5, "status": 503},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "bogus": 1},
    ]);
    let (status, body) = app.post_events(&batch, Some("batch-1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(accepted(&body), 2, "{body}");
    assert_eq!(body["duplicate"], false);
    let rejected: Vec<i64> =
        body["rejected"].as_array().unwrap().iter().map(|r| r["index"].as_i64().unwrap()).collect();
    assert_eq!(rejected, vec![1, 2, 3, 4, 5, 6, 8], "{body}");
    let messages: Vec<&str> =
        body["rejected"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("no API api:default/no-such-api"), "{messages:?}");
    assert!(messages[1].starts_with("time:"), "{messages:?}");
    assert!(messages[2].contains("consumer, key or subscription"), "{messages:?}");
    assert!(messages[3].starts_with("errors:"), "{messages:?}");
    assert!(messages[4].contains("older than"), "{messages:?}");
    assert!(messages[5].contains("future"), "{messages:?}");
    assert!(messages[6].contains("bogus"), "{messages:?}");

    // The same batch again: counted once, the first answer again.
    let (status, again) = app.post_events(&batch, Some("batch-1")).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(accepted(&again), 2);
    assert_eq!(again["rejected"], body["rejected"]);
    // Without a key, no deduplication.
    let one = json!([{"time": t, "api": "pay-api", "consumer": "shop-web"}]);
    for _ in 0..2 {
        let (_, b) = app.post_events(&one, None).await;
        assert_eq!(accepted(&b), 1);
        assert_eq!(b["duplicate"], false);
    }
    let c = app.consumption("api=pay-api&bucket=hour").await;
    assert_eq!(c["totals"]["calls"], 17, "{c}");
    assert_eq!(c["totals"]["errors"], 6, "{c}");

    // NDJSON, with a bad line.
    let ndjson = format!(
        "{}\n\nnot json\n{}\n",
        json!({"time": t, "api": "ledger-api", "consumer": "reports", "calls": 4}),
        json!({"time": t, "api": "ledger-api", "consumer": "reports"})
    );
    let res = app
        .client
        .post(app.url("/api/usage/events"))
        .header("Content-Type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let b: Value = res.json().await.unwrap();
    assert_eq!(accepted(&b), 2, "{b}");
    assert_eq!(b["rejected"][0]["index"], 1, "{b}");

    // Backfill lets old events in (the guest is an admin); the future stays out.
    let old = json!([
        {"time": ago(30 * 86_400), "api": "ledger-api", "consumer": "reports", "calls": 7},
        {"time": ago(-3600), "api": "ledger-api", "consumer": "reports"},
    ]);
    let (_, b) = app.post_events_at("/api/usage/events?backfill=true", &old, None).await;
    assert_eq!(accepted(&b), 1, "{b}");
    assert_eq!(b["rejected"][0]["index"], 1, "{b}");
    let c = app.consumption(&format!("api=ledger-api&bucket=day&from={}", ago(40 * 86_400))).await;
    assert_eq!(c["totals"]["calls"], 12, "{c}");

    // Too many events, or a body that is not a list.
    let many: Vec<Value> = (0..10_001).map(|_| json!({"time": t, "api": "pay-api", "consumer": "shop-web"})).collect();
    let (status, body) = app.post_events(&json!(many), None).await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, 413, "PayloadTooLargeError", "payload_too_large");
    let (status, body) = app.post_events(&json!({"time": t}), None).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, 400, "InputError", "invalid_input");
}

async fn calls_are_attributed_by_key_prefix_subscription_and_consumer(db: Db) {
    let app = spawn(db).await;
    let (status, sub) = app
        .post_json("/api/portal/subscriptions", &json!({"api": "pay-api", "plan": "free", "consumer": "shop-app"}))
        .await;
    assert_eq!(status, 201, "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let (status, key) = app.post_json(&format!("/api/portal/subscriptions/{sub_id}/keys"), &json!({})).await;
    assert_eq!(status, 201, "{key}");
    let prefix = key["prefix"].as_str().unwrap().to_owned();
    let t = ago(30);
    let (_, b) = app
        .post_events(
            &json!([
                {"time": t, "api": "pay-api", "key": prefix, "calls": 3},
                {"time": t, "api": "pay-api", "key": key["key"], "calls": 1},
                {"time": t, "api": "pay-api", "subscription": sub_id, "calls": 5},
                {"time": t, "api": "pay-api", "consumer": "product:shop", "calls": 7},
                {"time": t, "api": "ledger-api", "key": prefix},
                {"time": t, "api": "pay-api", "key": "ptl_0000_nothing"},
                {"time": t, "api": "pay-api", "key": prefix, "consumer": "reports"},
            ]),
            None,
        )
        .await;
    assert_eq!(accepted(&b), 4, "{b}");
    let idx: Vec<i64> = b["rejected"].as_array().unwrap().iter().map(|r| r["index"].as_i64().unwrap()).collect();
    assert_eq!(idx, vec![4, 5, 6], "{b}");
    assert!(b["rejected"][0]["message"].as_str().unwrap().contains("not to api:default/ledger-api"), "{b}");
    let c = app.consumption("api=pay-api&bucket=hour").await;
    let top = c["top"].as_array().unwrap();
    assert_eq!(top.len(), 2, "{c}");
    assert_eq!(top[0]["consumer"], "component:default/shop-app");
    assert_eq!(top[0]["calls"], 9);
    assert_eq!(top[0]["product"], "product:default/shop");
    assert_eq!(top[0]["team"], "group:default/shop-team");
    assert_eq!(top[1]["consumer"], "product:default/shop");
    assert_eq!(top[1]["calls"], 7);

    // The gateway check feeds the same counters.
    for _ in 0..4 {
        let (status, ok) = app.post_json("/api/gateway/check", &json!({"key": key["key"], "api": "pay-api"})).await;
        assert_eq!(status, 200);
        assert_eq!(ok["allowed"], true, "{ok}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = app.consumption("api=pay-api&consumer=shop-app&bucket=hour").await;
        if c["totals"]["calls"] == 13 {
            break;
        }
        assert!(Instant::now() < deadline, "gateway calls never counted: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

crate::both!(
    a_batch_is_counted_once_and_bad_rows_are_rejected_alone,
    calls_are_attributed_by_key_prefix_subscription_and_consumer
);
