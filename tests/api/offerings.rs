//! Self-service offerings: offerings from Platform descriptors, subscriptions and their state
//! machine, descriptor-made subscriptions, API keys, and every gateway answer, on a spawned
//! server (guest mode: the caller may do everything; who-may is in `auth.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portolan::settings::Settings;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_error, spawn_on, spawn_with, temp_dir, write_file};

pub const ORG: &str = r#"
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
kind: API
metadata: {name: pay-api, description: Take payments}
spec: {type: openapi, lifecycle: production, owner: platform-team, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: ledger-api}
spec: {type: grpc, lifecycle: experimental, owner: platform-team, definition: "syntax = \"proto3\";"}
"#;

pub const PLATFORM: &str = r#"
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: pay}
spec:
  owner: platform-team
  domain: money
  providesApis: [pay-api, ledger-api]
  offerings:
    - api: pay-api
      description: Payments as a service.
      plans:
        - {name: free, approval: auto, quota: {requests: 1000, period: day}, rateLimit: {requests: 100, period: second}, credentialLifetimeDays: 30}
        - {name: gold, approval: manual, credentialLifetimeDays: 90}
        - {name: old, approval: auto, status: deprecated}
        - {name: beta, approval: auto, status: staging}
        - {name: legacy, approval: auto, status: closed}
        - {name: tiny, approval: auto, quota: {requests: 3, period: day}}
        - {name: burst, approval: auto, rateLimit: {requests: 2, period: hour}}
        - {name: shared, approval: auto, quota: {requests: 10, period: day}}
        - {name: spare, approval: auto}
    - api: ledger-api
      plans:
        - {name: std}
    - api: ghost-api
      description: Not in the catalog (yet).
      plans:
        - {name: std}
"#;

pub fn component(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n{extra}spec: {{type: service, lifecycle: production, owner: shop-team}}\n"
    )
}

/// The consumers: `shop-web` consumes pay-api (descriptor-made, default plan), `shop-legacy`
/// consumes it on the deprecated plan by annotation; the others consume nothing.
fn consumers(web_consumes: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: shop-web}}\nspec: {{type: website, lifecycle: production, owner: shop-team{}}}\n",
        if web_consumes { ", consumesApis: [pay-api]" } else { "" }
    ));
    out.push_str(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: shop-legacy\n  annotations: {portolan.dev/plan.pay-api: old}\nspec: {type: service, lifecycle: production, owner: shop-team, consumesApis: [pay-api]}\n",
    );
    for name in ["shop-app", "shop-batch", "shop-cli", "shop-kiosk", "shop-pos", "shop-bot"] {
        out.push_str(&component(name, ""));
    }
    out
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub files: Vec<PathBuf>,
}

pub fn fixture() -> Fixture {
    let dir = temp_dir();
    let files = vec![
        write_file(dir.path(), "org.yaml", ORG),
        write_file(dir.path(), "platform.yaml", PLATFORM),
        write_file(dir.path(), "consumers.yaml", &consumers(true)),
    ];
    Fixture { dir, files }
}

async fn spawn(db: Db, tweak: impl FnOnce(&mut Settings, &Path)) -> TestApp {
    let f = fixture();
    let mut app = spawn_with(db, f.files.clone(), tweak).await;
    app.keep.push(f.dir);
    app
}

impl TestApp {
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn subscribe(&self, api: &str, plan: &str, consumer: &str) -> (u16, Value) {
        self.send("POST", "/api/portal/subscriptions", Some(&json!({"api": api, "plan": plan, "consumer": consumer})))
            .await
    }

    async fn act(&self, id: &str, action: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/api/portal/subscriptions/{id}/{action}"), Some(&body)).await
    }

    async fn new_key(&self, id: &str, body: Value) -> Value {
        let (status, key) = self.send("POST", &format!("/api/portal/subscriptions/{id}/keys"), Some(&body)).await;
        assert_eq!(status, 201, "{key}");
        key
    }

