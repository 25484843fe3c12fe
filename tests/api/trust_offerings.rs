//! Issue 24 ("Trust"), the offerings and usage items: scopes mean what the README says (a
//! `catalog:write` token may not act on subscriptions or keys; `offerings:write` may), a quota
//! is not reset by subscribing again (and a team may share one), and usage cannot be skewed
//! (idempotency keys per caller and per body, latency buckets that add up, consumer kinds).

use std::path::Path;
use std::time::Duration;

use portolan::config::{AuthSettings, ConfigServiceToken, Secret, TokenSettings};
use portolan::settings::Settings;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_error, spawn_on, spawn_with, temp_dir, write_file};

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
kind: User
metadata: {name: alice}
spec: {memberOf: [shop-team]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: pay-api}
spec: {type: openapi, lifecycle: production, owner: platform-team, definition: "openapi: 3.0.0"}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: pay}
spec:
  owner: platform-team
  providesApis: [pay-api]
  offerings:
    - api: pay-api
      plans:
        - {name: tiny, approval: auto, quota: {requests: 3, period: day}}
        - {name: pooled, approval: auto, quota: {requests: 4, period: day}, quotaScope: team}
        - {name: gold, approval: manual}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-web}
spec: {type: website, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-app}
spec: {type: service, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-cli}
spec: {type: service, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: reports}
spec: {type: service, lifecycle: production, owner: data-team}
"#;

const ADMIN: &str = "ptk_trust-admin-token-0123456789abcdef";
const CATALOG_WRITER: &str = "ptk_trust-catalog-token-0123456789abcd";
const OFFERINGS_WRITER: &str = "ptk_trust-offerings-token-0123456789ab";
const USAGE_A: &str = "ptk_trust-usage-a-token-0123456789abcd";
const USAGE_B: &str = "ptk_trust-usage-b-token-0123456789abcd";

/// Auth on (no guest, no anonymous reads) with one config token per scope under test.
fn secured(s: &mut Settings, _: &Path) {
    let token = |name: &str, value: &str, scope: &str| ConfigServiceToken {
        name: name.into(),
        token: Secret::new(value),
        scopes: vec![scope.into()],
        expires_at: None,
    };
    s.auth = Some(AuthSettings {
        guest: Some(false),
        anonymous_read: Some(false),
        tokens: TokenSettings {
            signing_keys: vec![Secret::new("trust-signing-key-0f3a9c2e7b1d4a5f")],
            service: vec![
                token("admin", ADMIN, "admin"),
                token("ci", CATALOG_WRITER, "catalog:write"),
                token("offers", OFFERINGS_WRITER, "offerings:write"),
                token("usage-a", USAGE_A, "usage:write"),
                token("usage-b", USAGE_B, "usage:write"),
            ],
            ..TokenSettings::default()
        },
        ..AuthSettings::default()
    });
}

async fn spawn(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let dir = temp_dir();
    let file = write_file(dir.path(), "catalog.yaml", CATALOG);
    let mut app = spawn_with(db, vec![file], tweak).await;
    app.keep.push(dir);
    app
}

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Subscribes (as `token`, or the guest) and returns the subscription's id.
async fn subscribe(app: &TestApp, token: Option<&str>, plan: &str, consumer: &str) -> String {
    let body = json!({"api": "pay-api", "plan": plan, "consumer": consumer});
    let (status, s) = call(app, "POST", "/api/portal/subscriptions", token, Some(&body)).await;
    assert_eq!(status, 201, "{s}");
    s["id"].as_str().unwrap().to_owned()
}

/// Issues a key (as `token`, or the guest): `(key id, key)`.
async fn new_key(app: &TestApp, token: Option<&str>, sub: &str) -> (String, String) {
    let (status, k) =
        call(app, "POST", &format!("/api/portal/subscriptions/{sub}/keys"), token, Some(&json!({}))).await;
    assert_eq!(status, 201, "{k}");
    (k["id"].as_str().unwrap().to_owned(), k["key"].as_str().unwrap().to_owned())
}

