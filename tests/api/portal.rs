//! Products and platforms: governance findings, their mirror in status items, the portal views,
//! scorecards and the dependency graph.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

/// One catalog with a positive and a negative case for every rule, and products at each
/// scorecard level.
const FIXTURE: &str = r#"apiVersion: backstage.io/v1alpha1
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
kind: Platform
metadata:
  name: plat
  description: The platform.
  links: [{url: "https://plat.example.com"}]
spec:
  owner: team-a
  lifecycle: production
  parts: [system:plat-sys]
  providesApis: [plat-api]
  offerings: [{api: plat-api}]
  targets: [{metric: adoption, target: 1}]
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: plat-sys}
spec: {owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: plat-worker}
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: plat-sys
  consumesApis: [shop-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: plat-core}
spec:
  type: service
  lifecycle: production
  owner: team-a
  platform: plat
  providesApis: [plat-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: plat-api}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0", platform: plat}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: shop, title: Web shop}
spec:
  owner: team-b
  lifecycle: production
  parts: [shop-svc]
  dependsOn: [plat]
  consumesApis: [plat-api]
  kpis: [{name: conversion}]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop-svc}
spec:
  type: service
  lifecycle: production
  owner: team-b
  providesApis: [shop-api]
  consumesApis: [old-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: shop-api}
spec: {type: openapi, lifecycle: production, owner: team-b, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: old-api}
spec: {type: openapi, lifecycle: deprecated, owner: team-b, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: loop-a}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:loop-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: loop-b}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:loop-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: orphan-owner}
spec: {type: service, lifecycle: production, owner: ghost-team}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: no-owner}
spec: {type: service, steps: []}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: owned}
spec: {type: service, owner: team-a, steps: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: dangler}
spec:
  type: service
  lifecycle: production
  owner: team-a
  consumesApis: [missing-api]
  dependsOn: [resource:missing-db]
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: bare}
spec: {owner: team-b}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: bare-plat}
spec: {owner: team-a}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata: {name: p-bronze}
spec: {owner: team-b, lifecycle: production, kpis: [{name: k}]}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata:
  name: p-silver
  description: Described.
  links: [{url: "https://silver.example.com"}]
spec: {owner: team-b, lifecycle: production}
---
apiVersion: portolan.dev/v1alpha1
kind: Product
metadata:
  name: p-gold
  description: Described.
  links: [{url: "https://gold.example.com"}]
spec: {owner: team-b, lifecycle: production, kpis: [{name: k}]}
"#;

/// The (rule, entity) pairs the fixture must produce, and nothing else.
const EXPECTED: &[(&str, &str)] = &[
    ("dangling-reference", "component:default/dangler"),
    ("dangling-reference", "component:default/dangler"),
    ("dependency-cycle", "component:default/loop-a"),
    ("deprecated-api-consumed", "component:default/shop-svc"),
    ("owner-missing", "template:default/no-owner"),
    ("owner-unknown", "component:default/orphan-owner"),
    ("platform-depends-on-product", "component:default/plat-worker"),
    ("platform-without-offerings", "platform:default/bare-plat"),
    ("platform-without-targets", "platform:default/bare-plat"),
    ("product-without-kpis", "product:default/bare"),
    ("product-without-kpis", "product:default/p-silver"),
];

async fn spawn_fixture(db: Db) -> (TestApp, std::path::PathBuf) {
    let app = spawn_with_yaml(db, &[("org.yaml", FIXTURE)], |_, _| {}).await;
    let file = app.keep[0].path().join("org.yaml");
    (app, file)
}