    async fn check(&self, key: &str, api: &str) -> Value {
        let (status, body) = self.send("POST", "/api/gateway/check", Some(&json!({"key": key, "api": api}))).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn subscriptions(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/api/portal/subscriptions{query}")).await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap()
    }
}

/// Polls `f` until it returns `Some`, for up to 8 seconds (the catalog's catch-up runs every second).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(8), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn plan<'a>(offering: &'a Value, name: &str) -> &'a Value {
    offering["plans"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{offering}"))
}

async fn offerings_come_from_platform_descriptors_and_follow_them(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let (status, body) = app.get_json("/api/portal/offerings").await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{body}");
    let pay = items.iter().find(|i| i["api"] == "api:default/pay-api").unwrap();
    assert_eq!(pay["platform"], "platform:default/pay");
    assert_eq!(pay["owner"], "group:default/platform-team");
    assert_eq!(pay["domain"], "domain:default/money");
    assert_eq!(pay["description"], "Payments as a service.");
    assert_eq!(pay["lifecycle"], "production");
    assert_eq!(pay["hasDefinition"], true);
    assert_eq!(pay["plans"].as_array().unwrap().len(), 9, "every plan, whatever its status");
    assert_eq!(plan(pay, "free")["quota"], json!({"requests": 1000, "period": "day"}));
    assert_eq!(plan(pay, "free")["rateLimit"], json!({"requests": 100, "period": "second"}));
    assert_eq!(plan(pay, "free")["credentialLifetimeDays"], 30);
    assert_eq!(plan(pay, "gold")["approval"], "manual");
    assert_eq!(plan(pay, "beta")["status"], "staging");
    assert_eq!(plan(pay, "old")["status"], "deprecated");
    assert_eq!(pay["subscribers"], 2, "the two descriptor-made subscriptions: {pay}");
    let ledger = items.iter().find(|i| i["api"] == "api:default/ledger-api").unwrap();
    assert_eq!(ledger["hasDefinition"], true);
    let ghost = items.iter().find(|i| i["api"] == "api:default/ghost-api").unwrap();
    assert_eq!(ghost["hasDefinition"], false, "no API entity: {ghost}");
    assert_eq!(ghost["lifecycle"], Value::Null);
    assert_eq!(plan(ledger, "std")["approval"], "auto");
    assert_eq!(plan(ledger, "std")["status"], "published");

    // Filters.
    for (query, want) in [
        ("?platform=pay", 3),
        ("?platform=platform:default/other", 0),
        ("?domain=money", 3),
        ("?lifecycle=experimental", 1),
        ("?q=payments", 1),
        ("?q=LEDGER", 1),
        ("?q=nothing-like-it", 0),
    ] {
        let (status, body) = app.get_json(&format!("/api/portal/offerings{query}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["items"].as_array().unwrap().len(), want, "{query}: {body}");
    }

    // One offering: plans with live counts, and consumers.
    let (status, one) = app.get_json("/api/portal/offerings/default/pay-api").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(plan(&one, "free")["subscriptions"], 1);
    assert_eq!(plan(&one, "old")["subscriptions"], 1);
    let consumers: Vec<&str> =
        one["consumers"].as_array().unwrap().iter().map(|c| c["consumer"].as_str().unwrap()).collect();
    assert_eq!(consumers.len(), 2);
    assert!(consumers.contains(&"component:default/shop-web") && consumers.contains(&"component:default/shop-legacy"));
    let (status, body) = app.get_json("/api/portal/offerings/default/nope").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");

    // A changed descriptor changes the offering.
    let platform = app.keep[0].path().join("platform.yaml");
    std::fs::write(&platform, PLATFORM.replace("{name: gold, approval: manual", "{name: gold, approval: auto"))
        .unwrap();
    assert_eq!(app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "platform:pay"}))).await.0, 200);
    eventually("the gold plan to turn auto", || async {
        let (_, one) = app.get_json("/api/portal/offerings/default/pay-api").await;
        (plan(&one, "gold")["approval"] == "auto").then_some(())
    })
    .await;
}