async fn check(app: &TestApp, key: &str) -> Value {
    let (status, c) = call(app, "POST", "/api/gateway/check", None, Some(&json!({"key": key, "api": "pay-api"}))).await;
    assert_eq!(status, 200, "{c}");
    c
}

fn lacks_offerings_write(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_error(body, 403, "NotAllowedError", "forbidden");
    assert_eq!(body["error"]["message"], "This token lacks the offerings:write scope.", "{what}: {body}");
}

/// A `catalog:write` token acts on locations and entities only: every subscription and key
/// action answers 403 naming the `offerings:write` scope, and changes nothing; a token with
/// `offerings:write` may take them.
async fn a_catalog_write_token_may_not_act_on_subscriptions_or_keys(db: Db) {
    let app = spawn(db, secured).await;
    let pending = subscribe(&app, Some(ADMIN), "gold", "shop-web").await;
    let active = subscribe(&app, Some(ADMIN), "tiny", "shop-app").await;
    let (key_id, _) = new_key(&app, Some(ADMIN), &active).await;

    let ci = Some(CATALOG_WRITER);
    let body = json!({"api": "pay-api", "plan": "tiny", "consumer": "shop-cli"});
    let (status, out) = call(&app, "POST", "/api/portal/subscriptions", ci, Some(&body)).await;
    lacks_offerings_write(status, &out, "subscribe");
    for (id, action) in [(&pending, "approve"), (&pending, "reject"), (&active, "pause"), (&active, "close")] {
        let path = format!("/api/portal/subscriptions/{id}/{action}");
        let (status, out) = call(&app, "POST", &path, ci, Some(&json!({}))).await;
        lacks_offerings_write(status, &out, action);
    }
    let (status, out) = call(&app, "POST", &format!("/api/portal/subscriptions/{active}/keys"), ci, None).await;
    lacks_offerings_write(status, &out, "issue a key");
    let (status, out) = call(&app, "GET", &format!("/api/portal/subscriptions/{active}/keys"), ci, None).await;
    lacks_offerings_write(status, &out, "list keys");
    let (status, out) = call(&app, "POST", &format!("/api/portal/keys/{key_id}/rotate"), ci, None).await;
    lacks_offerings_write(status, &out, "rotate a key");
    let (status, out) = call(&app, "DELETE", &format!("/api/portal/keys/{key_id}"), ci, None).await;
    lacks_offerings_write(status, &out, "revoke a key");
    // The web UI's approval form: the same rule.
    let res = app
        .client
        .post(app.url(&format!("/approvals/{pending}")))
        .bearer_auth(CATALOG_WRITER)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=approve")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "the approval form");
    // Nothing changed.
    let (_, s) = call(&app, "GET", &format!("/api/portal/subscriptions/{pending}"), ci, None).await;
    assert_eq!(s["status"], "pending", "{s}");
    let (_, s) = call(&app, "GET", &format!("/api/portal/subscriptions/{active}"), ci, None).await;
    assert_eq!(s["status"], "active", "{s}");
    // The token may still do what catalog:write is for.
    let (status, out) =
        call(&app, "POST", "/api/catalog/refresh", ci, Some(&json!({"entityRef": "component:shop-web"}))).await;
    assert_eq!(status, 200, "{out}");

    // offerings:write takes every one of them.
    let offers = Some(OFFERINGS_WRITER);
    let (status, out) = call(&app, "POST", &format!("/api/portal/subscriptions/{pending}/approve"), offers, None).await;
    assert_eq!((status, out["status"].as_str()), (200, Some("active")), "{out}");
    let (status, out) = call(&app, "POST", "/api/portal/subscriptions", offers, Some(&body)).await;
    assert_eq!(status, 201, "{out}");
    let (new_id, _) = new_key(&app, offers, &pending).await;
    let (status, out) = call(&app, "GET", &format!("/api/portal/subscriptions/{pending}/keys"), offers, None).await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = call(&app, "POST", &format!("/api/portal/keys/{new_id}/rotate"), offers, None).await;
    assert_eq!(status, 201, "{out}");
    let (status, out) = call(&app, "DELETE", &format!("/api/portal/keys/{key_id}"), offers, None).await;
    assert_eq!(status, 204, "{out}");
    let (status, out) = call(&app, "POST", &format!("/api/portal/subscriptions/{active}/close"), offers, None).await;
    assert_eq!((status, out["status"].as_str()), (200, Some("closed")), "{out}");
    // ...and nothing of the catalog.
    let (status, _) =
        call(&app, "POST", "/api/catalog/refresh", offers, Some(&json!({"entityRef": "component:shop-web"}))).await;
    assert_eq!(status, 403);
    // A token may be given the new scope.
    let (status, out) = call(
        &app,
        "POST",
        "/api/auth/tokens",
        Some(ADMIN),
        Some(&json!({"name": "portal-bot", "scopes": ["offerings:write"]})),
    )
    .await;
    assert_eq!(status, 201, "{out}");
}

