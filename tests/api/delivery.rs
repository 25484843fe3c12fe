//! The delivery office (docs/delivery.md): the six delivery rules firing and clearing on
//! hand-written plans, a platform's demand, status updates (validation, history, owners, the
//! stale rule with time injected in the database), value reports computed by hand, their CSV,
//! stored snapshots, bad roadmaps refused with the last good version kept, and the demo.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use portolan::settings::Settings;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Time, spawning and polling.

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Today plus `offset` days, as a plan date.
fn day(offset: i64) -> String {
    (today() + chrono::Duration::days(offset)).to_string()
}

/// The first day of the previous month: the report period the tests compute by hand.
fn last_month() -> NaiveDate {
    let first = today().with_day(1).unwrap();
    (first - chrono::Duration::days(1)).with_day(1).unwrap()
}

/// The first day of the month before the one of `start`.
fn last_month_of(start: NaiveDate) -> NaiveDate {
    (start.with_day(1).unwrap() - chrono::Duration::days(1)).with_day(1).unwrap()
}

/// `start` plus `days`, as a plan date.
fn plus(start: NaiveDate, days: i64) -> String {
    (start + chrono::Duration::days(days)).to_string()
}

/// The month of `start` as a period (`2026-11`).
fn period(start: NaiveDate) -> String {
    format!("{:04}-{:02}", start.year(), start.month())
}

/// The first day of the month after the one of `start`.
fn next_month(start: NaiveDate) -> NaiveDate {
    (start.with_day(1).unwrap() + chrono::Duration::days(32)).with_day(1).unwrap()
}

/// RFC 3339 at `start` plus `days` days and 12 hours (`hours` = 0: midnight exactly).
fn at(start: NaiveDate, days: i64, hours: u32) -> String {
    let d = start + chrono::Duration::days(days);
    d.and_hms_opt(hours, 0, 0).unwrap().and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn quick(s: &mut Settings) {
    s.delivery.evaluate_every_secs = 0.2;
    s.delivery.publish_reports = false;
}

/// An app whose API may register any kind of file under its temp dir.
async fn spawn_delivery(db: Db) -> TestApp {
    spawn_with(db, vec![], |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        allow_every_kind_from(s, dir);
        quick(s);
    })
    .await
}

/// Writes `plans.yaml` and registers it.
async fn register_plans(app: &TestApp, yaml: &str) {
    let file = app.write("plans.yaml", yaml);
    let (status, body) =
        app.post_json("/api/catalog/locations", &json!({"type": "file", "target": file.to_str().unwrap()})).await;
    assert_eq!(status, 201, "{body}");
}

/// Rewrites `plans.yaml` and re-reads it (through one of its entities).
async fn rewrite_plans(app: &TestApp, yaml: &str, entity: &str) {
    app.write("plans.yaml", yaml);
    let (status, body) = app.post_json("/api/catalog/refresh", &json!({ "entityRef": entity })).await;
    assert_eq!(status, 200, "{body}");
}