async fn every_transition_is_legal_or_a_409(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    // An auto plan is active at once, a manual one pending; refs come back full.
    let (status, s) = app.subscribe("pay-api", "free", "shop-app").await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["status"], "active");
    assert_eq!(s["api"], "api:default/pay-api");
    assert_eq!(s["consumer"], "component:default/shop-app");
    assert_eq!(s["team"], "group:default/shop-team");
    assert_eq!(s["origin"], "api");
    assert_eq!(s["history"].as_array().unwrap().len(), 1);
    assert_eq!(s["history"][0]["from"], Value::Null);
    assert_eq!(s["history"][0]["to"], "active");
    assert_eq!(s["history"][0]["by"], "guest");
    let active = s["id"].as_str().unwrap().to_owned();

    let (status, p) = app
        .send(
            "POST",
            "/api/portal/subscriptions",
            Some(&json!({"api": "api:default/pay-api", "plan": "gold", "consumer": "component:default/shop-batch", "reason": "launch"})),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["status"], "pending");
    assert_eq!(p["history"][0]["reason"], "launch");
    let pending = p["id"].as_str().unwrap().to_owned();

    // Illegal from pending: pause, resume, transfer.
    for action in ["pause", "resume", "transfer"] {
        let (status, body) = app.act(&pending, action, json!({"plan": "free"})).await;
        assert_eq!(status, 409, "{action} from pending: {body}");
        assert_error(&body, 409, "ConflictError", "conflict");
        assert!(body["error"]["message"].as_str().unwrap().contains("pending"), "{body}");
    }
    // Illegal from active: approve, reject, resume.
    for action in ["approve", "reject", "resume"] {
        let (status, body) = app.act(&active, action, json!({})).await;
        assert_eq!(status, 409, "{action} from active: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("active"), "{body}");
    }
    // active -> paused; illegal from paused: approve, reject, pause, transfer.
    let (status, s) = app.act(&active, "pause", json!({"reason": "incident"})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("paused")), "{s}");
    for action in ["approve", "reject", "pause", "transfer"] {
        let (status, body) = app.act(&active, action, json!({"plan": "spare"})).await;
        assert_eq!(status, 409, "{action} from paused: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("paused"), "{body}");
    }
    // paused -> active -> transfer (same keys) -> paused -> closed.
    let key = app.new_key(&active, json!({})).await;
    let (status, s) = app.act(&active, "resume", json!({})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("active")), "{s}");
    let (status, body) = app.act(&active, "transfer", json!({})).await;
    assert_eq!(status, 400, "transfer needs a plan: {body}");
    let (status, body) = app.act(&active, "transfer", json!({"plan": "beta"})).await;
    assert_eq!(status, 409, "no transfer to a staging plan: {body}");
    let (status, body) = app.act(&active, "transfer", json!({"plan": "free"})).await;
    assert_eq!(status, 409, "no transfer to the same plan: {body}");
    let (status, s) = app.act(&active, "transfer", json!({"plan": "spare", "reason": "upgrade"})).await;
    assert_eq!((status, s["status"].as_str(), s["plan"].as_str()), (200, Some("active"), Some("spare")), "{s}");
    let c = app.check(key["key"].as_str().unwrap(), "pay-api").await;
    assert_eq!(
        (c["allowed"].as_bool(), c["plan"].as_str()),
        (Some(true), Some("spare")),
        "the key survives a transfer: {c}"
    );
    let (status, s) = app.act(&active, "pause", json!({})).await;
    assert_eq!(status, 200, "{s}");
    let (status, s) = app.act(&active, "close", json!({"reason": "done"})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("closed")), "paused -> closed: {s}");
    // Nothing leaves closed.
    for action in ["approve", "reject", "pause", "resume", "transfer", "close"] {
        let (status, body) = app.act(&active, action, json!({"plan": "free"})).await;
        assert_eq!(status, 409, "{action} from closed: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("closed"), "{body}");
    }
    let history: Vec<(Value, Value)> =
        s["history"].as_array().unwrap().iter().map(|h| (h["from"].clone(), h["to"].clone())).collect();
    assert_eq!(
        history,
        [
            (Value::Null, json!("active")),
            (json!("active"), json!("paused")),
            (json!("paused"), json!("active")),
            (json!("active"), json!("active")),
            (json!("active"), json!("paused")),
            (json!("paused"), json!("closed")),
        ]
    );
    assert_eq!(s["history"][1]["reason"], "incident");
    assert_eq!(s["history"][3]["plan"], "spare");
    assert!(s["history"][5]["at"].as_str().unwrap().ends_with('Z'));

    // pending -> active -> closed; pending -> rejected (final); pending -> closed (withdrawn).
    let (status, s) = app.act(&pending, "approve", json!({"reason": "ok"})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("active")), "{s}");
    let (status, s) = app.act(&pending, "close", json!({})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("closed")), "active -> closed: {s}");
    let (_, r) = app.subscribe("pay-api", "gold", "shop-cli").await;
    let rejected = r["id"].as_str().unwrap().to_owned();
    let (status, s) = app.act(&rejected, "reject", json!({"reason": "no PCI scope"})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("rejected")), "{s}");
    for action in ["approve", "reject", "pause", "resume", "transfer", "close"] {
        let (status, body) = app.act(&rejected, action, json!({"plan": "free"})).await;
        assert_eq!(status, 409, "{action} from rejected: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("rejected"), "{body}");
    }
    let (_, w) = app.subscribe("pay-api", "gold", "shop-kiosk").await;
    let (status, s) = app.act(w["id"].as_str().unwrap(), "close", json!({"reason": "withdrawn"})).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("closed")), "pending -> closed: {s}");

    // Unknown actions and subscriptions.
    let (status, _) = app.act(&pending, "explode", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = app.act("no-such-id", "close", json!({})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get_json(&format!("/api/portal/subscriptions/{rejected}")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("rejected")), "{body}");
}

async fn one_live_subscription_per_pair_and_plan_statuses(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let (status, s) = app.subscribe("pay-api", "free", "shop-app").await;
    assert_eq!(status, 201, "{s}");
    let (status, body) = app.subscribe("pay-api", "spare", "component:default/shop-app").await;
    assert_eq!(status, 409, "a second live subscription: {body}");
    assert_error(&body, 409, "ConflictError", "conflict");
    // Another API is fine; the descriptor-made one also counts as live.
    assert_eq!(app.subscribe("ledger-api", "std", "shop-app").await.0, 201);
    assert_eq!(app.subscribe("pay-api", "free", "shop-web").await.0, 409);
    // Plans that take no new subscriptions.
    for plan in ["beta", "old", "legacy"] {
        let (status, body) = app.subscribe("pay-api", plan, "shop-batch").await;
        assert_eq!(status, 409, "{plan}: {body}");
    }
    let (status, _) = app.subscribe("pay-api", "platinum", "shop-batch").await;
    assert_eq!(status, 404, "an unknown plan");
    let (status, _) = app.subscribe("nope-api", "free", "shop-batch").await;
    assert_eq!(status, 404, "an API nobody offers");
    let (status, _) = app.subscribe("pay-api", "free", "shop-ghost").await;
    assert_eq!(status, 404, "a consumer not in the catalog");
    let (status, _) = app.subscribe("pay-api", "free", "group:shop-team").await;
    assert_eq!(status, 400, "a group is no consumer");
    // Once closed, the pair may subscribe again.
    let id = s["id"].as_str().unwrap();
    assert_eq!(app.act(id, "close", json!({})).await.0, 200);
    assert_eq!(app.subscribe("pay-api", "spare", "shop-app").await.0, 201);

    // Filters combine; no default limit.
    assert_eq!(app.subscriptions("?consumer=shop-app").await.len(), 3);
    assert_eq!(app.subscriptions("?consumer=shop-app&status=active").await.len(), 2);
    assert_eq!(app.subscriptions("?api=pay-api&consumer=component:default/shop-app&status=closed").await.len(), 1);
    assert_eq!(app.subscriptions("?team=shop-team").await.len(), 5);
    assert_eq!(app.subscriptions("?api=ledger-api").await.len(), 1);

    // Closing a plan closes its subscriptions.
    let platform = app.keep[0].path().join("platform.yaml");
    std::fs::write(
        &platform,
        PLATFORM.replace("{name: spare, approval: auto}", "{name: spare, approval: auto, status: closed}"),
    )
    .unwrap();
    assert_eq!(app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "platform:pay"}))).await.0, 200);
    let closed = eventually("the spare plan's subscription to close", || async {
        let items = app.subscriptions("?consumer=shop-app&api=pay-api").await;
        let s = items.into_iter().find(|s| s["plan"] == "spare")?;
        (s["status"] == "closed").then_some(s)
    })
    .await;
    let last = closed["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["by"], "catalog");
    assert!(last["reason"].as_str().unwrap().contains("spare"), "{last}");
}