/// Close and subscribe again: the quota window continues (on this instance, and on another
/// that reads the shared counter); exceeding it still answers `quota_exceeded`.
async fn closing_and_subscribing_again_keeps_the_used_quota(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let first = subscribe(&app, None, "tiny", "shop-cli").await;
    let (_, k1) = new_key(&app, None, &first).await;
    for left in [2, 1] {
        let c = check(&app, &k1).await;
        assert_eq!((c["reason"].as_str(), c["quota"]["remaining"].as_i64()), (Some("ok"), Some(left)), "{c}");
    }
    let (status, out) = call(&app, "POST", &format!("/api/portal/subscriptions/{first}/close"), None, None).await;
    assert_eq!(status, 200, "{out}");
    let second = subscribe(&app, None, "tiny", "shop-cli").await;
    assert_ne!(first, second);
    let (_, k2) = new_key(&app, None, &second).await;
    let c = check(&app, &k2).await;
    assert_eq!(
        (c["reason"].as_str(), c["quota"]["remaining"].as_i64()),
        (Some("ok"), Some(0)),
        "the window goes on: {c}"
    );
    let c = check(&app, &k2).await;
    assert_eq!((c["allowed"].as_bool(), c["reason"].as_str()), (Some(false), Some("quota_exceeded")), "{c}");
    assert_eq!(c["quota"]["remaining"], 0, "{c}");

    // Another instance reads the shared counter: closing and subscribing there does not reset it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let files = vec![app.keep[0].path().join("catalog.yaml")];
    let other = spawn_on(app.database_url.clone(), temp_dir(), files, |_, _| {}).await;
    let (status, _) = call(&other, "POST", &format!("/api/portal/subscriptions/{second}/close"), None, None).await;
    assert_eq!(status, 200);
    let third = subscribe(&other, None, "tiny", "shop-cli").await;
    let (_, k3) = new_key(&other, None, &third).await;
    let c = check(&other, &k3).await;
    assert_eq!((c["reason"].as_str(), c["quota"]["remaining"].as_i64()), (Some("quota_exceeded"), Some(0)), "{c}");
    // Another consumer has a quota of its own.
    let web = subscribe(&app, None, "tiny", "shop-web").await;
    let (_, kw) = new_key(&app, None, &web).await;
    let c = check(&app, &kw).await;
    assert_eq!((c["reason"].as_str(), c["quota"]["remaining"].as_i64()), (Some("ok"), Some(2)), "{c}");
}

