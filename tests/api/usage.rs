//! Consumption: the usage intake (batches, idempotency, per-row rejection, attribution), the
//! rollups' percentiles, the views on a known data set with exact numbers, the governance
//! findings it feeds, product KPIs and platform targets (guest mode unless said otherwise).

use std::path::Path;
use std::time::{Duration, Instant};

use portolan::settings::Settings;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_error, spawn_with_yaml, temp_dir};

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
    spawn_with_yaml(db, &[("catalog.yaml", CATALOG)], tweak).await
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

/// Today 00:00 UTC minus `days`, plus 12 hours, in ms.
fn noon(days: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    now - now.rem_euclid(86_400_000) - days * 86_400_000 + 43_200_000
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The Monday 00:00 UTC of the week of `ms`.
fn monday(ms: i64) -> i64 {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp_millis(ms).unwrap().date_naive();
    let m = d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64);
    m.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

fn within(value: &Value, exact: f64) {
    let v = value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((v - exact).abs() / exact <= 0.02, "{v} is not within 2% of {exact}");
}

/// The known data set: (api, consumer, day offset, calls, errors, latency ms).
const DATA: &[(&str, &str, i64, i64, i64, f64)] = &[
    ("pay-api", "shop-web", 1, 100, 2, 10.0),
    ("pay-api", "shop-web", 2, 50, 0, 30.0),
    ("pay-api", "reports", 1, 20, 10, 200.0),
    ("pay-api", "shop-app", 3, 30, 0, 20.0),
    ("ledger-api", "reports", 40, 5, 0, 50.0),
];

async fn load_data(app: &TestApp) {
    let events: Vec<Value> = DATA
        .iter()
        .map(|(api, consumer, day, calls, errors, ms)| {
            json!({"time": at(noon(*day)), "api": api, "consumer": consumer, "calls": calls, "errors": errors, "latencyMs": ms})
        })
        .collect();
    let (status, b) = app.post_events_at("/api/usage/events?backfill=true", &json!(events), Some("known")).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(accepted(&b), 5, "{b}");
}

async fn findings_of(app: &TestApp, rule: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/portal/findings?rule={rule}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// Polls until `check` holds, for at most `secs` seconds.
async fn eventually<F, Fut>(secs: f64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_view_gives_the_exact_numbers_of_a_known_data_set(db: Db) {
    let app = spawn(db).await;
    load_data(&app).await;

    // Consumption of one API, per day.
    let c = app.consumption(&format!("api=pay-api&bucket=day&from={}", at(noon(5)))).await;
    assert_eq!(c["totals"]["calls"], 200, "{c}");
    assert_eq!(c["totals"]["errors"], 12);
    assert_eq!(c["totals"]["errorRate"], 0.06);
    within(&c["totals"]["p50"], 10.0);
    within(&c["totals"]["p95"], 200.0);
    within(&c["totals"]["p99"], 200.0);
    let series = c["series"].as_array().unwrap();
    assert_eq!(series.len(), 6, "{c}");
    let calls: Vec<i64> = series.iter().map(|s| s["calls"].as_i64().unwrap()).collect();
    assert_eq!(calls, vec![0, 0, 30, 50, 120, 0]);
    assert_eq!(series[4]["errors"], 12);
    assert_eq!(series[2]["t"], at(noon(3) - 43_200_000).replace("Z", ".000Z"));
    assert!(series[0]["p50"].is_null());
    within(&series[3]["p50"], 30.0);
    let top = c["top"].as_array().unwrap();
    let row = |i: usize| {
        (top[i]["consumer"].as_str().unwrap(), top[i]["calls"].as_i64().unwrap(), top[i]["share"].as_f64().unwrap())
    };
    assert_eq!(top.len(), 3, "{c}");
    assert_eq!(row(0), ("component:default/shop-web", 150, 0.75));
    assert_eq!(row(1), ("component:default/shop-app", 30, 0.15));
    assert_eq!(row(2), ("component:default/reports", 20, 0.1));
    assert_eq!(top[0]["product"], "product:default/shop");
    assert_eq!(top[0]["team"], "group:default/shop-team");
    assert_eq!(top[0]["errors"], 2);
    assert_eq!(top[2]["product"], Value::Null);
    assert_eq!(top[2]["team"], "group:default/data-team");

    // Filters combine; names and full refs both work.
    let from = at(noon(45));
    let c = app.consumption(&format!("platform=pay&bucket=week&from={from}")).await;
    assert_eq!(c["totals"]["calls"], 205, "{c}");
    let c = app.consumption(&format!("team=shop-team&from={from}")).await;
    assert_eq!(c["totals"]["calls"], 180, "{c}");
    let c = app.consumption(&format!("team=group:default/data-team&api=api:default/ledger-api&from={from}")).await;
    assert_eq!(c["totals"]["calls"], 5, "{c}");
    let c = app.consumption(&format!("consumer=product:shop&from={from}")).await;
    assert_eq!(c["totals"]["calls"], 180, "{c}");
    assert_eq!(c["top"].as_array().unwrap().len(), 2);
    let (status, body) = app.get_json("/api/portal/consumption?bucket=fortnight").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("bucket:"), "{body}");
    let (status, _) = app.get_json("/api/portal/consumption?api=nope").await;
    assert_eq!(status, 404);

    // The series as CSV.
    let res = app.get(&format!("/api/portal/consumption?api=pay-api&bucket=day&from={}&format=csv", at(noon(5)))).await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0], "t,calls,errors,p50,p95,p99");
    assert!(lines[5].contains(",120,12,"), "{text}");

    // Adoption, against the weeks computed here.
    let (status, a) = app.get_json("/api/portal/adoption?platform=pay&weeks=12").await;
    assert_eq!(status, 200, "{a}");
    let weeks = a["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 12);
    let now = chrono::Utc::now().timestamp_millis();
    let first_week = monday(now) - 11 * 7 * 86_400_000;
    let active = |w: i64| -> std::collections::BTreeSet<&str> {
        DATA.iter().filter(|d| monday(noon(d.2)) == w).map(|d| d.1).collect()
    };
    let first_of = |c: &str| DATA.iter().filter(|d| d.1 == c).map(|d| monday(noon(d.2))).min().unwrap();
    for (i, w) in weeks.iter().enumerate() {
        let start = first_week + i as i64 * 7 * 86_400_000;
        assert_eq!(w["week"], at(start).replace("Z", ".000Z"));
        let (now_set, before) = (active(start), active(start - 7 * 86_400_000));
        assert_eq!(w["active"], now_set.len(), "week {i}: {a}");
        assert_eq!(w["new"], now_set.iter().filter(|c| first_of(c) == start).count(), "week {i}: {a}");
        assert_eq!(w["retained"], now_set.intersection(&before).count(), "week {i}: {a}");
        assert_eq!(w["churned"], before.difference(&now_set).count(), "week {i}: {a}");
    }
    // The descriptor-made subscriptions (shop-web on pay-api, reports on ledger-api) became
    // active at start, after these calls: approved, never called since.
    let never: Vec<(&str, &str)> = a["approvedNeverCalled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["consumer"].as_str().unwrap(), s["api"].as_str().unwrap()))
        .collect();
    assert_eq!(
        never,
        vec![
            ("component:default/reports", "api:default/ledger-api"),
            ("component:default/shop-web", "api:default/pay-api")
        ]
    );
    assert!(a["timeToFirstCall"].is_null(), "{a}");

    // Declared versus observed, resolved through membership (shop-app is part of shop, whose
    // shop-web declares pay-api).
    let (status, d) = app.get_json("/api/portal/declared-vs-observed").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["observedNotDeclared"],
        json!([{"consumer": "component:default/reports", "api": "api:default/pay-api", "calls": 20, "firstSeen": at(noon(1)).replace("Z", ".000Z")}])
    );
    assert_eq!(
        d["declaredNotObserved"],
        json!([{"consumer": "component:default/reports", "api": "api:default/ledger-api", "since": at(noon(40)).replace("Z", ".000Z")}])
    );
    let (_, d) = app.get_json("/api/portal/declared-vs-observed?api=ledger-api").await;
    assert_eq!(d["observedNotDeclared"], json!([]));
    assert_eq!(d["declaredNotObserved"].as_array().unwrap().len(), 1);

    // Platform targets, over the last 30 days.
    let (status, p) = app.get_json("/api/portal/platforms/default/pay").await;
    assert_eq!(status, 200, "{p}");
    let targets = p["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4, "{p}");
    assert_eq!(targets[0]["metric"], "activeConsumers");
    assert_eq!(targets[0]["current"], 3.0);
    assert_eq!(targets[0]["progress"], 1.0);
    assert_eq!(targets[0]["onTrack"], true);
    assert_eq!(targets[1]["metric"], "monthlyCalls");
    assert_eq!(targets[1]["current"], 200.0);
    assert_eq!(targets[1]["progress"], 2.0);
    assert_eq!(targets[1]["onTrack"], true);
    assert_eq!(targets[2]["metric"], "errorRate");
    assert_eq!(targets[2]["api"], "api:default/pay-api");
    assert_eq!(targets[2]["direction"], "decrease");
    assert_eq!(targets[2]["current"], 0.06);
    assert_eq!(targets[2]["progress"], 0.833);
    assert_eq!(targets[2]["onTrack"], false);
    assert_eq!(targets[3]["metric"], "p95LatencyMs");
    within(&targets[3]["current"], 200.0);
    assert_eq!(targets[3]["onTrack"], false);

    // A new subscription called a minute after approval: time to first call, and it is no
    // longer approved-but-never-called.
    let (status, sub) = app
        .post_json("/api/portal/subscriptions", &json!({"api": "pay-api", "plan": "free", "consumer": "product:shop"}))
        .await;
    assert_eq!(status, 201, "{sub}");
    let (_, b) = app.post_events(&json!([{"time": ago(0), "api": "pay-api", "subscription": sub["id"]}]), None).await;
    assert_eq!(accepted(&b), 1, "{b}");
    let (_, a) = app.get_json("/api/portal/adoption?api=pay-api").await;
    let ttfc = a["timeToFirstCall"].as_f64().unwrap_or_else(|| panic!("{a}"));
    assert!((0.0..=0.02).contains(&ttfc), "{a}");
    assert_eq!(a["approvedNeverCalled"].as_array().unwrap().len(), 1, "{a}");
}

async fn the_two_findings_appear_and_clear(db: Db) {
    let app = spawn(db).await;
    load_data(&app).await;
    let posted = Instant::now();
    eventually(2.0, "undeclared-consumption", || async {
        !findings_of(&app, "undeclared-consumption").await.is_empty()
    })
    .await;
    let _ = posted;
    let found = findings_of(&app, "undeclared-consumption").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["entityRef"], "component:default/reports");
    assert_eq!(found[0]["severity"], "warning");
    assert!(
        found[0]["message"].as_str().unwrap().contains("add api:default/pay-api to spec.consumesApis"),
        "{found:?}"
    );
    assert_eq!(found[0]["details"]["calls"], 20);
    eventually(2.0, "unused-declared-dependency", || async {
        !findings_of(&app, "unused-declared-dependency").await.is_empty()
    })
    .await;
    let unused = findings_of(&app, "unused-declared-dependency").await;
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_eq!(unused[0]["entityRef"], "component:default/reports");
    assert_eq!(unused[0]["severity"], "info");
    assert_eq!(unused[0]["details"]["api"], "api:default/ledger-api");
    // Served with the entity too.
    let (_, e) = app.entity("component", "default", "reports").await;
    let items = e["status"]["items"].as_array().cloned().unwrap_or_default();
    assert!(items.iter().any(|i| i["error"]["name"] == "undeclared-consumption"), "{e}");

    // Calling ledger-api again clears the unused one; declaring pay-api clears the other.
    let (_, b) = app.post_events(&json!([{"time": ago(0), "api": "ledger-api", "consumer": "reports"}]), None).await;
    assert_eq!(accepted(&b), 1);
    eventually(2.0, "unused-declared-dependency to clear", || async {
        findings_of(&app, "unused-declared-dependency").await.is_empty()
    })
    .await;
    let file = app.keep[0].path().join("catalog.yaml");
    let text = CATALOG.replace(
        "owner: data-team, consumesApis: [ledger-api]",
        "owner: data-team, consumesApis: [ledger-api, pay-api]",
    );
    std::fs::write(&file, text).unwrap();
    let (status, body) =
        app.post_json("/api/catalog/refresh", &json!({"entityRef": "component:default/reports"})).await;
    assert_eq!(status, 200, "{body}");
    eventually(2.0, "undeclared-consumption to clear", || async {
        findings_of(&app, "undeclared-consumption").await.is_empty()
    })
    .await;
}

async fn percentiles_after_rollup_stay_within_two_percent_of_exact(db: Db) {
    let app = spawn(db).await;
    // Log-uniform latencies from 1 ms to 5 s, deterministic, over three days and many hours.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut raw: Vec<f64> = Vec::new();
    let mut events = Vec::new();
    for i in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x % 1_000_000) as f64 / 1_000_000.0;
        let ms = (u * (5000f64).ln()).exp();
        let ms = (ms * 1000.0).round() / 1000.0;
        raw.push(ms);
        let t = noon(1 + (i % 3)) + (i % 20) * 1_800_000 - 36_000_000;
        events.push(json!({"time": at(t), "api": "pay-api", "consumer": "shop-web", "latencyMs": ms}));
    }
    for chunk in events.chunks(700) {
        let (_, b) = app.post_events_at("/api/usage/events?backfill=true", &json!(chunk), None).await;
        assert_eq!(accepted(&b), chunk.len() as i64, "{b}");
    }
    raw.sort_by(f64::total_cmp);
    let exact = |q: f64| raw[((q * raw.len() as f64).ceil() as usize).clamp(1, raw.len()) - 1];
    for bucket in ["hour", "day", "week"] {
        let c = app.consumption(&format!("api=pay-api&bucket={bucket}&from={}", at(noon(6)))).await;
        assert_eq!(c["totals"]["calls"], 3000, "{bucket}: {c}");
        within(&c["totals"]["p50"], exact(0.5));
        within(&c["totals"]["p95"], exact(0.95));
        within(&c["totals"]["p99"], exact(0.99));
    }
}