async fn descriptor_made_subscriptions_follow_consumes_apis(db: Db) {
    let f = fixture();
    let app = spawn_with(db, f.files.clone(), |_, _| {}).await;
    // Made at start, before the first answer.
    let web = app.subscriptions("?consumer=shop-web").await;
    assert_eq!(web.len(), 1, "{web:?}");
    assert_eq!(web[0]["origin"], "descriptor");
    assert_eq!(web[0]["plan"], "free", "the first published auto plan");
    assert_eq!(web[0]["status"], "active");
    assert_eq!(web[0]["history"][0]["by"], "catalog");
    let legacy = app.subscriptions("?consumer=shop-legacy").await;
    assert_eq!(legacy[0]["plan"], "old", "the annotation is honoured on a deprecated plan");
    assert_eq!(legacy[0]["origin"], "descriptor");
    // An API-made subscription is never closed by descriptors.
    let (status, s) = app.subscribe("ledger-api", "std", "shop-app").await;
    assert_eq!(status, 201, "{s}");

    // The entry goes: the subscription closes after the grace period (7 days: scheduled only).
    let consumers_file = f.dir.path().join("consumers.yaml");
    std::fs::write(&consumers_file, consumers(false)).unwrap();
    assert_eq!(
        app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "component:shop-web"}))).await.0,
        200
    );
    let scheduled = eventually("the close to be scheduled", || async {
        let s = app.subscriptions("?consumer=shop-web").await.pop()?;
        s["closesAt"].is_string().then_some(s)
    })
    .await;
    assert_eq!(scheduled["status"], "active");
    // The entry comes back: the close is called off.
    std::fs::write(&consumers_file, consumers(true)).unwrap();
    assert_eq!(
        app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "component:shop-web"}))).await.0,
        200
    );
    eventually("the close to be called off", || async {
        let s = app.subscriptions("?consumer=shop-web").await.pop()?;
        s["closesAt"].is_null().then_some(())
    })
    .await;

    // A changed plan annotation moves the descriptor-made subscription (same id, same keys) to
    // an auto plan it names; a manual plan waits for the platform owner.
    let before = app.subscriptions("?consumer=shop-legacy").await.remove(0);
    let key = app.new_key(before["id"].as_str().unwrap(), json!({})).await;
    std::fs::write(&consumers_file, consumers(true).replace("plan.pay-api: old", "plan.pay-api: spare")).unwrap();
    assert_eq!(
        app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "component:shop-legacy"}))).await.0,
        200
    );
    let moved = eventually("the subscription to follow its annotation", || async {
        let s = app.subscriptions("?consumer=shop-legacy").await.pop()?;
        (s["plan"] == "spare").then_some(s)
    })
    .await;
    assert_eq!(moved["id"], before["id"], "transferred, not replaced");
    assert_eq!(moved["status"], "active");
    let last = moved["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["by"].as_str(), last["plan"].as_str()), (Some("catalog"), Some("spare")), "{last}");
    let (_, check) = app.post_json("/api/gateway/check", &json!({"key": key["key"], "api": "pay-api"})).await;
    assert_eq!((check["allowed"].as_bool(), check["plan"].as_str()), (Some(true), Some("spare")), "{check}");
    std::fs::write(&consumers_file, consumers(true).replace("plan.pay-api: old", "plan.pay-api: gold")).unwrap();
    assert_eq!(
        app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "component:shop-legacy"}))).await.0,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stayed = app.subscriptions("?consumer=shop-legacy").await;
    assert_eq!((stayed.len(), stayed[0]["plan"].as_str()), (1, Some("spare")), "{stayed:?}");

    drop(app);
    drop(f);

    // With a grace period of a second, removal closes it.
    let f = fixture();
    let consumers_file = f.dir.path().join("consumers.yaml");
    let app = spawn_with(db, f.files.clone(), |s, _| {
        s.offerings.descriptor_grace_days = 1.0 / 86_400.0;
    })
    .await;
    let (status, s) = app.subscribe("ledger-api", "std", "shop-app").await;
    assert_eq!(status, 201, "{s}");
    std::fs::write(&consumers_file, consumers(false)).unwrap();
    assert_eq!(
        app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "component:shop-web"}))).await.0,
        200
    );
    let closed = eventually("the descriptor-made subscription to close", || async {
        let s = app.subscriptions("?consumer=shop-web").await.pop()?;
        (s["status"] == "closed").then_some(s)
    })
    .await;
    let last = closed["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["by"].as_str(), last["from"].as_str()), (Some("catalog"), Some("active")), "{last}");
    let apps = app.subscriptions("?consumer=shop-app").await;
    assert_eq!(apps[0]["status"], "active", "API-made subscriptions stay");
    // Restarting changes nothing more (idempotent).
    let app = app.restart(f.files.clone(), |_, _| {}).await;
    assert_eq!(app.subscriptions("?consumer=shop-legacy").await.len(), 1);
    assert_eq!(app.subscriptions("?consumer=shop-web").await.len(), 1);
    assert_eq!(app.subscriptions("?status=active").await.len(), 2);
    drop(f);
}