/// A plan with `quotaScope: team` gives one quota to all the consumers a team owns.
async fn a_team_scoped_quota_is_shared_by_the_teams_consumers(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let (status, o) = call(&app, "GET", "/api/portal/offerings/default/pay-api", None, None).await;
    assert_eq!(status, 200, "{o}");
    let plans = o["plans"].as_array().unwrap();
    let scope = |name: &str| plans.iter().find(|p| p["name"] == name).map(|p| p["quotaScope"].clone());
    assert_eq!(scope("pooled"), Some(json!("team")), "{o}");
    assert_eq!(scope("tiny"), Some(json!("consumer")), "{o}");

    let web = subscribe(&app, None, "pooled", "shop-web").await;
    let app_sub = subscribe(&app, None, "pooled", "shop-app").await;
    let reports = subscribe(&app, None, "pooled", "reports").await;
    let (_, kw) = new_key(&app, None, &web).await;
    let (_, ka) = new_key(&app, None, &app_sub).await;
    let (_, kr) = new_key(&app, None, &reports).await;
    for _ in 0..3 {
        assert_eq!(check(&app, &kw).await["reason"], "ok");
    }
    let c = check(&app, &ka).await;
    assert_eq!(
        (c["reason"].as_str(), c["quota"]["remaining"].as_i64()),
        (Some("ok"), Some(0)),
        "shop-team's 4th call: {c}"
    );
    let c = check(&app, &ka).await;
    assert_eq!(c["reason"], "quota_exceeded", "{c}");
    assert_eq!(check(&app, &kw).await["reason"], "quota_exceeded");
    // data-team's consumer has the whole quota.
    let c = check(&app, &kr).await;
    assert_eq!((c["reason"].as_str(), c["quota"]["remaining"].as_i64()), (Some("ok"), Some(3)), "{c}");
}

