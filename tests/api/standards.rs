//! Standards as code (docs/standards.md): scorecards written in CEL, judged against a
//! hand-written catalog: levels and weighted scores, checks reading the owner and the product, a
//! run-time error failing only its check, a compile error reported with its place, and the
//! judgement following a relation change two hops away (a system leaving its product).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const ORG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: shop}
spec: {owner: team-a, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: web
  description: The storefront
  annotations: {pagerduty.com/service-id: P123}
spec: {type: service, lifecycle: production, owner: team-a, system: sys}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: api-svc}
spec: {type: service, lifecycle: production, owner: team-b, system: sys, providesApis: [orders-api]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders-api}
spec: {type: openapi, lifecycle: production, owner: team-b, definition: openapi}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: ops}
spec: {type: team, children: []}
"#;

const SYSTEM_IN_SHOP: &str =
    "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: sys}\nspec: {owner: team-a, product: shop}\n";
const SYSTEM_ALONE: &str =
    "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: sys}\nspec: {owner: team-a}\n";

const SCORECARD: &str = r#"apiVersion: portolan.dev/v1alpha1
kind: Scorecard
metadata: {name: readiness, title: Production readiness}
spec:
  owner: ops
  description: What a production service needs
  filter: entity.kind == 'Component'
  levels: [bronze, silver, gold]
  checks:
    - id: owned
      level: bronze
      expression: owner != null && owner.kind == 'Group'
      message: Name a group as the owner
    - id: described
      level: silver
      weight: 2
      expression: has(entity.metadata.description)
      message: Write a description
    - id: on-call
      level: silver
      expression: "entity.metadata.annotations['pagerduty.com/service-id'] != ''"
      message: Add the PagerDuty service annotation
      severity: warning
    - id: in-product
      level: gold
      expression: product != null && product.metadata.name == 'shop' && relations.exists(r, r.type == 'partOf')
      message: Make it part of a product
"#;

const TRAFFIC: &str = r#"apiVersion: portolan.dev/v1alpha1
kind: Scorecard
metadata: {name: traffic}
spec:
  owner: ops
  filter: entity.kind == 'Component'
  levels: [used]
  checks:
    - id: called
      level: used
      expression: facts.usage.calls28d >= 10 && facts.usage.activeConsumers28d >= 1 && facts.usage.errors28d < 5
      message: Nobody calls it
"#;

async fn spawn_standards(db: Db) -> TestApp {
    let files =
        [("org.yaml", ORG), ("sys.yaml", SYSTEM_IN_SHOP), ("scorecard.yaml", SCORECARD), ("traffic.yaml", TRAFFIC)];
    spawn_with_yaml(db, &files, |_, _| {}).await
}

/// The scorecard view, once `ready` holds (the judgement follows the catalog's change feed).
async fn view_when(app: &TestApp, query: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = app.get_json(&format!("/api/portal/scorecards/default/readiness{query}")).await;
        assert_eq!(status, 200, "{body}");
        if ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "the scorecard never got there: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn standing<'a>(view: &'a Value, entity: &str) -> &'a Value {
    view["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entityRef"] == entity)
        .unwrap_or_else(|| panic!("{entity} in {view}"))
}