async fn keys_are_shown_once_rotate_with_overlap_and_revoke(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let (_, s) = app.subscribe("pay-api", "free", "shop-app").await;
    let id = s["id"].as_str().unwrap();
    let before = portolan::db::now_ms();
    let k = app.new_key(id, json!({"name": "ci"})).await;
    let secret = k["key"].as_str().unwrap().to_owned();
    let prefix = k["prefix"].as_str().unwrap();
    assert!(secret.starts_with(&format!("ptl_{prefix}_")), "{k}");
    assert!(secret.len() >= 4 + prefix.len() + 1 + 22, "at least 128 bits of secret: {secret}");
    // Expiry defaults to the plan's credentialLifetimeDays (30).
    let expires = chrono::DateTime::parse_from_rfc3339(k["expiresAt"].as_str().unwrap()).unwrap().timestamp_millis();
    assert!((expires - before - 30 * 86_400_000).abs() < 60_000, "{k}");
    let (status, list) = app.get_json(&format!("/api/portal/subscriptions/{id}/keys")).await;
    assert_eq!(status, 200);
    let listed = list["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["prefix"], prefix);
    assert_eq!(listed[0]["name"], "ci");
    assert!(!list.to_string().contains(&secret[prefix.len() + 5..]), "no secret in the list: {list}");
    assert_eq!(app.check(&secret, "pay-api").await["allowed"], true);
    // Several keys per subscription.
    let second = app.new_key(id, json!({"expiresInDays": 2})).await;
    assert_eq!(app.check(second["key"].as_str().unwrap(), "pay-api").await["reason"], "ok");

    // Rotation: the old key stays valid during the overlap.
    let (status, rotated) =
        app.send("POST", &format!("/api/portal/keys/{}/rotate", k["id"].as_str().unwrap()), Some(&json!({}))).await;
    assert_eq!(status, 201, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, secret);
    let until = chrono::DateTime::parse_from_rfc3339(rotated["replaces"]["validUntil"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!((until - portolan::db::now_ms() - 24 * 3_600_000).abs() < 60_000, "24 hours by default: {rotated}");
    assert_eq!(app.check(&secret, "pay-api").await["reason"], "ok", "the old key during the overlap");
    assert_eq!(app.check(&new, "pay-api").await["reason"], "ok");
    let (status, again) =
        app.send("POST", &format!("/api/portal/keys/{}/rotate", k["id"].as_str().unwrap()), Some(&json!({}))).await;
    assert_eq!(status, 409, "a rotated key is not rotated twice: {again}");
    // No overlap: the old key stops at once.
    let (status, r2) = app
        .send(
            "POST",
            &format!("/api/portal/keys/{}/rotate", rotated["id"].as_str().unwrap()),
            Some(&json!({"overlapHours": 0})),
        )
        .await;
    assert_eq!(status, 201, "{r2}");
    assert_eq!(app.check(&new, "pay-api").await["reason"], "expired");
    assert_eq!(app.check(r2["key"].as_str().unwrap(), "pay-api").await["reason"], "ok");

    // Revocation is immediate.
    let (status, _) = app.send("DELETE", &format!("/api/portal/keys/{}", r2["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.check(r2["key"].as_str().unwrap(), "pay-api").await["reason"], "revoked");
    let (status, _) = app.send("DELETE", "/api/portal/keys/nope", None).await;
    assert_eq!(status, 404);

    // Expiry.
    let short = app.new_key(id, json!({"expiresInDays": 1.0 / 86_400.0})).await;
    assert_eq!(app.check(short["key"].as_str().unwrap(), "pay-api").await["reason"], "ok");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.check(short["key"].as_str().unwrap(), "pay-api").await["reason"], "expired");
    let (status, body) =
        app.send("POST", &format!("/api/portal/subscriptions/{id}/keys"), Some(&json!({"expiresInDays": -1}))).await;
    assert_eq!(status, 400, "{body}");

    // The audit trail: key events with who and when, statuses in the list.
    let (_, list) = app.get_json(&format!("/api/portal/subscriptions/{id}/keys")).await;
    let statuses: Vec<&str> = list["items"].as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rotating", "active", "expired", "revoked", "expired"], "{list}");
    // Keys of a closed subscription are refused.
    assert_eq!(app.act(id, "close", json!({})).await.0, 200);
    let (status, _) = app.send("POST", &format!("/api/portal/subscriptions/{id}/keys"), Some(&json!({}))).await;
    assert_eq!(status, 409);
    assert_eq!(app.check(second["key"].as_str().unwrap(), "pay-api").await["reason"], "not_subscribed");
}

async fn the_gateway_answers_every_reason(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let sub = |api: &'static str, plan: &'static str, consumer: &'static str| {
        let app = &app;
        async move {
            let (status, s) = app.subscribe(api, plan, consumer).await;
            assert_eq!(status, 201, "{s}");
            s["id"].as_str().unwrap().to_owned()
        }
    };
    let key = |id: String| {
        let app = &app;
        async move { app.new_key(&id, json!({})).await["key"].as_str().unwrap().to_owned() }
    };
    // ok, with the subscription's facts.
    let free = sub("pay-api", "free", "shop-app").await;
    let k = key(free.clone()).await;
    let c = app.check(&k, "api:default/pay-api").await;
    assert_eq!(c["allowed"], true, "{c}");
    assert_eq!(c["reason"], "ok");
    assert_eq!(c["consumer"], "component:default/shop-app");
    assert_eq!(c["team"], "group:default/shop-team");
    assert_eq!(c["subscription"], free.as_str());
    assert_eq!(c["plan"], "free");
    assert_eq!(c["quota"]["limit"], 1000);
    assert_eq!(c["quota"]["remaining"], 999);
    assert!(c["quota"]["resetAt"].as_str().unwrap().ends_with("T00:00:00.000Z"), "{c}");
    assert_eq!(c["rateLimit"]["limit"], 100);
    // not_subscribed: the key's subscription is for another API.
    assert_eq!(app.check(&k, "ledger-api").await["reason"], "not_subscribed");
    // unknown_key, well formed or not.
    for bad in ["ptl_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense", ""] {
        let c = app.check(bad, "pay-api").await;
        assert_eq!((c["allowed"].as_bool(), c["reason"].as_str()), (Some(false), Some("unknown_key")), "{c}");
    }
    // pending, paused.
    let gold = sub("pay-api", "gold", "shop-batch").await;
    let kg = key(gold.clone()).await;
    assert_eq!(app.check(&kg, "pay-api").await["reason"], "pending");
    assert_eq!(app.act(&gold, "approve", json!({})).await.0, 200);
    assert_eq!(app.check(&kg, "pay-api").await["reason"], "ok");
    assert_eq!(app.act(&gold, "pause", json!({})).await.0, 200);
    assert_eq!(app.check(&kg, "pay-api").await["reason"], "paused");
    // quota_exceeded: three calls a day.
    let tiny = sub("pay-api", "tiny", "shop-cli").await;
    let kt = key(tiny).await;
    for i in 0..3 {
        let c = app.check(&kt, "pay-api").await;
        assert_eq!(c["reason"], "ok", "call {i}: {c}");
        assert_eq!(c["quota"]["remaining"], 2 - i);
    }
    let c = app.check(&kt, "pay-api").await;
    assert_eq!((c["allowed"].as_bool(), c["reason"].as_str()), (Some(false), Some("quota_exceeded")), "{c}");
    assert_eq!(c["quota"]["remaining"], 0);
    // rate_limited: two calls an hour.
    let burst = sub("pay-api", "burst", "shop-kiosk").await;
    let kb = key(burst).await;
    assert_eq!(app.check(&kb, "pay-api").await["rateLimit"]["remaining"], 1);
    assert_eq!(app.check(&kb, "pay-api").await["reason"], "ok");
    assert_eq!(app.check(&kb, "pay-api").await["reason"], "rate_limited");
    // revoked, expired: see the keys test; plan_closed: the plan leaves the offering.
    let spare = sub("pay-api", "spare", "shop-pos").await;
    let ks = key(spare).await;
    assert_eq!(app.check(&ks, "pay-api").await["reason"], "ok");
    let platform = app.keep[0].path().join("platform.yaml");
    std::fs::write(&platform, PLATFORM.replace("        - {name: spare, approval: auto}\n", "")).unwrap();
    assert_eq!(app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "platform:pay"}))).await.0, 200);
    eventually("the gateway to see the plan gone", || async {
        (app.check(&ks, "pay-api").await["reason"] == "plan_closed").then_some(())
    })
    .await;
    // A key for a closed subscription on a closed plan: plan_closed too.
    std::fs::write(
        &platform,
        PLATFORM.replace("{name: tiny, approval: auto,", "{name: tiny, approval: auto, status: closed,"),
    )
    .unwrap();
    assert_eq!(app.send("POST", "/api/catalog/refresh", Some(&json!({"entityRef": "platform:pay"}))).await.0, 200);
    eventually("the tiny plan to close", || async {
        (app.check(&kt, "pay-api").await["reason"] == "plan_closed").then_some(())
    })
    .await;
    // Every allowed call is counted per subscription per minute.
    let usage = eventually("the calls to be counted", || async {
        let (_, s) = app.get_json(&format!("/api/portal/subscriptions/{free}")).await;
        let calls: i64 = s["usage"].as_array()?.iter().map(|u| u["calls"].as_i64().unwrap()).sum();
        (calls == 1).then_some(s["usage"].clone())
    })
    .await;
    assert!(usage[0]["minute"].as_str().unwrap().ends_with(":00.000Z"), "{usage}");
}