async fn post_events(app: &TestApp, token: Option<&str>, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.client.post(app.url("/api/usage/events")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn total_calls(app: &TestApp, token: Option<&str>) -> i64 {
    let (status, c) = call(app, "GET", "/api/portal/consumption?api=pay-api&bucket=hour", token, None).await;
    assert_eq!(status, 200, "{c}");
    c["totals"]["calls"].as_i64().unwrap_or(-1)
}

/// The same `Idempotency-Key` with another body is a 409; a batch of which nothing was counted
/// leaves its key unused.
async fn a_reused_idempotency_key_with_another_body_is_a_409(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let t = ago(60);
    let first = json!([{"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 5}]);
    let (status, b) = post_events(&app, None, Some("k-1"), &first).await;
    assert_eq!((status, b["accepted"].as_i64(), b["duplicate"].as_bool()), (200, Some(1), Some(false)), "{b}");
    let (status, b) = post_events(&app, None, Some("k-1"), &first).await;
    assert_eq!((status, b["duplicate"].as_bool()), (200, Some(true)), "the same body again: {b}");
    let other = json!([{"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 500}]);
    let (status, b) = post_events(&app, None, Some("k-1"), &other).await;
    assert_eq!(status, 409, "{b}");
    assert_error(&b, 409, "ConflictError", "idempotency_conflict");
    assert!(b["error"]["message"].as_str().unwrap().contains("Idempotency-Key"), "{b}");
    assert_eq!(total_calls(&app, None).await, 5, "the other body counted nothing");

    // Every event rejected: the key stays free for the corrected batch.
    let bad = json!([{"time": t, "api": "pay-api", "consumer": "no-such-consumer", "calls": 7}]);
    let (status, b) = post_events(&app, None, Some("k-2"), &bad).await;
    assert_eq!((status, b["accepted"].as_i64()), (200, Some(0)), "{b}");
    assert_eq!(b["rejected"][0]["index"], 0, "{b}");
    let fixed = json!([{"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 7}]);
    let (status, b) = post_events(&app, None, Some("k-2"), &fixed).await;
    assert_eq!((status, b["accepted"].as_i64(), b["duplicate"].as_bool()), (200, Some(1), Some(false)), "{b}");
    assert_eq!(total_calls(&app, None).await, 12);
}

/// An `Idempotency-Key` is the caller's own: another token's batch under the same key is its
/// own batch, counted, never answered with the first caller's outcome.
async fn idempotency_keys_are_scoped_to_the_caller(db: Db) {
    let app = spawn(db, secured).await;
    let t = ago(60);
    let batch = json!([{"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 3}]);
    let (status, b) = post_events(&app, Some(USAGE_A), Some("nightly-1"), &batch).await;
    assert_eq!((status, b["accepted"].as_i64(), b["duplicate"].as_bool()), (200, Some(1), Some(false)), "{b}");
    let (status, b) = post_events(&app, Some(USAGE_B), Some("nightly-1"), &batch).await;
    assert_eq!(
        (status, b["accepted"].as_i64(), b["duplicate"].as_bool()),
        (200, Some(1), Some(false)),
        "B's own batch: {b}"
    );
    let other = json!([{"time": t, "api": "pay-api", "consumer": "reports", "calls": 4}]);
    let (status, b) = post_events(&app, Some(USAGE_B), Some("nightly-2"), &other).await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = post_events(&app, Some(USAGE_A), Some("nightly-2"), &batch).await;
    assert_eq!((status, b["duplicate"].as_bool()), (200, Some(false)), "A's key space has no nightly-2: {b}");
    // Each caller's retry is still a duplicate.
    let (status, b) = post_events(&app, Some(USAGE_A), Some("nightly-1"), &batch).await;
    assert_eq!((status, b["duplicate"].as_bool()), (200, Some(true)), "{b}");
    assert_eq!(total_calls(&app, Some(ADMIN)).await, 3 + 3 + 4 + 3);
}

/// Latency buckets add up to the event's calls, counts never overflow, and a consumer is a
/// Component, Product, System or Platform: anything else is rejected with its index.
async fn usage_events_that_would_skew_the_numbers_are_rejected_one_by_one(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let t = ago(60);
    let batch = json!([
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 10, "latency": {"buckets": {"5": 6, "50": 4}}},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 1, "latency": {"buckets": {"5": 1000000}}},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 10, "latency": {"buckets": {"5": 3}}},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 2,
         "latency": {"buckets": {"1": 18446744073709551615u64, "2": 18446744073709551615u64}}},
        {"time": t, "api": "pay-api", "consumer": "shop-web", "calls": 2, "latencyMs": 4, "latency": {"buckets": {"5": 2}}},
        {"time": t, "api": "pay-api", "consumer": "group:default/shop-team", "calls": 1},
        {"time": t, "api": "pay-api", "consumer": "user:default/alice", "calls": 1},
        {"time": t, "api": "pay-api", "consumer": "api:default/pay-api", "calls": 1},
        {"time": t, "api": "pay-api", "consumer": "platform:default/pay", "calls": 2},
    ]);
    let (status, b) = post_events(&app, None, None, &batch).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["accepted"], 2, "{b}");
    let rejected: Vec<(i64, String)> = b["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_i64().unwrap(), r["message"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7], "{b}");
    for (i, m) in &rejected[..3] {
        assert!(m.starts_with("latency.buckets:") && m.contains("calls"), "{i}: {m}");
    }
    assert!(rejected[3].1.contains("not both"), "{rejected:?}");
    assert!(rejected[4].1.contains("group:default/shop-team") && rejected[4].1.contains("Component"), "{rejected:?}");
    assert!(rejected[5].1.contains("user:default/alice"), "{rejected:?}");
    assert!(rejected[6].1.contains("api:default/pay-api"), "{rejected:?}");
    assert_eq!(total_calls(&app, None).await, 12, "only the good events");
}

crate::both!(
    a_catalog_write_token_may_not_act_on_subscriptions_or_keys,
    closing_and_subscribing_again_keeps_the_used_quota,
    a_team_scoped_quota_is_shared_by_the_teams_consumers,
    a_reused_idempotency_key_with_another_body_is_a_409,
    idempotency_keys_are_scoped_to_the_caller,
    usage_events_that_would_skew_the_numbers_are_rejected_one_by_one,
);