fn failing(e: &Value) -> Vec<&str> {
    e["failing"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect()
}

async fn levels_scores_and_run_time_errors(db: Db) {
    let app = spawn_standards(db).await;
    let v = view_when(&app, "", |v| v["entities"].as_array().is_some_and(|e| e.len() == 2)).await;
    assert_eq!(v["ref"], "scorecard:default/readiness", "{v}");
    assert_eq!(v["title"], "Production readiness");
    assert_eq!(v["owner"], "group:default/ops");
    // web passes everything: gold, score 1.
    let web = standing(&v, "component:default/web");
    assert_eq!(web["level"], "gold", "{web}");
    assert_eq!(web["score"], 1.0);
    assert_eq!(web["owner"], "group:default/team-a");
    // api-svc: no description (weight 2), no PagerDuty annotation (reading it is a run-time
    // error, which fails that check only), owned and in the product: bronze, (1 + 1) / 5.
    let api = standing(&v, "component:default/api-svc");
    assert_eq!(api["level"], "bronze", "{api}");
    assert_eq!(api["score"], 0.4);
    assert_eq!(failing(api), ["described", "on-call"]);
    assert_eq!(api["failing"][0]["message"], "Write a description");
    let err = api["failing"][1]["error"].as_str().unwrap();
    assert!(err.contains("pagerduty.com/service-id"), "{api}");
    assert!(api["failing"][1]["message"].as_str().unwrap().starts_with("the check could not run: "), "{api}");
    // Levels and pass rates.
    let counts: Vec<(String, u64)> = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().into(), l["entities"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("bronze".into(), 1), ("silver".into(), 0), ("gold".into(), 1)]);
    assert_eq!(v["unranked"], 0);
    let rates: Vec<f64> = v["checks"].as_array().unwrap().iter().map(|c| c["passRate"].as_f64().unwrap()).collect();
    assert_eq!(rates, [1.0, 0.5, 0.5, 1.0]);
    // The filter applies: only components, never the groups or the product.
    assert!(
        v["entities"].as_array().unwrap().iter().all(|e| e["entityRef"].as_str().unwrap().starts_with("component:"))
    );

    // Filters by owner and level; CSV.
    let v = view_when(&app, "?owner=team-b", |_| true).await;
    assert_eq!(v["entities"].as_array().unwrap().len(), 1, "{v}");
    let v = view_when(&app, "?level=gold", |_| true).await;
    assert_eq!(v["entities"][0]["entityRef"], "component:default/web", "{v}");
    let (status, body) = app.get_json("/api/portal/scorecards/default/readiness?level=platinum").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("platinum"), "{body}");
    let res = app.get("/api/portal/scorecards/default/readiness?format=csv").await;
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().next(), Some("entityRef,owner,level,score,failing"));
    assert!(csv.contains("component:default/api-svc,group:default/team-b,bronze,0.4,described on-call"), "{csv}");
    let (status, body) = app.get_json("/api/portal/scorecards/default/nope").await;
    assert_eq!(status, 404, "{body}");

    // The list of scorecards keeps the built-in items and gains this one.
    let (status, list) = app.get_json("/api/portal/scorecards").await;
    assert_eq!(status, 200, "{list}");
    assert!(list["items"].as_array().unwrap().iter().any(|i| i["entityRef"] == "product:default/shop"), "{list}");
    let mine = &list["scorecards"][0];
    assert_eq!(list["scorecards"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(mine["ref"], "scorecard:default/readiness", "{list}");
    assert_eq!(mine["levels"][2], json!({"name": "gold", "entities": 1}), "{list}");
    assert_eq!(mine["checks"][1], json!({"id": "described", "passRate": 0.5}), "{list}");

    // On demand: judged again at once.
    let (status, body) = app.post_json("/api/portal/scorecards/default/readiness/evaluate", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scorecards"], 1, "{body}");

    // The entity view's status.items list the scorecards judging it (both judge components).
    let (status, e) = app.entity("component", "default", "api-svc").await;
    assert_eq!(status, 200, "{e}");
    let items: Vec<&Value> =
        e["status"]["items"].as_array().unwrap().iter().filter(|i| i["type"] == "portolan.dev/scorecard").collect();
    assert_eq!(items.len(), 2, "{e}");
    let mine = items.iter().find(|i| i["scorecard"]["ref"] == "scorecard:default/readiness").expect("readiness");
    assert_eq!(mine["level"], "info");
    assert_eq!(
        mine["scorecard"],
        json!({"ref": "scorecard:default/readiness", "title": "Production readiness", "level": "bronze",
               "levels": ["bronze", "silver", "gold"], "score": 0.4, "failing": ["described", "on-call"]}),
        "{e}"
    );
    assert_eq!(mine["message"], "Production readiness: level bronze, score 0.4; failing: described, on-call", "{e}");
    // The product is not a component: no scorecard item.
    let (_, shop) = app.entity("product", "default", "shop").await;
    assert!(
        !shop["status"]["items"].as_array().into_iter().flatten().any(|i| i["type"] == "portolan.dev/scorecard"),
        "{shop}"
    );
}

const SHIPPING: &str = r#"apiVersion: portolan.dev/v1alpha1
kind: Scorecard
metadata: {name: shipping}
spec:
  owner: ops
  filter: entity.kind == 'Component'
  levels: [ships]
  checks:
    - id: deploys
      level: ships
      expression: facts.health.deploymentFrequency.deployments >= 1 && facts.health.changeFailureRate.failed == 0
"#;

async fn a_check_reads_the_facts_consumption_and_team_health_publish(db: Db) {
    let files = [
        ("org.yaml", ORG),
        ("sys.yaml", SYSTEM_IN_SHOP),
        ("scorecard.yaml", SCORECARD),
        ("traffic.yaml", TRAFFIC),
        ("shipping.yaml", SHIPPING),
    ];
    let app = spawn_with_yaml(db, &files, |_, _| {}).await;
    let path = "/api/portal/scorecards/default/traffic";
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let (status, v) = app.get_json(path).await;
        assert_eq!(status, 200, "{v}");
        if v["entities"].as_array().is_some_and(|e| e.len() == 2) || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // No traffic yet: api-svc provides an API called 0 times; web provides none, so it has no
    // usage facts and reading them is a run-time error of that check.
    assert_eq!(standing(&v, "component:default/api-svc")["level"], Value::Null, "{v}");
    assert!(standing(&v, "component:default/api-svc")["failing"][0].get("error").is_none(), "{v}");
    assert!(standing(&v, "component:default/web")["failing"][0]["error"].as_str().unwrap().contains("usage"), "{v}");

    let t = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let events = json!([
        {"time": t, "api": "orders-api", "consumer": "web", "calls": 9, "errors": 1},
        {"time": t, "api": "orders-api", "consumer": "web", "calls": 3},
    ]);
    let (status, body) = app.post_json("/api/usage/events", &events).await;
    assert_eq!(status, 200, "{body}");
    // Facts are read afresh on the timer or on demand.
    let (status, body) = app.post_json(&format!("{path}/evaluate"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, v) = app.get_json(path).await;
    let api = standing(&v, "component:default/api-svc");
    assert_eq!(api["level"], "used", "{v}");
    assert_eq!(api["score"], 1.0, "{v}");

    // Team health: web deploys to production once; its four keys are facts.
    let at = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dep = json!({"id": "d1", "entity": "component:default/web", "environment": "production", "status": "success", "finishedAt": at, "commitSha": "abc123"});
    let (status, body) = app.post_json("/api/deployments", &dep).await;
    assert_eq!(status, 200, "{body}");
    let path = "/api/portal/scorecards/default/shipping";
    let (status, body) = app.post_json(&format!("{path}/evaluate"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, v) = app.get_json(path).await;
    assert_eq!(standing(&v, "component:default/web")["level"], "ships", "{v}");
    let api = standing(&v, "component:default/api-svc");
    assert!(api["failing"][0]["error"].as_str().unwrap().contains("health"), "{v}");
}

/// The entities with a finding of `rule`, once there are `n` of them.
async fn findings_of(app: &TestApp, rule: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, f) = app.get_json(&format!("/api/portal/findings?rule={rule}")).await;
        assert_eq!(status, 200, "{f}");
        if f["items"].as_array().is_some_and(|i| i.len() == n) {
            return f;
        }
        assert!(Instant::now() < deadline, "never {n} findings of {rule}: {f}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_relation_change_two_hops_away_is_judged_again(db: Db) {
    let app = spawn_standards(db).await;
    view_when(&app, "", |v| v["entities"].as_array().is_some_and(|e| e.len() == 2)).await;
    // A failing check with a severity is a finding of rule <scorecard>/<check>.
    let f = findings_of(&app, "readiness/on-call", 1).await;
    assert_eq!(f["items"][0]["entityRef"], "component:default/api-svc", "{f}");
    assert_eq!(f["items"][0]["severity"], "warning", "{f}");
    assert!(
        f["items"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("on-call (scorecard:default/readiness): the check could not run"),
        "{f}"
    );
    // The system leaves the product: web's product changes through its system (two hops).
    let file = app.keep[0].path().join("sys.yaml");
    std::fs::write(&file, SYSTEM_ALONE).unwrap();
    assert_eq!(app.refresh("system:default/sys").await, 200);
    let v = view_when(&app, "", |v| standing(v, "component:default/web")["level"] == "silver").await;
    let web = standing(&v, "component:default/web");
    assert_eq!(failing(web), ["in-product"], "{web}");
    assert_eq!(web["score"], 0.8);
    // The entity's status.items show it at once: the read cache follows standards' writes.
    let (_, e) = app.entity("component", "default", "web").await;
    let item = e["status"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["scorecard"]["ref"] == "scorecard:default/readiness")
        .cloned()
        .unwrap_or_else(|| panic!("the readiness item: {e}"));
    assert_eq!(
        (&item["scorecard"]["level"], &item["scorecard"]["failing"]),
        (&json!("silver"), &json!(["in-product"]))
    );
    // And back; governance's own recomputations keep the check's finding.
    std::fs::write(&file, SYSTEM_IN_SHOP).unwrap();
    assert_eq!(app.refresh("system:default/sys").await, 200);
    view_when(&app, "", |v| standing(v, "component:default/web")["level"] == "gold").await;
    findings_of(&app, "readiness/on-call", 1).await;
}

/// Campaigns on the readiness scorecard, dated around now: one under way, one overdue, one
/// naming a check the scorecard lacks.
fn campaigns() -> String {
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    format!(
        r#"apiVersion: portolan.dev/v1alpha1
kind: Campaign
metadata: {{name: describe-all, title: Describe every service}}
spec: {{owner: ops, scorecard: readiness, checks: [described], start: "{}", due: "{}"}}
---
apiVersion: portolan.dev/v1alpha1
kind: Campaign
metadata: {{name: gold-rush}}
spec:
  owner: ops
  scorecard: readiness
  level: gold
  filter: entity.metadata.name in ['web', 'api-svc']
  start: "{}"
  due: "{}"
---
apiVersion: portolan.dev/v1alpha1
kind: Campaign
metadata: {{name: confused}}
spec: {{owner: ops, scorecard: readiness, checks: [described, nope], start: "{}", due: "{}"}}
"#,
        day(-10),
        day(9),
        day(-20),
        day(-2),
        day(-1),
        day(30)
    )
}

async fn campaigns_count_progress_judge_the_pace_and_find_the_overdue(db: Db) {
    let campaigns = campaigns();
    let files = [
        ("org.yaml", ORG),
        ("sys.yaml", SYSTEM_IN_SHOP),
        ("scorecard.yaml", SCORECARD),
        ("campaigns.yaml", campaigns.as_str()),
    ];
    let app = spawn_with_yaml(db, &files, |_, _| {}).await;
    view_when(&app, "", |v| v["entities"].as_array().is_some_and(|e| e.len() == 2)).await;

    // Half the time gone, half done (web is described, api-svc is not): on track.
    let (status, c) = app.get_json("/api/portal/campaigns/default/describe-all").await;
    assert_eq!(status, 200, "{c}");
    assert_eq!((c["inScope"].as_u64(), c["done"].as_u64()), (Some(2), Some(1)), "{c}");
    assert_eq!(c["onTrack"], "on-track", "{c}");
    assert_eq!(c["overdue"], false);
    assert_eq!(c["scorecard"], "scorecard:default/readiness");
    assert_eq!(c["title"], "Describe every service");
    assert_eq!(
        c["byOwner"],
        json!([{"owner": "group:default/team-a", "inScope": 1, "done": 1}, {"owner": "group:default/team-b", "inScope": 1, "done": 0}]),
        "{c}"
    );
    // Past its due date with one of two at gold: off track, and api-svc is overdue.
    let (_, c) = app.get_json("/api/portal/campaigns/default/gold-rush").await;
    assert_eq!((c["inScope"].as_u64(), c["done"].as_u64()), (Some(2), Some(1)), "{c}");
    assert_eq!(c["onTrack"], "off-track", "{c}");
    assert_eq!(c["overdue"], true);
    // A check the scorecard lacks: named with its place, no numbers.
    let (_, c) = app.get_json("/api/portal/campaigns/default/confused").await;
    assert_eq!(c["problems"][0]["path"], "/spec/checks/1", "{c}");
    assert_eq!(c["problems"][0]["message"], "scorecard:default/readiness has no check 'nope'", "{c}");
    assert_eq!(c["onTrack"], Value::Null);
    let (_, list) = app.get_json("/api/portal/campaigns").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    let (status, _) = app.get_json("/api/portal/campaigns/default/nope").await;
    assert_eq!(status, 404);

    // Findings: the overdue entity, and the campaign that names a missing check.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, f) = app.get_json("/api/portal/findings?rule=campaign-overdue").await;
        let (_, g) = app.get_json("/api/portal/findings?rule=campaign-invalid").await;
        let overdue: Vec<&str> =
            f["items"].as_array().into_iter().flatten().map(|x| x["entityRef"].as_str().unwrap_or_default()).collect();
        let invalid: Vec<&str> =
            g["items"].as_array().into_iter().flatten().map(|x| x["entityRef"].as_str().unwrap_or_default()).collect();
        if overdue == ["component:default/api-svc"] && invalid == ["campaign:default/confused"] {
            let m = f["items"][0]["message"].as_str().unwrap();
            assert!(m.contains("campaign:default/gold-rush") && m.contains("group:default/ops"), "{m}");
            assert_eq!(f["items"][0]["severity"], "warning", "{f}");
            break;
        }
        assert!(Instant::now() < deadline, "findings never came: {f} {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn history_keeps_each_recorded_day(db: Db) {
    let campaigns = campaigns();
    let files = [
        ("org.yaml", ORG),
        ("sys.yaml", SYSTEM_IN_SHOP),
        ("scorecard.yaml", SCORECARD),
        ("campaigns.yaml", campaigns.as_str()),
    ];
    let app = spawn_with_yaml(db, &files, |_, _| {}).await;
    view_when(&app, "", |v| v["entities"].as_array().is_some_and(|e| e.len() == 2)).await;
    let (status, body) = app.post_json("/api/portal/scorecards/snapshots?day=2026-11-01", &json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scorecards"], 1, "{body}");
    assert_eq!(body["campaigns"], 2, "{body}");
    // The next day, the system has left the product: web drops to silver.
    let file = app.keep[0].path().join("sys.yaml");
    std::fs::write(&file, SYSTEM_ALONE).unwrap();
    assert_eq!(app.refresh("system:default/sys").await, 200);
    view_when(&app, "", |v| standing(v, "component:default/web")["level"] == "silver").await;
    let (status, _) = app.post_json("/api/portal/scorecards/snapshots?day=2026-11-02", &json!({})).await;
    assert_eq!(status, 201);
    let (status, h) =
        app.get_json("/api/portal/scorecards/default/readiness/history?from=2026-10-31&to=2026-11-30").await;
    assert_eq!(status, 200, "{h}");
    let days = h["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{h}");
    assert_eq!(days[0]["day"], "2026-11-01");
    assert_eq!(days[0]["levels"][2], json!({"name": "gold", "entities": 1}), "{h}");
    assert_eq!(days[1]["levels"][2], json!({"name": "gold", "entities": 0}), "{h}");
    assert_eq!(days[1]["levels"][1], json!({"name": "silver", "entities": 1}), "{h}");
    assert_eq!(days[1]["checks"][3], json!({"id": "in-product", "passRate": 0.0}), "{h}");
    // The campaigns' series has both days.
    let (_, c) = app.get_json("/api/portal/campaigns/default/gold-rush").await;
    assert_eq!(
        c["series"],
        json!([{"day": "2026-11-01", "inScope": 2, "done": 1}, {"day": "2026-11-02", "inScope": 2, "done": 0}]),
        "{c}"
    );
    let (status, body) =
        app.get_json("/api/portal/scorecards/default/readiness/history?from=2026-12-01&to=2026-11-01").await;
    assert_eq!(status, 400, "{body}");
}

async fn a_bad_expression_is_a_validation_error_naming_its_place(db: Db) {
    let app = spawn_app(db).await;
    let entity = json!({"apiVersion": "portolan.dev/v1alpha1", "kind": "Scorecard", "metadata": {"name": "bad"}, "spec": {
    "owner": "ops", "levels": ["bronze"], "checks": [
        {"id": "ok", "level": "bronze", "expression": "has(entity.spec.owner)"},
        {"id": "broken", "level": "bronze", "expression": "entity.metadata.name =="},
        {"id": "numeric", "level": "bronze", "expression": "size(entity.metadata.name)"},
        {"id": "ok", "level": "platinum", "expression": "true"},
    ]}});
    let (status, body) = app
        .post_json(
            "/api/catalog/validate-entity",
            &json!({"entity": entity, "location": "url:https://example.com/scorecard.yaml"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let messages: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    let all = messages.join("\n");
    assert!(all.contains("/spec/checks/1/expression"), "{all}");
    assert!(all.contains("check 'broken' is not a usable CEL expression: at line 1, column"), "{all}");
    assert!(all.contains("check 'numeric' is not a usable CEL expression: gives a number, not true or false"), "{all}");
    assert!(all.contains("check id 'ok' is used twice"), "{all}");
    assert!(all.contains("level 'platinum' is not one of spec.levels (bronze)"), "{all}");
}

both!(
    levels_scores_and_run_time_errors,
    a_check_reads_the_facts_consumption_and_team_health_publish,
    campaigns_count_progress_judge_the_pace_and_find_the_overdue,
    history_keeps_each_recorded_day,
    a_relation_change_two_hops_away_is_judged_again,
    a_bad_expression_is_a_validation_error_naming_its_place
);