async fn findings(app: &TestApp, rule: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/portal/findings?rule={rule}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// (entity, severity, item) of each finding, sorted.
fn triples(found: &[Value]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = found
        .iter()
        .map(|f| {
            (
                f["entityRef"].as_str().unwrap_or_default().to_owned(),
                f["severity"].as_str().unwrap_or_default().to_owned(),
                f["details"]["item"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Polls `check` until it answers `Some`, for at most 20 seconds (findings are stored by a
/// background task every second).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(Instant::now() < deadline, "{what} did not happen within 20 s; last seen: {last}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits until the findings of `rule` are exactly `want` (entity, severity, item); answers them.
async fn expect_rule(app: &TestApp, rule: &str, want: &[(&str, &str, &str)]) -> Vec<Value> {
    let want: Vec<(String, String, String)> = {
        let mut w: Vec<_> = want.iter().map(|(e, s, i)| (e.to_string(), s.to_string(), i.to_string())).collect();
        w.sort();
        w
    };
    eventually(&format!("{rule} = {want:?}"), || async {
        let found = findings(app, rule).await;
        if triples(&found) == want { Ok(found) } else { Err(format!("{found:#?}")) }
    })
    .await
}

fn message(f: &Value) -> &str {
    f["message"].as_str().unwrap_or_default()
}

const GROUPS: &str = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-b}\nspec: {type: team, children: []}\n";

// ---------------------------------------------------------------------------------------------
// 1. The six rules, firing and clearing.

/// The plans of the rules test; each field is one change a test step makes.
struct RulePlans {
    /// When pay plans the wallet tokens shop needs (days from today).
    tokens: i64,
    /// shop's migration to pay's v2: none, or needed by this many days from today.
    migrate_by: Option<i64>,
    /// The old item done, the search need named right, the need on a platform not in the
    /// catalog gone, and stream's need on a product gone.
    tidy: bool,
    /// loner (a component calling pay-api without declaring it) is part of shop.
    loner_in_shop: bool,
}

impl RulePlans {
    fn yaml(&self) -> String {
        let old = if self.tidy {
            format!(
                "{{id: old-thing, title: Old thing, targetDate: \"{}\", status: done, deliveredAt: \"{}\"}}",
                day(-3),
                day(-4)
            )
        } else {
            format!("{{id: old-thing, title: Old thing, targetDate: \"{}\", status: planned}}", day(-3))
        };
        let replay_needs = if self.tidy {
            String::new()
        } else {
            format!("\n      needs: [{{on: \"product:shop\", item: one-click, neededBy: \"{}\"}}]", day(120))
        };
        let search_item = if self.tidy { "tokens" } else { "ghost" };
        let elsewhere = if self.tidy { "pay" } else { "platform:nowhere" };
        let loner_product = if self.loner_in_shop { ", product: shop" } else { "" };
        let migrate = match self.migrate_by {
            None => String::new(),
            Some(by) => format!(
                "\n    - id: migrate\n      title: Move to pay v2\n      targetDate: \"{}\"\n      status: planned\n      needs: [{{on: pay, item: v2, neededBy: \"{}\"}}]",
                day(85),
                day(by)
            ),
        };
        format!(
            r#"{GROUPS}---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {{name: pay-api}}
spec: {{type: openapi, lifecycle: production, owner: team-a, definition: x, platform: pay}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: loner}}
spec: {{type: service, lifecycle: production, owner: team-b{loner_product}}}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {{name: pay}}
spec:
  owner: team-a
  providesApis: [pay-api]
  roadmap:
    - {{id: tokens, title: Wallet tokens, targetDate: "{tokens}", status: planned}}
    - id: v2
      title: Pay API v2
      targetDate: "{d40}"
      status: in-progress
      changes: [{{api: pay-api, kind: breaking, effective: "{d90}"}}]
    - {old}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {{name: stream}}
spec:
  owner: team-a
  roadmap:
    - id: replay
      title: Replay of order events
      targetDate: "{d50}"
      status: planned{replay_needs}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: shop}}
spec:
  owner: team-b
  consumesApis: [pay-api]
  roadmap:
    - id: one-click
      title: One-click checkout
      targetDate: "{d100}"
      status: planned
      needs: [{{on: pay, item: tokens, neededBy: "{d30}"}}]
    - id: past-need
      title: Needed tokens yesterday
      targetDate: "{d100}"
      status: in-progress
      needs: [{{on: "platform:default/pay", item: tokens, neededBy: "{dm1}"}}]
    - id: search
      title: Search
      targetDate: "{d100}"
      status: planned
      needs: [{{on: pay, item: {search_item}, neededBy: "{d30}"}}]
    - id: elsewhere
      title: Needs a platform not in the catalog
      targetDate: "{d100}"
      status: planned
      needs: [{{on: "{elsewhere}", item: tokens, neededBy: "{d30}"}}]{migrate}
"#,
            tokens = day(self.tokens),
            d30 = day(30),
            d40 = day(40),
            d50 = day(50),
            d90 = day(90),
            d100 = day(100),
            dm1 = day(-1),
        )
    }
}

const SHOP: &str = "product:default/shop";
const PAY: &str = "platform:default/pay";
const STREAM: &str = "platform:default/stream";

async fn each_rule_fires_on_its_case_and_clears_when_the_plans_change(db: Db) {
    let app = spawn_delivery(db).await;
    let mut plans = RulePlans { tokens: 60, migrate_by: None, tidy: false, loner_in_shop: false };
    register_plans(&app, &plans.yaml()).await;

    // dependency-late: a warning while neededBy is ahead, an error once it has passed.
    let late =
        expect_rule(&app, "dependency-late", &[(SHOP, "warning", "one-click"), (SHOP, "error", "past-need")]).await;
    let warning = late.iter().find(|f| f["details"]["item"] == "one-click").unwrap();
    assert!(
        message(warning).contains(&format!(
            "needs platform:default/pay item 'tokens' by {}, but it is planned for {}",
            day(30),
            day(60)
        )),
        "{warning}"
    );
    let error = late.iter().find(|f| f["details"]["item"] == "past-need").unwrap();
    assert!(message(error).contains("the date has passed"), "{error}");

    let unplanned =
        expect_rule(&app, "dependency-not-planned", &[(SHOP, "warning", "search"), (SHOP, "warning", "elsewhere")])
            .await;
    let search = unplanned.iter().find(|f| f["details"]["item"] == "search").unwrap();
    assert!(message(search).contains("platform:default/pay has no item 'ghost' on its roadmap"), "{search}");
    let elsewhere = unplanned.iter().find(|f| f["details"]["item"] == "elsewhere").unwrap();
    assert!(message(elsewhere).contains("platform:default/nowhere is not in the catalog"), "{elsewhere}");
    let needs_product = expect_rule(&app, "platform-needs-product", &[(STREAM, "error", "replay")]).await;
    assert!(message(&needs_product[0]).contains("product:default/shop"), "{needs_product:#?}");
    let breaking = expect_rule(&app, "breaking-change-unplanned", &[(SHOP, "warning", "v2")]).await;
    let m = message(&breaking[0]);
    assert!(m.contains("breaking change to api:default/pay-api") && m.contains(&day(90)), "{m}");
    let overdue = expect_rule(&app, "plan-item-overdue", &[(PAY, "warning", "old-thing")]).await;
    assert!(message(&overdue[0]).contains(&format!("was due on {}", day(-3))), "{overdue:#?}");
    // Both items in progress have never had an update.
    let stale = expect_rule(&app, "plan-item-stale", &[(PAY, "info", "v2"), (SHOP, "info", "past-need")]).await;
    assert!(stale.iter().all(|f| message(f).contains("no status update ever")), "{stale:#?}");
    // The findings are mirrored into the entity's status, as governance's are.
    let (_, shop) = app.entity("product", "default", "shop").await;
    let names: Vec<&str> =
        shop["status"]["items"].as_array().unwrap().iter().filter_map(|i| i["error"]["name"].as_str()).collect();
    for rule in ["dependency-late", "dependency-not-planned", "breaking-change-unplanned", "plan-item-stale"] {
        assert!(names.contains(&rule), "{rule} not in {names:?}");
    }

    // The platform moves its date before the need: one-click's need is on time, past-need's
    // date has passed whatever the platform does.
    plans.tokens = 20;
    rewrite_plans(&app, &plans.yaml(), PAY).await;
    expect_rule(&app, "dependency-late", &[(SHOP, "error", "past-need")]).await;
    let (_, r) = app.get_json("/api/portal/roadmaps?product=shop").await;
    let one_click = r["items"].as_array().unwrap().iter().find(|i| i["id"] == "one-click").unwrap().clone();
    assert_eq!(one_click["needs"][0]["state"], "planned", "{one_click}");
    assert_eq!(
        one_click["needs"][0]["answeredBy"],
        json!({"ref": PAY, "item": "tokens", "targetDate": day(20), "status": "planned"})
    );

    // shop plans its migration, but needed after the change takes effect: still unplanned.
    plans.migrate_by = Some(95);
    rewrite_plans(&app, &plans.yaml(), SHOP).await;
    let (_, r) = app.get_json("/api/portal/roadmaps?platform=pay").await;
    let v2 = r["items"].as_array().unwrap().iter().find(|i| i["id"] == "v2").unwrap().clone();
    assert_eq!(v2["changes"][0]["affected"], json!([{"consumer": SHOP, "product": SHOP, "planned": false}]), "{v2}");
    expect_rule(&app, "breaking-change-unplanned", &[(SHOP, "warning", "v2")]).await;
    // Needed before `effective`: the breaking change is planned for, and the finding clears.
    plans.migrate_by = Some(80);
    rewrite_plans(&app, &plans.yaml(), SHOP).await;
    expect_rule(&app, "breaking-change-unplanned", &[]).await;
    let (_, r) = app.get_json("/api/portal/roadmaps?platform=pay").await;
    let v2 = r["items"].as_array().unwrap().iter().find(|i| i["id"] == "v2").unwrap().clone();
    assert_eq!(v2["changes"][0]["affected"][0]["planned"], true, "{v2}");

    // A consumer observed calling the API (not declaring it), part of no product: it plans
    // alone, and has no migration.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = app
        .post_json("/api/usage/events", &json!([{"time": now, "api": "pay-api", "consumer": "loner", "calls": 3}]))
        .await;
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");
    let loner = expect_rule(&app, "breaking-change-unplanned", &[("component:default/loner", "warning", "v2")]).await;
    assert_eq!(loner[0]["details"]["consumer"], "component:default/loner", "{loner:#?}");
    // Once part of shop, shop's migration covers it.
    plans.loner_in_shop = true;
    rewrite_plans(&app, &plans.yaml(), SHOP).await;
    expect_rule(&app, "breaking-change-unplanned", &[]).await;
    let (_, r) = app.get_json("/api/portal/roadmaps?platform=pay").await;
    let v2 = r["items"].as_array().unwrap().iter().find(|i| i["id"] == "v2").unwrap().clone();
    assert_eq!(
        v2["changes"][0]["affected"],
        json!([{"consumer": "component:default/loner", "product": SHOP, "planned": true},
               {"consumer": SHOP, "product": SHOP, "planned": true}]),
        "{v2}"
    );

    // The old item delivered, the need naming an item pay has, stream needing no product.
    plans.tidy = true;
    rewrite_plans(&app, &plans.yaml(), SHOP).await;
    expect_rule(&app, "plan-item-overdue", &[]).await;
    expect_rule(&app, "dependency-not-planned", &[]).await;
    expect_rule(&app, "platform-needs-product", &[]).await;

    // An update clears an item's staleness.
    let (status, body) = app
        .post_json(
            "/api/portal/roadmap/platform/default/pay/v2/updates",
            &json!({"health": "on-track", "note": "Going well."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    expect_rule(&app, "plan-item-stale", &[(SHOP, "info", "past-need")]).await;
    // What remains is the one late need and the one stale item.
    let (_, all) = app.get_json("/api/portal/findings").await;
    let delivery: Vec<(String, String, String)> = triples(
        &all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                [
                    "dependency-not-planned",
                    "dependency-late",
                    "platform-needs-product",
                    "breaking-change-unplanned",
                    "plan-item-overdue",
                    "plan-item-stale",
                ]
                .contains(&f["rule"].as_str().unwrap())
            })
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        delivery,
        vec![
            (SHOP.to_owned(), "error".to_owned(), "past-need".to_owned()),
            (SHOP.to_owned(), "info".to_owned(), "past-need".to_owned())
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. A platform's demand.

fn demand_yaml() -> String {
    format!(
        r#"{GROUPS}---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {{name: id}}
spec:
  owner: team-a
  roadmap:
    - {{id: passkeys, title: Passkeys, targetDate: "{d60}", status: in-progress}}
    - {{id: sso, title: Staff SSO, targetDate: "{d20}", status: planned, answers: [{{product: kiosk, item: staff}}]}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: app}}
spec:
  owner: team-b
  roadmap:
    - {{id: sign-in, title: Passkey sign-in, targetDate: "{d100}", status: planned, needs: [{{on: id, item: passkeys, neededBy: "{d90}"}}]}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: web}}
spec:
  owner: team-b
  roadmap:
    - {{id: login, title: Passkey login, targetDate: "{d100}", status: planned, needs: [{{on: id, item: passkeys, neededBy: "{d30}"}}]}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: kiosk}}
spec:
  owner: team-b
  roadmap:
    - {{id: staff, title: Staff sign-in, targetDate: "{d50}", status: planned, needs: [{{on: id, neededBy: "{d40}"}}]}}
    - {{id: gone, title: Dropped, targetDate: "{d50}", status: dropped, needs: [{{on: id, item: passkeys, neededBy: "{d10}"}}]}}
"#,
        d10 = day(10),
        d20 = day(20),
        d30 = day(30),
        d40 = day(40),
        d50 = day(50),
        d60 = day(60),
        d90 = day(90),
        d100 = day(100),
    )
}

async fn a_platforms_demand_lists_needs_earliest_first_with_conflicts(db: Db) {
    let app = spawn_delivery(db).await;
    register_plans(&app, &demand_yaml()).await;
    let (status, d) = app.get_json("/api/portal/platforms/default/id/demand").await;
    assert_eq!(status, 200, "{d}");
    let passkeys =
        json!({"ref": "platform:default/id", "item": "passkeys", "targetDate": day(60), "status": "in-progress"});
    let sso = json!({"ref": "platform:default/id", "item": "sso", "targetDate": day(20), "status": "planned"});
    // The dropped item's need is left out; the others earliest first.
    assert_eq!(
        d["needs"],
        json!([
            {"from": "product:default/web", "item": "login", "title": "Passkey login", "neededBy": day(30),
             "answeredBy": passkeys, "state": "late"},
            {"from": "product:default/kiosk", "item": "staff", "title": "Staff sign-in", "neededBy": day(40),
             "answeredBy": sso, "state": "planned"},
            {"from": "product:default/app", "item": "sign-in", "title": "Passkey sign-in", "neededBy": day(90),
             "answeredBy": passkeys, "state": "planned"},
        ]),
        "{d:#}"
    );
    // passkeys is needed by web and app at different dates: a conflict, earliest first.
    assert_eq!(
        d["conflicts"],
        json!([{"item": "passkeys", "targetDate": day(60), "neededBy": [
            {"product": "product:default/web", "item": "login", "date": day(30)},
            {"product": "product:default/app", "item": "sign-in", "date": day(90)},
        ]}]),
        "{d:#}"
    );
    // The platform's view carries its roadmap in descriptor order.
    let (_, p) = app.get_json("/api/portal/platforms/default/id").await;
    let ids: Vec<&str> = p["roadmap"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["passkeys", "sso"], "{p}");
    // The roadmaps, in target-date order, filtered by team and dates.
    let ids = |r: &Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
    };
    for (query, want) in [
        ("", vec!["sso", "gone", "staff", "passkeys", "sign-in", "login"]),
        ("?team=team-a", vec!["sso", "passkeys"]),
        (&format!("?from={}&to={}", day(30), day(60)), vec!["gone", "staff", "passkeys"]),
        (&format!("?team=group:default/team-b&to={}", day(50)), vec!["gone", "staff"]),
        ("?product=kiosk", vec!["gone", "staff"]),
    ] {
        let (status, r) = app.get_json(&format!("/api/portal/roadmaps{query}")).await;
        assert_eq!(status, 200, "{query}: {r}");
        assert_eq!(ids(&r), want, "{query}");
    }
    let (status, body) = app.get_json("/api/portal/roadmaps?from=soon").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("from"), "{body}");
    // Not a platform.
    for path in ["/api/portal/platforms/default/app/demand", "/api/portal/platforms/default/ghost/demand"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_error(&body, 404, "NotFoundError", "not_found");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Status updates.

fn update_yaml(with_v2: bool) -> String {
    let v2 = if with_v2 {
        format!("\n    - {{id: v2, title: Pay API v2, targetDate: \"{}\", status: in-progress}}", day(40))
    } else {
        String::new()
    };
    format!(
        "{GROUPS}---\napiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata: {{name: pay}}\nspec:\n  owner: team-a\n  roadmap:\n    - {{id: cards, title: Cards, targetDate: \"{}\", status: planned}}{v2}\n",
        day(30)
    )
}

const V2: &str = "/api/portal/roadmap/platform/default/pay/v2/updates";

async fn updates_are_checked_kept_newest_first_and_outlive_their_item(db: Db) {
    let app = spawn_delivery(db).await;
    register_plans(&app, &update_yaml(true)).await;
    let (status, first) =
        app.post_json(V2, &json!({"health": "on-track", "note": "Design reviewed.", "progress": 40})).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (&first["ref"], &first["item"], &first["health"], &first["note"], &first["progress"]),
        (&json!(PAY), &json!("v2"), &json!("on-track"), &json!("Design reviewed."), &json!(40)),
        "{first}"
    );
    assert!(first["id"].is_i64() && first["at"].is_string() && first["by"].is_string(), "{first}");
    let (status, second) =
        app.post_json(V2, &json!({"health": "at-risk", "note": "A week late.", "progress": 0})).await;
    assert_eq!(status, 201, "{second}");
    let (status, third) = app.post_json(V2, &json!({"health": "off-track", "note": "Blocked on the acquirer."})).await;
    assert_eq!(status, 201, "{third}");
    assert!(third.get("progress").is_none(), "{third}");

    let (status, h) = app.get_json(V2).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(
        (&h["ref"], &h["item"], &h["status"], &h["current"]),
        (&json!(PAY), &json!("v2"), &json!("in-progress"), &json!(true))
    );
    let notes: Vec<&str> = h["updates"].as_array().unwrap().iter().map(|u| u["note"].as_str().unwrap()).collect();
    assert_eq!(notes, ["Blocked on the acquirer.", "A week late.", "Design reviewed."], "newest first: {h}");
    assert_eq!(h["updates"][2], first);
    // The item's health and last update in the views.
    let (_, r) = app.get_json("/api/portal/roadmaps?platform=platform:default/pay").await;
    let v2 = r["items"].as_array().unwrap().iter().find(|i| i["id"] == "v2").unwrap().clone();
    assert_eq!(v2["health"], "off-track", "{v2}");
    assert_eq!(v2["lastUpdate"], third, "{v2}");

    // Refused, naming the field.
    for (body, field) in [
        (json!({"health": "great", "note": "x"}), "health"),
        (json!({"note": "x"}), "health"),
        (json!({"health": "on-track", "note": "x", "progress": 101}), "progress"),
        (json!({"health": "on-track", "note": "x", "progress": -1}), "progress"),
        (json!({"health": "on-track", "note": "x", "progress": 2.5}), "progress"),
        (json!({"health": "on-track"}), "note"),
        (json!({"health": "on-track", "note": "  "}), "note"),
    ] {
        let (status, answer) = app.post_json(V2, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_error(&answer, 400, "InputError", "invalid_input");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body} should name {field}: {answer}");
    }
    // Nothing refused was kept.
    let (_, h) = app.get_json(V2).await;
    assert_eq!(h["updates"].as_array().unwrap().len(), 3, "{h}");

    // Unknown items, entities and kinds.
    let (status, answer) = app
        .post_json("/api/portal/roadmap/platform/default/pay/nope/updates", &json!({"health": "on-track", "note": "x"}))
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_error(&answer, 404, "NotFoundError", "not_found");
    assert!(answer["error"]["message"].as_str().unwrap().contains("'nope'"), "{answer}");
    for path in [
        "/api/portal/roadmap/platform/default/pay/nope/updates",
        "/api/portal/roadmap/platform/default/ghost/v2/updates",
        "/api/portal/roadmap/component/default/pay/v2/updates",
    ] {
        let (status, answer) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }

    // The descriptor drops v2: its history stays, as history; no new update is taken.
    rewrite_plans(&app, &update_yaml(false), PAY).await;
    let h = eventually("v2 no longer current", || async {
        let (status, h) = app.get_json(V2).await;
        if status == 200 && h["current"] == false { Ok(h) } else { Err(format!("{status} {h}")) }
    })
    .await;
    assert_eq!(h["status"], "dropped", "{h}");
    assert_eq!(h["updates"].as_array().unwrap().len(), 3, "{h}");
    let (status, answer) = app.post_json(V2, &json!({"health": "on-track", "note": "x"})).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("'v2'"), "{answer}");
}

/// Runs one SQL statement against the test's database.
fn sql(db: Db, url: &str, statement: &str) -> usize {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    match db {
        Db::Sqlite => {
            let mut c = diesel::sqlite::SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
            c.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
            diesel::sql_query(statement).execute(&mut c).unwrap()
        }
        Db::Postgres => {
            let mut c = diesel::pg::PgConnection::establish(url).unwrap();
            diesel::sql_query(statement).execute(&mut c).unwrap()
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// plan-item-stale with the clock moved in the database, not slept.
async fn an_item_without_a_recent_update_is_stale_until_one_is_recorded(db: Db) {
    let app = spawn_delivery(db).await;
    register_plans(&app, &update_yaml(true)).await;
    let stale = expect_rule(&app, "plan-item-stale", &[(PAY, "info", "v2")]).await;
    assert!(message(&stale[0]).contains("no status update ever (more than 14 days)"), "{stale:#?}");
    let (status, body) = app.post_json(V2, &json!({"health": "on-track", "note": "Started."})).await;
    assert_eq!(status, 201, "{body}");
    expect_rule(&app, "plan-item-stale", &[]).await;

    // Thirteen days old: not stale yet (the rule is judged every 0.2 s and stored every second).
    assert_eq!(
        sql(db, &app.database_url, &format!("UPDATE plan_updates SET created_at = created_at - {}", 13 * DAY_MS)),
        1
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(findings(&app, "plan-item-stale").await, Vec::<Value>::new());
    // Twenty days old: stale, saying since when.
    assert_eq!(
        sql(db, &app.database_url, &format!("UPDATE plan_updates SET created_at = created_at - {}", 7 * DAY_MS)),
        1
    );
    let stale = expect_rule(&app, "plan-item-stale", &[(PAY, "info", "v2")]).await;
    assert!(message(&stale[0]).contains(&format!("no status update since {}", day(-20))), "{stale:#?}");
    // A fresh update clears it.
    let (status, body) = app.post_json(V2, &json!({"health": "at-risk", "note": "Back at it."})).await;
    assert_eq!(status, 201, "{body}");
    expect_rule(&app, "plan-item-stale", &[]).await;
    let (_, h) = app.get_json(V2).await;
    let notes: Vec<&str> = h["updates"].as_array().unwrap().iter().map(|u| u["note"].as_str().unwrap()).collect();
    assert_eq!(notes, ["Back at it.", "Started."], "{h}");
    assert!(h["updates"][1]["at"].as_str().unwrap().starts_with(&day(-20)), "{h}");
}

const PLAN_TOKEN: &str = "ptk_config-plan-token-0123456789abcdef";

/// Who may record an update: the entity's owner, admins and `plan:write` tokens.
async fn only_owners_admins_and_plan_writers_record_updates(db: Db) {
    let plans = format!(
        "apiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {{name: shop}}\nspec:\n  owner: team-a\n  roadmap:\n    - {{id: v2, title: V2, targetDate: \"{}\", status: in-progress}}\n",
        day(40)
    );
    let app = spawn_secured_with(db, &[("plans.yaml", &plans)], |s, _| {
        quick(s);
        s.auth.as_mut().unwrap().tokens.service.push(config_token("planner", PLAN_TOKEN, "plan:write"));
    })
    .await;
    let roles = Roles::new();
    let path = "/api/portal/roadmap/product/default/shop/v2/updates";
    let body = json!({"health": "on-track", "note": "Fine."});
    for (who, token, want) in [
        ("anonymous", None, 401),
        ("reader", Some(roles.reader.as_str()), 403),
        ("non-owner (bob)", Some(roles.bob.as_str()), 403),
        ("catalog:write token", Some(CONFIG_TOKEN), 403),
        ("owner (alice)", Some(roles.alice.as_str()), 201),
        ("admin (carol)", Some(roles.carol.as_str()), 201),
        ("plan:write token", Some(PLAN_TOKEN), 201),
    ] {
        let (status, answer) = call(&app, "POST", path, token, Some(&body)).await;
        assert_eq!(status, want, "POST as {who}: {answer}");
    }
    let (status, h) = call(&app, "GET", path, Some(&roles.bob), None).await;
    assert_eq!(status, 200, "anyone signed in reads: {h}");
    let by: Vec<&str> = h["updates"].as_array().unwrap().iter().map(|u| u["by"].as_str().unwrap()).collect();
    assert_eq!(by, ["service:planner", "user:default/carol", "user:default/alice"], "{h}");
    let (status, _) = call(&app, "GET", path, None, None).await;
    assert_eq!(status, 401);
}

// ---------------------------------------------------------------------------------------------
// 4-6. Value reports.

/// The report fixture: shop (retail) with three KPIs, pay (retail) and kiosk (stores), with
/// items due and delivered in the previous month (`s` is its first day).
fn report_yaml(s: NaiveDate) -> String {
    let end = next_month(s);
    format!(
        r#"{GROUPS}---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {{name: retail}}
spec: {{owner: team-a}}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {{name: stores}}
spec: {{owner: team-b}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: shop}}
spec:
  owner: team-b
  domain: retail
  kpis:
    - {{name: conversion, target: 3, direction: increase}}
    - {{name: wait-secs, target: 90, direction: decrease}}
    - {{name: nps}}
  roadmap:
    - {{id: a, title: A, targetDate: "{s9}", status: done, deliveredAt: "{s4}", expectedImpact: [{{kpi: conversion, target: 3.2}}]}}
    - {{id: b, title: B, targetDate: "{s19}", status: done, deliveredAt: "{s24}", expectedImpact: [{{kpi: wait-secs, target: 80}}]}}
    - {{id: c, title: C, targetDate: "{s14}", status: planned, needs: [{{on: pay, item: ghost, neededBy: "{e60}"}}]}}
    - {{id: d, title: D, targetDate: "{s5}", status: dropped}}
    - {{id: e, title: E, targetDate: "{e60}", status: planned, needs: [{{on: pay, item: t, neededBy: "{e30}"}}]}}
    - {{id: f, title: F, targetDate: "{sm20}", status: done, deliveredAt: "{s1}"}}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {{name: kiosk}}
spec:
  owner: team-b
  domain: stores
  roadmap:
    - {{id: k1, title: K1, targetDate: "{s3}", status: done, deliveredAt: "{s3}"}}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {{name: pay}}
spec:
  owner: team-a
  domain: retail
  roadmap:
    - {{id: t, title: T, targetDate: "{e90}", status: planned}}
    - {{id: p1, title: P1, targetDate: "{s2}", status: done, deliveredAt: "{s1}"}}
    - {{id: p2, title: P2, targetDate: "{s27}", status: in-progress}}
"#,
        s1 = plus(s, 1),
        s2 = plus(s, 2),
        s3 = plus(s, 3),
        s4 = plus(s, 4),
        s5 = plus(s, 5),
        s9 = plus(s, 9),
        s14 = plus(s, 14),
        s19 = plus(s, 19),
        s24 = plus(s, 24),
        s27 = plus(s, 27),
        sm20 = plus(s, -20),
        e30 = plus(end, 30),
        e60 = plus(end, 60),
        e90 = plus(end, 90),
    )
}

/// The report fixture registered, with KPI values before, in and at the end of the month.
async fn spawn_report_fixture(db: Db) -> (TestApp, NaiveDate) {
    let s = last_month();
    let app = spawn_delivery(db).await;
    register_plans(&app, &report_yaml(s)).await;
    let values = json!([
        {"kpi": "conversion", "time": at(s, -10, 12), "value": 2.0},
        {"kpi": "conversion", "time": at(s, 15, 12), "value": 3.5},
        // At the period's end exactly: after it.
        {"kpi": "conversion", "time": at(next_month(s), 0, 0), "value": 1.0},
        {"kpi": "wait-secs", "time": at(s, 2, 12), "value": 100},
        {"kpi": "wait-secs", "time": at(s, 20, 12), "value": 95},
        {"kpi": "nps", "time": at(s, 3, 12), "value": 40},
    ]);
    let (status, body) = app.post_json("/api/portal/products/default/shop/kpis", &values).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 6, "{body}");
    (app, s)
}

fn totals(on_track: i64, total: i64, met: i64, due: i64, at_risk: i64) -> Value {
    json!({"kpisOnTrack": on_track, "kpisTotal": total, "commitmentsMet": met, "commitmentsDue": due, "dependenciesAtRisk": at_risk})
}

async fn a_value_report_gives_the_figures_computed_by_hand(db: Db) {
    let (app, s) = spawn_report_fixture(db).await;
    let p = period(s);
    let (status, r) = app.get_json(&format!("/api/portal/reports/value?period={p}")).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((&r["period"], &r["snapshot"]), (&json!(p), &json!(false)), "{r}");
    let refs = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|x| x["ref"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(refs(&r["products"]), ["product:default/kiosk", "product:default/shop"]);
    assert_eq!(refs(&r["platforms"]), ["platform:default/pay"]);

    let shop = &r["products"][1];
    assert_eq!((&shop["team"], &shop["domain"]), (&json!("group:default/team-b"), &json!("domain:default/retail")));
    // KPIs: the last value before the start and before the end (the value at the end is after).
    assert_eq!(
        shop["kpis"],
        json!([
            {"name": "conversion", "target": 3.0, "direction": "increase", "atStart": 2.0, "atEnd": 3.5, "onTrack": true},
            {"name": "wait-secs", "target": 90.0, "direction": "decrease", "atStart": null, "atEnd": 95.0, "onTrack": false},
            {"name": "nps", "target": null, "direction": "increase", "atStart": null, "atEnd": 40.0, "onTrack": null},
        ]),
        "{shop:#}"
    );
    // Delivered in the month: a on time, b late, f (due the month before) late.
    assert_eq!(
        shop["delivered"],
        json!([
            {"item": "a", "title": "A", "targetDate": plus(s, 9), "deliveredAt": plus(s, 4), "onTime": true},
            {"item": "b", "title": "B", "targetDate": plus(s, 19), "deliveredAt": plus(s, 24), "onTime": false},
            {"item": "f", "title": "F", "targetDate": plus(s, -20), "deliveredAt": plus(s, 1), "onTime": false},
        ]),
        "{shop:#}"
    );
    // Due in the month: a (met), b (delivered late), c (not delivered); d is dropped.
    assert_eq!(
        shop["slipped"],
        json!([{"item": "b", "title": "B", "targetDate": plus(s, 19)}, {"item": "c", "title": "C", "targetDate": plus(s, 14)}])
    );
    assert_eq!((&shop["commitmentsMet"], &shop["commitmentsDue"]), (&json!(1), &json!(3)), "{shop:#}");
    assert_eq!(
        shop["expectedImpact"],
        json!([
            {"item": "a", "kpi": "conversion", "target": 3.2, "actual": 3.5, "met": true},
            {"item": "b", "kpi": "wait-secs", "target": 80.0, "actual": 95.0, "met": false},
        ]),
        "{shop:#}"
    );
    // c's need is unplanned, e's late.
    assert_eq!(shop["dependenciesAtRisk"], 2, "{shop:#}");

    let kiosk = &r["products"][0];
    assert_eq!(
        (&kiosk["commitmentsMet"], &kiosk["commitmentsDue"], &kiosk["kpis"]),
        (&json!(1), &json!(1), &json!([]))
    );

    let pay = &r["platforms"][0];
    assert_eq!(pay["delivered"].as_array().unwrap().len(), 1, "{pay:#}");
    assert_eq!(pay["slipped"], json!([{"item": "p2", "title": "P2", "targetDate": plus(s, 27)}]));
    assert_eq!((&pay["commitmentsMet"], &pay["commitmentsDue"]), (&json!(1), &json!(2)), "{pay:#}");
    // Aimed at pay and not done: c's and e's needs.
    assert_eq!((&pay["openDemand"], &pay["dependenciesAtRisk"]), (&json!(2), &json!(0)), "{pay:#}");
    assert_eq!(pay["adoption"], json!({"active": 0, "new": 0, "churned": 0}));

    // Totals: KPIs 1 of 2 (nps has no target); commitments 1+1+1 of 3+1+2; 2 needs at risk.
    assert_eq!(r["totals"], totals(1, 2, 3, 6, 2), "{r:#}");
    // Within a domain, recomputed.
    let (_, retail) = app.get_json(&format!("/api/portal/reports/value?period={p}&domain=retail")).await;
    assert_eq!(refs(&retail["products"]), ["product:default/shop"]);
    assert_eq!(retail["totals"], totals(1, 2, 2, 5, 2), "{retail:#}");
    let (_, stores) = app.get_json(&format!("/api/portal/reports/value?period={p}&domain=domain:default/stores")).await;
    assert_eq!(stores["totals"], totals(0, 0, 1, 1, 0), "{stores:#}");
    assert_eq!(stores["platforms"], json!([]));
    // A quarter holding the month counts its commitments too; bad periods are refused.
    for bad in ["2026-13", "2026-Q5", "november"] {
        let (status, body) = app.get_json(&format!("/api/portal/reports/value?period={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("period"), "{body}");
    }
}

async fn the_csv_report_has_the_figures_of_the_json(db: Db) {
    let (app, s) = spawn_report_fixture(db).await;
    let p = period(s);
    for query in [format!("period={p}"), format!("period={p}&domain=retail")] {
        let (_, r) = app.get_json(&format!("/api/portal/reports/value?{query}")).await;
        let res = app.get(&format!("/api/portal/reports/value?{query}&format=csv")).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"), "{:?}", res.headers());
        let text = res.text().await.unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows[0],
            [
                "period",
                "section",
                "ref",
                "team",
                "domain",
                "kpis_on_track",
                "kpis_total",
                "commitments_met",
                "commitments_due",
                "dependencies_at_risk",
                "delivered",
                "slipped",
                "open_demand",
                "active_consumers",
                "new_consumers",
                "churned_consumers"
            ]
        );
        assert!(rows.iter().all(|r| r.len() == 16), "{text}");
        let n = |v: &Value| v.as_i64().unwrap().to_string();
        let len = |v: &Value| v.as_array().unwrap().len().to_string();
        let mut want: Vec<Vec<String>> = Vec::new();
        for x in r["products"].as_array().unwrap() {
            let kpis = x["kpis"].as_array().unwrap();
            let on = kpis.iter().filter(|k| k["onTrack"] == true).count();
            let total = kpis.iter().filter(|k| !k["target"].is_null()).count();
            want.push(vec![
                p.clone(),
                "product".into(),
                x["ref"].as_str().unwrap().into(),
                x["team"].as_str().unwrap().into(),
                x["domain"].as_str().unwrap().into(),
                on.to_string(),
                total.to_string(),
                n(&x["commitmentsMet"]),
                n(&x["commitmentsDue"]),
                n(&x["dependenciesAtRisk"]),
                len(&x["delivered"]),
                len(&x["slipped"]),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for x in r["platforms"].as_array().unwrap() {
            want.push(vec![
                p.clone(),
                "platform".into(),
                x["ref"].as_str().unwrap().into(),
                x["team"].as_str().unwrap().into(),
                x["domain"].as_str().unwrap().into(),
                String::new(),
                String::new(),
                n(&x["commitmentsMet"]),
                n(&x["commitmentsDue"]),
                n(&x["dependenciesAtRisk"]),
                len(&x["delivered"]),
                len(&x["slipped"]),
                n(&x["openDemand"]),
                n(&x["adoption"]["active"]),
                n(&x["adoption"]["new"]),
                n(&x["adoption"]["churned"]),
            ]);
        }
        let t = &r["totals"];
        want.push(
            [
                p.as_str(),
                "total",
                "",
                "",
                "",
                &n(&t["kpisOnTrack"]),
                &n(&t["kpisTotal"]),
                &n(&t["commitmentsMet"]),
                &n(&t["commitmentsDue"]),
                &n(&t["dependenciesAtRisk"]),
                "",
                "",
                "",
                "",
                "",
                "",
            ]
            .map(String::from)
            .to_vec(),
        );
        let got: Vec<Vec<String>> = rows[1..].iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
        assert_eq!(got, want, "{query}:\n{text}");
    }
    // The CSV of the whole report carries the figures computed by hand.
    let text = app.get(&format!("/api/portal/reports/value?period={p}&format=csv")).await.text().await.unwrap();
    assert_eq!(text.lines().last().unwrap(), format!("{p},total,,,,1,2,3,6,2,,,,,,"), "{text}");
    let (status, body) = app.get_json(&format!("/api/portal/reports/value?period={p}&format=xml")).await;
    assert_eq!(status, 400, "{body}");
}

async fn a_stored_report_keeps_its_figures_after_the_descriptors_change(db: Db) {
    let (app, s) = spawn_report_fixture(db).await;
    let p = period(s);
    let (status, history) = app.get_json("/api/portal/reports/value/history").await;
    assert_eq!((status, &history["periods"]), (200, &json!([])), "{history}");
    let (status, stored) = app.post_json(&format!("/api/portal/reports/value/{p}/publish"), &json!({})).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!((&stored["period"], &stored["snapshot"]), (&json!(p), &json!(true)), "{stored}");
    assert_eq!(stored["totals"], totals(1, 2, 3, 6, 2), "{stored:#}");

    // c is delivered on time after all, kiosk goes away, and conversion drops in the month.
    let changed = report_yaml(s)
        .replace(
            &format!("{{id: c, title: C, targetDate: \"{}\", status: planned,", plus(s, 14)),
            &format!(
                "{{id: c, title: C, targetDate: \"{}\", status: done, deliveredAt: \"{}\",",
                plus(s, 14),
                plus(s, 14)
            ),
        )
        .split("---\n")
        .filter(|doc| !doc.contains("{name: kiosk}"))
        .collect::<Vec<_>>()
        .join("---\n");
    assert!(changed.contains("status: done, deliveredAt") && !changed.contains("kiosk"), "{changed}");
    rewrite_plans(&app, &changed, SHOP).await;
    let (status, body) = app
        .post_json(
            "/api/portal/products/default/shop/kpis",
            &json!([{"kpi": "conversion", "time": at(s, 25, 12), "value": 1.5}]),
        )
        .await;
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");
    // The change is read: the live roadmap has c done and no kiosk.
    eventually("c done in the roadmap", || async {
        let (_, r) = app.get_json("/api/portal/roadmaps?product=shop").await;
        let c = r["items"].as_array().and_then(|i| i.iter().find(|i| i["id"] == "c").cloned());
        match c {
            Some(c) if c["status"] == "done" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (status, _) = app.get_json("/api/portal/products/default/kiosk").await;
    assert_eq!(status, 404);

    // The stored period answers what was true when it was stored.
    let (status, again) = app.get_json(&format!("/api/portal/reports/value?period={p}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, stored, "the snapshot is unchanged");
    // A domain filter applies to the snapshot (kiosk is still in it).
    let (_, stores) = app.get_json(&format!("/api/portal/reports/value?period={p}&domain=stores")).await;
    assert_eq!((&stores["snapshot"], &stores["totals"]), (&json!(true), &totals(0, 0, 1, 1, 0)), "{stores:#}");
    // A quarter holding the month is not stored: computed now, with c met and kiosk gone.
    let q = format!("{}-Q{}", s.year(), (s.month() - 1) / 3 + 1);
    let (_, live) = app.get_json(&format!("/api/portal/reports/value?period={q}")).await;
    assert_eq!(live["snapshot"], false, "{live}");
    assert!(live["products"].as_array().unwrap().iter().all(|x| x["ref"] != "product:default/kiosk"), "{live:#}");

    // Never rewritten.
    let (status, body) = app.post_json(&format!("/api/portal/reports/value/{p}/publish"), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, 409, "ConflictError", "conflict");
    let (_, again) = app.get_json(&format!("/api/portal/reports/value?period={p}")).await;
    assert_eq!(again, stored);
    let (status, body) = app.post_json("/api/portal/reports/value/2026-13/publish", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    // A period still running (or to come) is not stored: its snapshot would keep its first days.
    let this_month = period(next_month(s));
    let next = period(next_month(next_month(s)));
    let quarter = format!("{}-Q{}", today().year(), (today().month() - 1) / 3 + 1);
    for running in [&this_month, &next, &quarter] {
        let (status, body) = app.post_json(&format!("/api/portal/reports/value/{running}/publish"), &json!({})).await;
        assert_eq!(status, 400, "{running}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("has not ended"), "{body}");
        let (_, r) = app.get_json(&format!("/api/portal/reports/value?period={running}")).await;
        assert_eq!(r["snapshot"], false, "{r}");
    }

    // The history lists it with the stored totals, oldest first (the month before, stored
    // after it, comes first).
    let before = period(last_month_of(s));
    let (status, earlier) = app.post_json(&format!("/api/portal/reports/value/{before}/publish"), &json!({})).await;
    assert_eq!(status, 201, "{earlier}");
    let (_, history) = app.get_json("/api/portal/reports/value/history").await;
    assert_eq!(
        history["periods"],
        json!([
            {"period": before, "generatedAt": earlier["generatedAt"], "totals": earlier["totals"]},
            {"period": p, "generatedAt": stored["generatedAt"], "totals": stored["totals"]},
        ]),
        "{history}"
    );
    let (_, history) = app.get_json("/api/portal/reports/value/history?domain=retail").await;
    assert_eq!(history["periods"][1]["totals"], totals(1, 2, 2, 5, 2), "{history}");
}

/// Publishing needs an admin.
async fn only_admins_publish_a_report(db: Db) {
    let app = spawn_secured(db, |s, _| quick(s)).await;
    let roles = Roles::new();
    let p = period(last_month());
    let path = format!("/api/portal/reports/value/{p}/publish");
    for (who, token, want) in [
        ("anonymous", None, 401),
        ("reader", Some(roles.reader.as_str()), 403),
        ("owner of something (alice)", Some(roles.alice.as_str()), 403),
        ("catalog:write token", Some(CONFIG_TOKEN), 403),
        ("admin (carol)", Some(roles.carol.as_str()), 201),
    ] {
        let (status, body) = call(&app, "POST", &path, token, Some(&json!({}))).await;
        assert_eq!(status, want, "publish as {who}: {body}");
    }
    let (status, r) =
        call(&app, "GET", &format!("/api/portal/reports/value?period={p}"), Some(&roles.reader), None).await;
    assert_eq!((status, &r["snapshot"]), (200, &json!(true)), "{r}");
}

// ---------------------------------------------------------------------------------------------
// 7. Bad roadmaps.

fn bad_input_yaml(item: &str) -> String {
    format!(
        "{GROUPS}---\napiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {{name: shop}}\nspec:\n  owner: team-b\n  kpis: [{{name: conversion}}]\n  roadmap:\n{item}"
    )
}

const GOOD_ITEM: &str = "    - {id: a, title: Good, targetDate: 2027-Q1, status: planned, expectedImpact: [{kpi: conversion, target: 3}]}\n";

async fn a_bad_roadmap_is_a_location_error_and_the_last_good_version_stays(db: Db) {
    let app = spawn_delivery(db).await;
    register_plans(&app, &bad_input_yaml(GOOD_ITEM)).await;
    for (bad, path, says) in [
        (
            format!("{GOOD_ITEM}    - {{id: a, title: Again, targetDate: 2027-Q2, status: planned}}\n"),
            "/spec/roadmap/1/id",
            "\"a\" is already the id of item 0",
        ),
        (
            "    - {id: a, title: Bad day, targetDate: 2027-02-30, status: planned}\n".to_owned(),
            "/spec/roadmap/0/targetDate",
            "\"2027-02-30\" is not a date",
        ),
        (
            "    - {id: a, title: Bad need, targetDate: 2027-Q1, status: planned, needs: [{on: \"platform:pay\", neededBy: 2027-02-30}]}\n".to_owned(),
            "/spec/roadmap/0/needs/0/neededBy",
            "\"2027-02-30\" is not a date",
        ),
        (
            "    - {id: a, title: On a component, targetDate: 2027-Q1, status: planned, needs: [{on: \"component:svc\", neededBy: 2027-01-31}]}\n".to_owned(),
            "/spec/roadmap/0/needs/0/on",
            "expected a product or platform ref",
        ),
        (
            "    - {id: a, title: Other KPI, targetDate: 2027-Q1, status: planned, expectedImpact: [{kpi: nps, target: 3}]}\n".to_owned(),
            "/spec/roadmap/0/expectedImpact/0/kpi",
            "\"nps\" is not a KPI of this product; it declares conversion",
        ),
        (
            "    - {id: a, title: Done when?, targetDate: 2027-Q1, status: done}\n".to_owned(),
            "/spec/roadmap/0/deliveredAt",
            "required",
        ),
    ] {
        rewrite_plans(&app, &bad_input_yaml(&bad), SHOP).await;
        let (_, errors) = app.get_json("/api/catalog/errors").await;
        let items = errors["items"].as_array().unwrap();
        assert!(
            items.iter().any(|i| i["path"] == path
                && i["entityRef"] == SHOP
                && i["message"].as_str().unwrap_or_default().contains(says)),
            "{path} ({says}) not among the errors: {errors:#}"
        );
        let (_, locations) = app.get_json("/api/catalog/locations").await;
        let last = locations[0]["data"]["lastError"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(last.contains("problem(s)"), "{locations}");
        // The last good version stays, in the catalog and in the delivery views.
        let (status, e) = app.entity("product", "default", "shop").await;
        assert_eq!(status, 200);
        assert_eq!(e["spec"]["roadmap"], json!([{"id": "a", "title": "Good", "targetDate": "2027-Q1", "status": "planned", "expectedImpact": [{"kpi": "conversion", "target": 3}]}]), "{e}");
        let (_, r) = app.get_json("/api/portal/roadmaps?product=shop").await;
        let titles: Vec<&str> = r["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Good"], "{r}");
    }
    // Fixed: no error left.
    rewrite_plans(&app, &bad_input_yaml(&GOOD_ITEM.replace("Good", "Better")), SHOP).await;
    let (_, errors) = app.get_json("/api/catalog/errors").await;
    assert_eq!(errors["items"], json!([]), "{errors}");
    let (_, r) = app.get_json("/api/portal/roadmaps?product=shop").await;
    assert_eq!(r["items"][0]["title"], "Better", "{r}");
}

both!(
    each_rule_fires_on_its_case_and_clears_when_the_plans_change,
    a_platforms_demand_lists_needs_earliest_first_with_conflicts,
    updates_are_checked_kept_newest_first_and_outlive_their_item,
    an_item_without_a_recent_update_is_stale_until_one_is_recorded,
    only_owners_admins_and_plan_writers_record_updates,
    a_value_report_gives_the_figures_computed_by_hand,
    the_csv_report_has_the_figures_of_the_json,
    a_stored_report_keeps_its_figures_after_the_descriptors_change,
    only_admins_publish_a_report,
    a_bad_roadmap_is_a_location_error_and_the_last_good_version_stays,
    the_demo_fires_every_delivery_rule_once_and_fills_the_reports,
);

// ---------------------------------------------------------------------------------------------
// 8. The demo.

const RULES: [&str; 6] = [
    "dependency-not-planned",
    "dependency-late",
    "platform-needs-product",
    "breaking-change-unplanned",
    "plan-item-overdue",
    "plan-item-stale",
];

/// After `portolan demo-traffic`, every delivery rule fires exactly once on the demo catalog,
/// and the reports of this month and the last have something to show.
async fn the_demo_fires_every_delivery_rule_once_and_fills_the_reports(db: Db) {
    let app = spawn_with(db, vec![demo_catalog()], |s, _| quick(s)).await;
    let (code, out, err) = portolan(&["demo-traffic", "--days", "40", "--url", &app.address]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("roadmap status updates"), "{out}");
    let counts = eventually("every delivery rule once", || async {
        let mut counts = Vec::new();
        let mut all = Vec::new();
        for rule in RULES {
            let found = findings(&app, rule).await;
            counts.push((rule, found.len()));
            all.extend(found);
        }
        if counts.iter().all(|(_, n)| *n == 1) {
            Ok(counts)
        } else {
            let lines: Vec<String> =
                all.iter().map(|f| format!("{} {}: {}", f["rule"], f["entityRef"], f["message"])).collect();
            Err(format!("{counts:?}\n{}", lines.join("\n")))
        }
    })
    .await;
    assert_eq!(counts.len(), 6);
    // The ones the demo's comments promise.
    for (rule, entity) in [
        ("dependency-late", "product:default/checkout"),
        ("dependency-not-planned", "product:default/online-search"),
        ("platform-needs-product", "platform:default/event-streaming"),
        ("breaking-change-unplanned", "product:default/gift-cards"),
        ("plan-item-overdue", "platform:default/payments"),
    ] {
        assert_eq!(findings(&app, rule).await[0]["entityRef"], entity, "{rule}");
    }
    // identity's passkeys: a conflict in its demand.
    let (_, d) = app.get_json("/api/portal/platforms/default/identity/demand").await;
    assert_eq!(d["conflicts"][0]["item"], "passkeys-support", "{d:#}");

    // This month's report and last month's (stored by demo-traffic) are not empty.
    let (status, now) = app.get_json("/api/portal/reports/value").await;
    assert_eq!(status, 200, "{now}");
    assert!(
        !now["products"].as_array().unwrap().is_empty() && !now["platforms"].as_array().unwrap().is_empty(),
        "{now}"
    );
    assert!(now["totals"]["kpisTotal"].as_i64().unwrap() > 0, "{now}");
    let (_, last) = app.get_json(&format!("/api/portal/reports/value?period={}", period(last_month()))).await;
    assert_eq!(last["snapshot"], true, "{last}");
    assert!(
        last["products"].as_array().unwrap().iter().any(|p| p["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["atEnd"].is_number())),
        "{last:#}"
    );
    let (_, history) = app.get_json("/api/portal/reports/value/history").await;
    assert_eq!(history["periods"].as_array().unwrap().len(), 2, "{history}");

    let res = app.get("/delivery").await;
    assert_eq!(res.status(), 200, "GET /delivery");
}

/// The period-end task stores the last period's report on a new database at its first round
/// (`delivery.publish_every_secs` after start; five minutes by default), once.
async fn the_period_end_task_stores_the_last_period(db: Db) {
    let s = last_month();
    let app = spawn_with(db, vec![], |settings, dir| {
        settings.reading.file_roots = vec![dir.to_path_buf()];
        allow_every_kind_from(settings, dir);
        settings.delivery.evaluate_every_secs = 0.2;
        settings.delivery.publish_reports = true;
        settings.delivery.publish_every_secs = 8.0;
    })
    .await;
    register_plans(&app, &report_yaml(s)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = loop {
        let (_, h) = app.get_json("/api/portal/reports/value/history").await;
        if !h["periods"].as_array().unwrap().is_empty() {
            break h;
        }
        assert!(Instant::now() < deadline, "no report stored by the task within 60 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(history["periods"][0]["period"], period(s), "{history}");
    assert_eq!(history["periods"][0]["totals"]["commitmentsDue"], 6, "{history}");
    let (status, _) = app.post_json(&format!("/api/portal/reports/value/{}/publish", period(s)), &json!({})).await;
    assert_eq!(status, 409);
}

mod task {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_period_end_task_stores_the_last_period() {
        crate::helpers::install_tls();
        super::the_period_end_task_stores_the_last_period(crate::helpers::Db::Sqlite).await
    }
}