async fn the_auth_request_contract(db: Db) {
    let app = spawn(db, |_, _| {}).await;
    let (_, s) = app.subscribe("pay-api", "burst", "shop-app").await;
    let k = app.new_key(s["id"].as_str().unwrap(), json!({})).await["key"].as_str().unwrap().to_owned();
    let auth = |key: Option<&str>, bearer: bool| {
        let mut req = app.client.get(app.url("/api/gateway/auth?api=pay-api"));
        if let Some(k) = key {
            req = if bearer { req.bearer_auth(k) } else { req.header("X-Api-Key", k) };
        }
        req.send()
    };
    let res = auth(None, false).await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "no key");
    let res = auth(Some("ptl_nope_nope"), false).await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "an unknown key");
    let res = auth(Some(&k), false).await.unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(res.headers()["x-portolan-consumer"], "component:default/shop-app");
    assert_eq!(res.headers()["x-portolan-plan"], "burst");
    assert_eq!(res.headers()["x-ratelimit-remaining"], "1");
    // In guest mode the key may come as a Bearer token.
    let res = auth(Some(&k), true).await.unwrap();
    assert_eq!(res.status().as_u16(), 204, "Bearer ptl_ is the key when no token is needed");
    let res = auth(Some(&k), false).await.unwrap();
    assert_eq!(res.status().as_u16(), 429, "over the rate limit");
    let res = app.client.get(app.url("/api/gateway/auth?api=ledger-api")).header("X-Api-Key", &k).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "not subscribed to that API");
    let res = app.client.get(app.url("/api/gateway/auth")).header("X-Api-Key", &k).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400, "no api named");
}