async fn product_kpis_are_recorded_and_shown(db: Db) {
    let app = spawn(db).await;
    let values = json!([
        {"kpi": "conversion-rate", "time": at(noon(2)), "value": 2.5},
        {"kpi": "conversion-rate", "time": at(noon(1)), "value": 3.2},
        {"kpi": "checkout-seconds", "time": at(noon(1)), "value": 95},
        {"kpi": "nope", "time": at(noon(1)), "value": 1},
        {"kpi": "conversion-rate", "time": "soon", "value": 1},
    ]);
    let (status, b) = app.post_json("/api/portal/products/default/shop/kpis", &values).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["accepted"], 3, "{b}");
    let idx: Vec<i64> = b["rejected"].as_array().unwrap().iter().map(|r| r["index"].as_i64().unwrap()).collect();
    assert_eq!(idx, vec![3, 4]);
    assert!(b["rejected"][0]["message"].as_str().unwrap().contains("no KPI named \"nope\""), "{b}");
    let (status, _) = app.post_json("/api/portal/products/default/ghost/kpis", &values).await;
    assert_eq!(status, 404);

    let (status, p) = app.get_json("/api/portal/products/default/shop").await;
    assert_eq!(status, 200, "{p}");
    let kpis = p["kpis"].as_array().unwrap();
    assert_eq!(kpis.len(), 2);
    assert_eq!(kpis[0]["name"], "conversion-rate");
    assert_eq!(kpis[0]["unit"], "percent");
    assert_eq!(kpis[0]["current"], 3.2);
    assert_eq!(kpis[0]["previous"], 2.5);
    assert_eq!(kpis[0]["onTrack"], true);
    assert_eq!(kpis[0]["series"].as_array().unwrap().len(), 2);
    assert_eq!(kpis[1]["name"], "checkout-seconds");
    assert_eq!(kpis[1]["direction"], "decrease");
    assert_eq!(kpis[1]["current"], 95.0);
    assert_eq!(kpis[1]["previous"], Value::Null);
    assert_eq!(kpis[1]["onTrack"], false);
    let check = p["scorecard"]["checks"].as_array().unwrap().iter().find(|c| c["id"] == "kpis-reported").cloned();
    assert_eq!(check.unwrap()["passed"], true, "{p}");

    // /metrics counts calls and errors per API.
    let (_, b) = app
        .post_events(
            &json!([{"time": ago(0), "api": "pay-api", "consumer": "shop-web", "calls": 3, "errors": 1}]),
            None,
        )
        .await;
    assert_eq!(accepted(&b), 1);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("portolan_usage_calls_total{api=\"api:default/pay-api\"}"), "{text}");
    assert!(text.contains("portolan_usage_errors_total{api=\"api:default/pay-api\"}"), "{text}");
}