async fn findings(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/portal/findings{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap()
}

fn pairs(items: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items
        .iter()
        .map(|f| (f["rule"].as_str().unwrap().to_owned(), f["entityRef"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

/// The 1-based line of the document that defines `name` in the fixture.
fn line_of(name: &str) -> i64 {
    let mut start = 1;
    for (i, l) in FIXTURE.lines().enumerate() {
        if l == "---" {
            // A finding points at the document's first line after its marker.
            start = i + 2;
        }
        if l.contains(&format!("name: {name}}}")) || l == format!("  name: {name}") {
            return start as i64;
        }
    }
    panic!("{name} not in fixture")
}

async fn every_rule_fires_on_its_positive_case_and_not_on_its_negative(db: Db) {
    let (app, file) = spawn_fixture(db).await;
    let all = findings(&app, "").await;
    let expected: Vec<(String, String)> = EXPECTED.iter().map(|(r, e)| (r.to_string(), e.to_string())).collect();
    assert_eq!(pairs(&all), expected, "{all:#?}");
    // Severities, file and line, and a message that names both ends and says what to change.
    let f = all.iter().find(|f| f["rule"] == "platform-depends-on-product").unwrap();
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], file.to_str().unwrap());
    assert_eq!(f["line"], line_of("plat-worker"));
    let m = f["message"].as_str().unwrap();
    for part in
        ["component:default/plat-worker", "platform:default/plat", "api:default/shop-api", "product:default/shop"]
    {
        assert!(m.contains(part), "{m}");
    }
    assert!(m.contains("remove this dependency"), "{m}");
    let cycle = all.iter().find(|f| f["rule"] == "dependency-cycle").unwrap();
    assert_eq!(cycle["severity"], "error");
    assert!(
        cycle["message"]
            .as_str()
            .unwrap()
            .contains("component:default/loop-a -> component:default/loop-b -> component:default/loop-a"),
        "{cycle}"
    );
    let sev = |rule: &str| all.iter().find(|f| f["rule"] == rule).unwrap()["severity"].as_str().unwrap().to_owned();
    assert_eq!(sev("owner-missing"), "error");
    assert_eq!(sev("owner-unknown"), "warning");
    assert_eq!(sev("dangling-reference"), "warning");
    assert_eq!(sev("deprecated-api-consumed"), "warning");
    assert_eq!(sev("product-without-kpis"), "info");
    let dangling: BTreeSet<&str> = all
        .iter()
        .filter(|f| f["rule"] == "dangling-reference")
        .map(|f| f["details"]["target"].as_str().unwrap())
        .collect();
    assert_eq!(dangling, BTreeSet::from(["api:default/missing-api", "resource:default/missing-db"]));

    // Filters.
    assert_eq!(findings(&app, "?severity=error").await.len(), 3);
    assert_eq!(pairs(&findings(&app, "?rule=owner-unknown").await).len(), 1);
    let team_b = findings(&app, "?owner=team-b").await;
    assert!(team_b.iter().all(|f| f["owner"] == "group:default/team-b") && team_b.len() == 3, "{team_b:#?}");
    assert_eq!(findings(&app, "?entity=component:default/dangler").await.len(), 2);
    assert_eq!(findings(&app, "?entity=Component:Dangler").await.len(), 2);
    let (status, body) = app.get_json("/api/portal/findings?severity=fatal").await;
    assert_eq!(status, 400);
    assert_error(&body, 400, "InputError", "invalid_input");
    let (status, _) = app.get_json("/api/portal/findings?rule=no-such-rule").await;
    assert_eq!(status, 400);
}

async fn findings_are_mirrored_into_status_items(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    let (_, worker) = app.entity("component", "default", "plat-worker").await;
    let items = worker["status"]["items"].as_array().expect("status items");
    assert_eq!(items.len(), 1, "{worker}");
    assert_eq!(items[0]["type"], "portolan.dev/finding");
    assert_eq!(items[0]["level"], "error");
    assert_eq!(items[0]["error"]["name"], "platform-depends-on-product");
    assert!(items[0]["message"].as_str().unwrap().contains("platform:default/plat"));
    // The list answers the same, and an entity without findings has no status.
    let listed = app.entities("?filter=metadata.name=plat-worker").await;
    assert_eq!(listed[0]["status"], worker["status"]);
    let (_, core) = app.entity("component", "default", "plat-core").await;
    assert!(core.get("status").is_none(), "{core}");
}

const CONSUMER: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: consumer}\nspec: {type: service, lifecycle: production, owner: team, consumesApis: [target-api]}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n";
const TARGET_API: &str = "---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: target-api}\nspec: {type: openapi, lifecycle: LIFECYCLE, owner: team, definition: x}\n";

async fn findings_follow_descriptor_changes_and_removal(db: Db) {
    let app = spawn_with(db, vec![], |s, dir| {
        s.reading.file_roots = vec![dir.to_path_buf()];
        allow_every_kind_from(s, dir);
    })
    .await;
    let file = app.write("svc.yaml", CONSUMER);
    let (status, body) = app.register("file", file.to_str().unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let rules = |items: Vec<Value>| pairs(&items).into_iter().map(|(r, _)| r).collect::<Vec<_>>();
    assert_eq!(rules(findings(&app, "?entity=component:consumer").await), vec!["dangling-reference"]);

    // The API appears, deprecated: the consumer's finding changes although its file did not.
    app.write("svc.yaml", &format!("{CONSUMER}{}", TARGET_API.replace("LIFECYCLE", "deprecated")));
    assert_eq!(app.refresh("component:default/consumer").await, 200);
    assert_eq!(rules(findings(&app, "?entity=component:consumer").await), vec!["deprecated-api-consumed"]);
    let (_, e) = app.entity("component", "default", "consumer").await;
    assert_eq!(e["status"]["items"][0]["error"]["name"], "deprecated-api-consumed", "{e}");

    // Fixed: no finding, no status.
    app.write("svc.yaml", &format!("{CONSUMER}{}", TARGET_API.replace("LIFECYCLE", "production")));
    assert_eq!(app.refresh("component:default/consumer").await, 200);
    assert!(findings(&app, "?entity=component:consumer").await.is_empty());
    let (_, e) = app.entity("component", "default", "consumer").await;
    assert!(e.get("status").is_none(), "{e}");

    // The API's descriptor is removed: the reference dangles again.
    app.write("svc.yaml", CONSUMER);
    assert_eq!(app.refresh("component:default/consumer").await, 200);
    assert_eq!(rules(findings(&app, "?entity=component:consumer").await), vec!["dangling-reference"]);

    // A second location closes a cycle with the first one's entity.
    let other = app.write(
        "other.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: target-api}\nspec: {type: openapi, lifecycle: production, owner: team, definition: x}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: provider}\nspec: {type: service, lifecycle: production, owner: team, providesApis: [target-api], dependsOn: [component:consumer]}\n",
    );
    let (status, body) = app.register("file", other.to_str().unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let cycle = findings(&app, "?rule=dependency-cycle").await;
    assert_eq!(pairs(&cycle), vec![("dependency-cycle".to_owned(), "component:default/consumer".to_owned())]);
    assert!(findings(&app, "?rule=dangling-reference").await.is_empty());

    // Deleting that location breaks the cycle and the reference dangles once more.
    let id = body["location"]["id"].as_str().unwrap();
    let res = app.client.delete(app.url(&format!("/api/catalog/locations/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(findings(&app, "?rule=dependency-cycle").await.is_empty());
    assert_eq!(rules(findings(&app, "?entity=component:consumer").await), vec!["dangling-reference"]);
}

async fn products_and_platforms_are_listed_filtered_and_shown(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    let names = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|i| i["entityRef"].as_str().unwrap().to_owned()).collect()
    };
    let (status, body) = app.get_json("/api/portal/products").await;
    assert_eq!(status, 200);
    assert_eq!(
        names(&body),
        [
            "product:default/bare",
            "product:default/p-bronze",
            "product:default/p-gold",
            "product:default/p-silver",
            "product:default/shop"
        ]
    );
    let shop = body["items"].as_array().unwrap().iter().find(|i| i["name"] == "shop").unwrap();
    assert_eq!(shop["owner"], "group:default/team-b");
    assert_eq!(shop["lifecycle"], "production");
    assert_eq!(shop["partsCount"], 1);
    assert_eq!(shop["apis"], serde_json::json!(["api:default/shop-api"]));
    assert_eq!(shop["dependsOn"], serde_json::json!(["platform:default/plat"]));
    assert_eq!(shop["consumesApis"], serde_json::json!(["api:default/plat-api"]));
    assert_eq!(shop["findings"]["withParts"]["warning"], 1);
    assert!(shop["scorecard"].is_string());
    let (_, body) = app.get_json("/api/portal/products?text=web%20SHOP").await;
    assert_eq!(names(&body), ["product:default/shop"]);
    let (_, body) = app.get_json("/api/portal/products?lifecycle=production&owner=group:default/team-b").await;
    assert_eq!(names(&body).len(), 4);
    let (_, body) = app.get_json("/api/portal/products?owner=team-a").await;
    assert!(names(&body).is_empty());
    let (_, body) = app.get_json("/api/portal/products?domain=nowhere").await;
    assert!(names(&body).is_empty());
    let (status, _) = app.get_json("/api/portal/products?colour=red").await;
    assert_eq!(status, 400);

    let (_, body) = app.get_json("/api/portal/platforms").await;
    assert_eq!(names(&body), ["platform:default/bare-plat", "platform:default/plat"]);
    let plat = &body["items"][1];
    assert_eq!(plat["partsCount"], 4, "{plat}"); // plat-sys, plat-worker, plat-core, plat-api
    assert_eq!(plat["findings"]["withParts"]["error"], 1);

    // One product: its parts, APIs, and what it depends on, resolved down to platforms.
    let (status, shop) = app.get_json("/api/portal/products/default/shop").await;
    assert_eq!(status, 200, "{shop}");
    assert_eq!(shop["parts"][0]["entityRef"], "component:default/shop-svc");
    assert_eq!(shop["platforms"], serde_json::json!(["platform:default/plat"]));
    let deps = shop["dependencies"].as_array().unwrap();
    assert!(deps.iter().any(|d| d["source"] == "product:default/shop"
        && d["target"] == "api:default/plat-api"
        && d["platforms"] == serde_json::json!(["platform:default/plat"])));
    assert!(deps.iter().any(|d| d["source"] == "component:default/shop-svc" && d["target"] == "api:default/old-api"));
    assert_eq!(shop["kpis"][0]["name"], "conversion");

    // One platform: each API with its consumers, the product and team each resolves to.
    let (status, plat) = app.get_json("/api/portal/platforms/default/plat").await;
    assert_eq!(status, 200);
    let api = &plat["apis"][0];
    assert_eq!(api["entityRef"], "api:default/plat-api");
    let consumers = api["consumers"].as_array().unwrap();
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    assert_eq!(consumers[0]["entityRef"], "product:default/shop");
    assert_eq!(consumers[0]["product"], "product:default/shop");
    assert_eq!(consumers[0]["team"], "group:default/team-b");
    assert_eq!(plat["offerings"][0]["api"], "plat-api");
    let parts: BTreeSet<&str> =
        plat["parts"].as_array().unwrap().iter().map(|p| p["entityRef"].as_str().unwrap()).collect();
    assert!(parts.contains("component:default/plat-worker"), "transitive through the system: {parts:?}");

    let (status, body) = app.get_json("/api/portal/products/default/plat").await;
    assert_eq!(status, 404);
    assert_error(&body, 404, "NotFoundError", "not_found");
    assert_eq!(app.get_json("/api/portal/platforms/default/nope").await.0, 404);
}

async fn a_team_shows_what_it_owns_and_whom_it_depends_on(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    let (status, team) = app.get_json("/api/portal/teams/default/team-b").await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["owns"]["products"].as_array().unwrap().len(), 5);
    assert_eq!(team["owns"]["components"], serde_json::json!(["component:default/shop-svc"]));
    assert_eq!(team["owns"]["apis"], serde_json::json!(["api:default/old-api", "api:default/shop-api"]));
    let deps = team["dependsOn"].as_array().unwrap();
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(deps[0]["team"], "group:default/team-a");
    assert!(deps[0]["via"].as_array().unwrap().iter().any(|v| v["target"] == "platform:default/plat"));
    assert_eq!(app.get_json("/api/portal/teams/default/nobody").await.0, 404);
}

async fn scorecards_reach_their_levels(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    // Gold needs KPI values reported in the last 30 days: silver until then.
    let level_of = |body: &Value| body["scorecard"]["level"].as_str().unwrap_or("").to_owned();
    let (_, gold) = app.get_json("/api/portal/products/default/p-gold").await;
    assert_eq!(level_of(&gold), "silver", "{gold}");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, b) = app
        .post_json("/api/portal/products/default/p-gold/kpis", &json!([{"kpi": "k", "time": now, "value": 1}]))
        .await;
    assert_eq!(status, 200, "{b}");
    let (status, body) = app.get_json("/api/portal/scorecards").await;
    assert_eq!(status, 200);
    let level = |r: &str| {
        body["items"].as_array().unwrap().iter().find(|i| i["entityRef"] == r).unwrap()["level"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(level("product:default/bare"), "none");
    assert_eq!(level("product:default/p-bronze"), "bronze");
    assert_eq!(level("product:default/p-silver"), "silver");
    assert_eq!(level("product:default/p-gold"), "gold");
    // The platform has every gold item but one of its parts carries an error finding.
    assert_eq!(level("platform:default/plat"), "bronze");
    let plat = body["items"].as_array().unwrap().iter().find(|i| i["entityRef"] == "platform:default/plat").unwrap();
    let failed: Vec<&str> = plat["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["no-error-findings"]);
    assert!(plat["checks"].as_array().unwrap().iter().all(|c| c["level"].is_string()));
    // Views say the same.
    let (_, gold) = app.get_json("/api/portal/products/default/p-gold").await;
    assert_eq!(gold["scorecard"]["level"], "gold");
}

async fn the_graph_answers_json_dot_and_mermaid(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    let (status, g) = app.get_json("/api/portal/graph?entity=product:default/shop&depth=1").await;
    assert_eq!(status, 200, "{g}");
    let edges: BTreeSet<(String, String, String)> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().into(),
                e["type"].as_str().unwrap().into(),
                e["target"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        edges.contains(&("component:default/shop-svc".into(), "partOf".into(), "product:default/shop".into())),
        "{edges:?}"
    );
    assert!(edges.contains(&("product:default/shop".into(), "dependsOn".into(), "platform:default/plat".into())));
    assert!(!edges.iter().any(|(s, _, _)| s == "component:default/loop-a"), "depth 1 stays near the product");
    let shop = g["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "component:default/shop-svc").unwrap();
    assert_eq!(shop["products"], serde_json::json!(["product:default/shop"]));
    // Only outgoing dependsOn edges.
    let (_, g) = app.get_json("/api/portal/graph?entity=product:default/shop&relations=dependsOn&direction=out").await;
    assert_eq!(g["edges"].as_array().unwrap().len(), 1, "{g}");

    let res = app.get("/api/portal/graph?entity=product:default/shop&depth=1&format=dot").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/vnd.graphviz"));
    let dot = res.text().await.unwrap();
    assert!(dot.starts_with("digraph portolan {"), "{dot}");
    assert!(dot.contains("\"product:default/shop\" -> \"platform:default/plat\" [label=\"dependsOn\"];"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));

    let res = app.get("/api/portal/graph?format=mermaid").await;
    assert_eq!(res.status(), 200);
    let mermaid = res.text().await.unwrap();
    assert!(mermaid.starts_with("graph LR\n"), "{mermaid}");
    assert!(mermaid.contains("[\"component:default/loop-a\"]"), "the whole catalog: {mermaid}");
    assert!(mermaid.contains("-->|dependsOn|"), "{mermaid}");

    assert_eq!(app.get_json("/api/portal/graph?format=png").await.0, 400);
    assert_eq!(app.get_json("/api/portal/graph?relations=likes").await.0, 400);
    assert_eq!(app.get_json("/api/portal/graph?entity=nokind").await.0, 400);
    assert_eq!(app.get_json("/api/portal/graph?entity=component:default/ghost").await.0, 404);
}

async fn rules_can_be_configured(db: Db) {
    let app = spawn_with_yaml(db, &[("org.yaml", FIXTURE)], |s, _| {
        let rules = &mut s.governance.rules;
        rules.insert("dangling-reference".into(), toml::from_str("enabled = false").unwrap());
        rules.insert("owner-unknown".into(), toml::from_str("severity = \"error\"").unwrap());
    })
    .await;
    assert!(findings(&app, "?rule=dangling-reference").await.is_empty());
    let owner = findings(&app, "?rule=owner-unknown").await;
    assert_eq!(owner[0]["severity"], "error");
    assert_eq!(findings(&app, "?severity=error").await.len(), 4);
}

/// The line a finding points at is the document's first line, and the document is `name`'s.
fn points_at(file: &std::path::Path, line: usize, name: &str) -> bool {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[line - 1].starts_with("apiVersion:")
        && lines[line..].iter().take_while(|l| **l != "---").any(|l| l.trim() == format!("name: {name}"))
}

#[test]
fn lint_prints_the_demo_catalogs_deliberate_findings_with_file_and_line_and_exits_1() {
    let demo = demo_catalog();
    let (code, out, err) = portolan(&["lint", demo.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let find = |file: &str, rest: &str| -> usize {
        let prefix = format!("{}/{file}:", demo.display());
        let line = out
            .lines()
            .find(|l| l.starts_with(&prefix) && l.contains(rest))
            .unwrap_or_else(|| panic!("no `{file}: ... {rest}` in\n{out}"));
        line[prefix.len()..].split(':').next().unwrap().parse().unwrap()
    };
    let l = find(
        "platforms/inventory.yaml",
        ": error platform-depends-on-product: component:default/stock-sync-worker (part of platform:default/inventory) consumes api:default/checkout-api (part of product:default/checkout)",
    );
    assert!(points_at(&demo.join("platforms/inventory.yaml"), l, "stock-sync-worker"), "line {l}");
    let l = find(
        "products/checkout.yaml",
        ": error dependency-cycle: dependency cycle: component:default/cart-service -> component:default/checkout-service -> component:default/cart-service",
    );
    assert!(points_at(&demo.join("products/checkout.yaml"), l, "cart-service"), "line {l}");
    let l = find(
        "products/store-configurator.yaml",
        ": warning deprecated-api-consumed: component:default/configurator-service consumes api:default/stock-levels-api-v1",
    );
    assert!(points_at(&demo.join("products/store-configurator.yaml"), l, "configurator-service"), "line {l}");
    find("templates.yaml", ": error owner-missing: ");
    find("products/gift-cards.yaml", ": warning owner-unknown: ");
    find("products/gift-cards.yaml", ": warning dangling-reference: ");
    find("products/gift-cards.yaml", ": info product-without-kpis: ");
    find("platforms/observability.yaml", ": info platform-without-offerings: ");
    find("platforms/observability.yaml", ": info platform-without-targets: ");
    assert_eq!(out.lines().count(), 9, "exactly the deliberate findings:\n{out}");
    assert!(err.contains("3 error(s), 3 warning(s), 3 info(s)"), "{err}");
}

#[test]
fn lint_exits_0_without_errors_and_speaks_json_and_github() {
    let dir = temp_dir();
    // Warnings and infos only: exit 0.
    let file = write_file(
        dir.path(),
        "ok.yaml",
        "apiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {name: lonely}\nspec: {owner: nobody}\n",
    );
    let (code, out, err) = portolan(&["lint", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{}:1: warning owner-unknown: ", file.display())), "{out}");
    assert!(out.contains(&format!("{}:1: info product-without-kpis: ", file.display())), "{out}");
    let (code, out, _) = portolan(&["lint", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["documents"], 1);
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    assert_eq!(v["findings"][0]["line"], 1);
    let (code, out, _) = portolan(&["lint", "--format", "github", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("::warning file={},line=1,title=owner-unknown::", file.display())), "{out}");
    assert!(out.contains("::notice file="), "{out}");
    // The fixture has errors: exit 1, and GitHub gets ::error.
    let fixture = write_file(dir.path(), "fixture.yaml", FIXTURE);
    let (code, out, _) = portolan(&["lint", "--format", "github", fixture.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(",title=platform-depends-on-product::component:default/plat-worker"), "{out}");
    // An invalid document fails the run.
    let bad = write_file(
        dir.path(),
        "bad.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {}\n",
    );
    let (code, out, _) = portolan(&["lint", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("{}:1: error invalid: /spec/type: is required", bad.display())), "{out}");
    // Usage errors.
    assert_eq!(portolan(&["lint"]).0, 2);
    assert_eq!(portolan(&["lint", "/no/such/dir"]).0, 2);
    assert_eq!(portolan(&["lint", "--format", "xml", file.to_str().unwrap()]).0, 2);
    assert_eq!(portolan(&["lint", "--against", "not a url", file.to_str().unwrap()]).0, 2);
}

const AGAINST: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: new-worker}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  platform: plat\n  consumesApis: [shop-api]\n";

async fn lint_against_a_running_catalog_uses_it_as_context(db: Db) {
    let (app, _) = spawn_fixture(db).await;
    let dir = temp_dir();
    let file = write_file(dir.path(), "new.yaml", AGAINST);
    let path = file.to_str().unwrap().to_owned();
    // Alone, the file's references dangle.
    let alone = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || portolan(&["lint", &path])).await.unwrap()
    };
    assert_eq!(alone.0, 0, "{alone:?}");
    assert!(alone.1.contains("dangling-reference"), "{alone:?}");
    // Against the catalog, the platform consuming a product's API shows, and only the file's
    // findings are reported.
    let address = app.address.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || portolan(&["lint", "--against", &address, &path])).await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(":1: error platform-depends-on-product: component:default/new-worker (part of platform:default/plat) consumes api:default/shop-api"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

async fn the_demo_catalog_shows_its_deliberate_findings(db: Db) {
    let app = spawn_app(db).await;
    let all = findings(&app, "").await;
    let got: BTreeSet<(String, String)> = pairs(&all).into_iter().collect();
    for (rule, entity) in [
        ("platform-depends-on-product", "component:default/stock-sync-worker"),
        ("dependency-cycle", "component:default/cart-service"),
        ("deprecated-api-consumed", "component:default/configurator-service"),
        ("owner-missing", "template:default/new-service"),
        ("owner-unknown", "component:default/gift-card-service"),
        ("dangling-reference", "component:default/gift-card-service"),
        ("product-without-kpis", "product:default/gift-cards"),
        ("platform-without-offerings", "platform:default/observability"),
        ("platform-without-targets", "platform:default/observability"),
    ] {
        assert!(got.contains(&(rule.to_owned(), entity.to_owned())), "{rule} on {entity}: {got:?}");
    }
    assert_eq!(all.len(), 9, "{all:#?}");
    let (_, inventory) = app.get_json("/api/portal/platforms/default/inventory").await;
    assert_eq!(inventory["findings"]["withParts"]["error"], 1);
    assert_eq!(inventory["scorecard"]["level"], "bronze");
}

both!(
    every_rule_fires_on_its_positive_case_and_not_on_its_negative,
    findings_are_mirrored_into_status_items,
    findings_follow_descriptor_changes_and_removal,
    products_and_platforms_are_listed_filtered_and_shown,
    a_team_shows_what_it_owns_and_whom_it_depends_on,
    scorecards_reach_their_levels,
    the_graph_answers_json_dot_and_mermaid,
    rules_can_be_configured,
    lint_against_a_running_catalog_uses_it_as_context,
    the_demo_catalog_shows_its_deliberate_findings,
);