async fn allowed(app: &TestApp, key: &str, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if app.check(key, "pay-api").await["allowed"] == true {
            ok += 1;
        }
    }
    ok
}

async fn two_instances_share_one_quota(db: Db) {
    let f = fixture();
    let a = spawn_with(db, f.files.clone(), |_, _| {}).await;
    let b = spawn_on(a.database_url.clone(), temp_dir(), f.files.clone(), |_, _| {}).await;
    let (_, s) = a.subscribe("pay-api", "shared", "shop-app").await;
    let k = a.new_key(s["id"].as_str().unwrap(), json!({})).await["key"].as_str().unwrap().to_owned();
    // 6 of 10 on A; after A's flush (250 ms), B admits exactly the 4 left.
    assert_eq!(allowed(&a, &k, 6).await, 6);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(allowed(&b, &k, 10).await, 4, "B starts from the shared total");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(allowed(&a, &k, 3).await, 0, "A sees B's calls");
    let c = b.check(&k, "pay-api").await;
    assert_eq!((c["reason"].as_str(), c["quota"]["remaining"].as_i64()), (Some("quota_exceeded"), Some(0)), "{c}");

    // A revocation on A stops the key on B within 2 s.
    let (_, s2) = a.subscribe("pay-api", "free", "shop-batch").await;
    let k2 = a.new_key(s2["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(b.check(k2["key"].as_str().unwrap(), "pay-api").await["reason"], "ok");
    let revoked_at = Instant::now();
    assert_eq!(a.send("DELETE", &format!("/api/portal/keys/{}", k2["id"].as_str().unwrap()), None).await.0, 204);
    eventually("B to refuse the revoked key", || async {
        (b.check(k2["key"].as_str().unwrap(), "pay-api").await["reason"] == "revoked").then_some(())
    })
    .await;
    assert!(revoked_at.elapsed() < Duration::from_secs(2), "took {:?}", revoked_at.elapsed());
    drop(f);
}

/// The demo catalog: its consumers' descriptor-made subscriptions exist at start, one manual
/// plan has a pending request, and one deprecated plan keeps a consumer.
async fn the_demo_catalog_subscribes_its_consumers(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let all = app.subscriptions("").await;
    assert!(all.len() >= 15, "{}", all.len());
    assert!(all.iter().all(|s| s["origin"] == "descriptor"));
    let pending: Vec<&Value> = all.iter().filter(|s| s["status"] == "pending").collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["api"], "api:default/customer-profile-api");
    assert_eq!(pending[0]["consumer"], "component:default/mobile-bff");
    assert_eq!(pending[0]["plan"], "standard");
    let (_, availability) = app.get_json("/api/portal/offerings/default/availability-api").await;
    assert_eq!(plan(&availability, "batch-v0")["status"], "deprecated");
    assert_eq!(plan(&availability, "batch-v0")["subscriptions"], 1, "{availability}");
    let on_old: Vec<&Value> = all.iter().filter(|s| s["plan"] == "batch-v0").collect();
    assert_eq!(on_old[0]["consumer"], "component:default/configurator-service");
    assert_eq!(on_old[0]["status"], "active");
    // A closed plan takes none; the gateway admin API's consumers are on its open plan.
    assert!(all.iter().all(|s| s["plan"] != "ticketed-v1"));
    let (status, offerings) = app.get_json("/api/portal/offerings").await;
    assert_eq!(status, 200);
    assert_eq!(offerings["items"].as_array().unwrap().len(), 8, "{offerings}");
}

const HOOK_SECRET: &str = "hook-secret-4f1a9c";

/// A webhook receiver that answers 500 to its first delivery and 200 after, keeping every
/// request's headers and body.
async fn receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<(u16, Value, String)>>>, actix_web::dev::ServerHandle)
{
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u16, Value, String)>>>;
    let seen: Seen = Default::default();
    let state = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().unwrap();
                let status = if seen.is_empty() { 500 } else { 200 };
                let headers: serde_json::Map<String, Value> = req
                    .headers()
                    .iter()
                    .filter(|(k, _)| k.as_str().starts_with("x-portolan"))
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap())))
                    .collect();
                seen.push((status, Value::Object(headers), String::from_utf8(body.to_vec()).unwrap()));
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, seen, handle)
}