crate::both!(
    a_batch_is_counted_once_and_bad_rows_are_rejected_alone,
    calls_are_attributed_by_key_prefix_subscription_and_consumer,
    every_view_gives_the_exact_numbers_of_a_known_data_set,
    the_two_findings_appear_and_clear,
    percentiles_after_rollup_stay_within_two_percent_of_exact,
    product_kpis_are_recorded_and_shown,
    demo_traffic_fills_every_view_of_the_readme,
    serve_with_demo_traffic_fills_the_views,
);

/// After `portolan demo-traffic`, every view docs/usage.md shows (and the README's tour visits)
/// returns data.
async fn demo_traffic_fills_every_view_of_the_readme(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let (code, out, err) = crate::helpers::portolan(&["demo-traffic", "--days", "90", "--url", &app.address]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("0 rejected"), "{out}");
    let platform = out.lines().find_map(|l| l.strip_prefix("  growing platform:")).unwrap().trim().to_owned();
    let (_, name) = platform.split_once('/').unwrap();
    let c = app.consumption(&format!("platform={name}&bucket=week&from={}", ago(90 * 86_400))).await;
    assert!(c["totals"]["calls"].as_i64().unwrap() > 0, "{c}");
    assert!(c["totals"]["p95"].is_number(), "{c}");
    assert!(!c["top"].as_array().unwrap().is_empty(), "{c}");
    let weekly: Vec<i64> = c["series"].as_array().unwrap().iter().map(|s| s["calls"].as_i64().unwrap()).collect();
    assert!(weekly[weekly.len() - 2] > weekly[1], "the platform grows: {weekly:?}");
    let (_, a) = app.get_json(&format!("/api/portal/adoption?platform={name}&weeks=12")).await;
    assert!(a["weeks"].as_array().unwrap().iter().any(|w| w["active"].as_i64().unwrap() > 0), "{a}");
    let (_, all) = app.get_json("/api/portal/adoption?weeks=12").await;
    assert!(all["weeks"].as_array().unwrap().iter().any(|w| w["churned"].as_i64().unwrap() > 0), "{all}");
    assert!(!all["approvedNeverCalled"].as_array().unwrap().is_empty(), "{all}");
    assert!(all["timeToFirstCall"].is_number(), "the new consumer's first call after subscribing: {all}");
    let (_, d) = app.get_json("/api/portal/declared-vs-observed").await;
    assert!(!d["observedNotDeclared"].as_array().unwrap().is_empty(), "{d}");
    assert!(!d["declaredNotObserved"].as_array().unwrap().is_empty(), "the churned consumer's silence: {d}");
    eventually(5.0, "undeclared-consumption", || async {
        !findings_of(&app, "undeclared-consumption").await.is_empty()
    })
    .await;
    let (_, p) = app.get_json(&format!("/api/portal/platforms/{}", platform.split_once(':').unwrap().1)).await;
    let targets = p["targets"].as_array().unwrap();
    assert!(!targets.is_empty() && targets.iter().any(|t| t["current"].is_number()), "{p}");
    let (_, products) = app.get_json("/api/portal/products").await;
    for item in products["items"].as_array().unwrap() {
        let r = item["entityRef"].as_str().unwrap();
        let (_, path) = r.split_once(':').unwrap();
        let (_, prod) = app.get_json(&format!("/api/portal/products/{path}")).await;
        for k in prod["kpis"].as_array().unwrap() {
            assert!(k["current"].is_number(), "{r}: {k}");
            assert_eq!(k["series"].as_array().unwrap().len(), 90, "{r}: {k}");
        }
    }
    let res = app.get(&format!("/api/portal/consumption?platform={name}&format=csv")).await;
    assert!(res.text().await.unwrap().lines().count() > 1);
}

/// `serve --demo-traffic` writes the demo's usage through its own intake after start-up.
async fn serve_with_demo_traffic_fills_the_views(db: Db) {
    let dir = temp_dir();
    let url = crate::helpers::fresh_database(db, dir.path());
    let catalog = crate::helpers::demo_catalog();
    let (mut child, base) = crate::helpers::serve_child(&url, dir.path(), &catalog, &["--demo-traffic"]);
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(120), "no demo usage after two minutes");
        let res = client.get(format!("{base}/api/portal/adoption?weeks=12")).send().await;
        if let Ok(res) = res
            && let Ok(a) = res.json::<Value>().await
            && a["timeToFirstCall"].is_number()
            && a["weeks"].as_array().is_some_and(|w| w.iter().any(|w| w["active"].as_i64() > Some(0)))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.start_kill();
}