fn webhook_settings(s: &mut Settings, port: u16, allow: bool) {
    s.notifications.webhooks.push(portolan::offerings::WebhookTarget {
        url: format!("http://127.0.0.1:{port}/hooks/portolan"),
        secret: portolan::secret::Secret::new(HOOK_SECRET),
        events: vec!["subscription.*".into(), "key.revoked".into()],
    });
    if allow {
        s.reading.allow.push(portolan::catalog::fetch::AllowRule { host: format!("127.0.0.1:{port}"), paths: None });
    }
}

async fn audit_events_reach_the_change_feed_and_signed_webhooks(db: Db) {
    use hmac::Mac;
    let (port, seen, hook) = receiver().await;
    // A webhook URL must pass the reading rules: a loopback address needs an explicit allow.
    let f = fixture();
    let mut settings = Settings::default();
    settings.database.url = crate::helpers::fresh_database(db, f.dir.path());
    settings.server.bind = "127.0.0.1:0".into();
    webhook_settings(&mut settings, port, false);
    let refused =
        portolan::startup::Application::build(settings).await.err().expect("a private webhook URL is refused");
    assert!(format!("{refused:#}").contains("private") || format!("{refused:#}").contains("allowlist"), "{refused:#}");

    let app = spawn(db, |s, _| webhook_settings(s, port, true)).await;
    let (_, s) = app.subscribe("pay-api", "gold", "shop-app").await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(app.act(&id, "approve", json!({"reason": "fine"})).await.0, 200);
    let key = app.new_key(&id, json!({})).await;
    assert_eq!(app.send("DELETE", &format!("/api/portal/keys/{}", key["id"].as_str().unwrap()), None).await.0, 204);
    app.new_key(&id, json!({"expiresInDays": 3})).await;

    // The change feed: subscription.* and key.* events on the consumer's ref, key.expiring once.
    let feed = eventually("the audit events in the change feed", || async {
        let (_, body) = app.get_json("/api/catalog/events?after=0&limit=1000").await;
        let ours: Vec<(String, String)> = body["items"]
            .as_array()?
            .iter()
            .filter(|e| !e["type"].as_str().unwrap().starts_with("entity."))
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["entityRef"].as_str().unwrap().to_owned()))
            .collect();
        ours.iter().any(|(t, _)| t == "key.expiring").then_some(ours)
    })
    .await;
    let app_events: Vec<&str> =
        feed.iter().filter(|(_, r)| r == "component:default/shop-app").map(|(t, _)| t.as_str()).collect();
    for t in ["subscription.requested", "subscription.approved", "key.created", "key.revoked"] {
        assert!(app_events.contains(&t), "{t} missing from {app_events:?}");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = app.get_json("/api/catalog/events?after=0&limit=1000").await;
    let expiring = body["items"].as_array().unwrap().iter().filter(|e| e["type"] == "key.expiring").count();
    assert_eq!(expiring, 1, "key.expiring is produced once");

    // The webhook: the first delivery failed and was retried; only the subscribed types; signed.
    let delivered = eventually("the webhook deliveries", || async {
        let seen = seen.lock().unwrap().clone();
        let ok: Vec<(u16, Value, String)> = seen.iter().filter(|(s, _, _)| *s == 200).cloned().collect();
        let types: Vec<String> =
            ok.iter().map(|(_, h, _)| h["x-portolan-event"].as_str().unwrap().to_owned()).collect();
        types.contains(&"key.revoked".to_owned()).then_some((seen, ok, types))
    })
    .await;
    let (all, ok, types) = delivered;
    assert_eq!(all[0].0, 500, "the first attempt failed");
    assert_eq!(all[1].1["x-portolan-delivery"], all[0].1["x-portolan-delivery"], "and was retried");
    assert_eq!(types, ["subscription.requested", "subscription.approved", "key.revoked"]);
    for (_, headers, body) in &ok {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(headers["x-portolan-signature-256"], format!("sha256={want}"));
    }
    let approved: Value = serde_json::from_str(&ok[1].2).unwrap();
    assert_eq!(approved["type"], "subscription.approved");
    assert_eq!((approved["from"].as_str(), approved["to"].as_str()), (Some("pending"), Some("active")));
    assert_eq!(approved["by"], "guest");
    assert_eq!(approved["reason"], "fine");
    assert_eq!(approved["subscription"]["consumer"], "component:default/shop-app");
    let revoked: Value = serde_json::from_str(&ok[2].2).unwrap();
    assert_eq!(revoked["key"]["prefix"], key["prefix"]);
    assert!(!ok[2].2.contains(key["key"].as_str().unwrap()), "no secret in a webhook");
    hook.stop(false).await;
}

crate::both!(
    audit_events_reach_the_change_feed_and_signed_webhooks,
    the_demo_catalog_subscribes_its_consumers,
    offerings_come_from_platform_descriptors_and_follow_them,
    every_transition_is_legal_or_a_409,
    one_live_subscription_per_pair_and_plan_statuses,
    descriptor_made_subscriptions_follow_consumes_apis,
    keys_are_shown_once_rotate_with_overlap_and_revoke,
    the_gateway_answers_every_reason,
    the_auth_request_contract,
    two_instances_share_one_quota,
);
