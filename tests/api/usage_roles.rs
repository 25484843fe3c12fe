//! Who may write usage and KPI values and read the views, as the policy says: every consumption
//! route as anonymous, reader, non-owner, owner, admin and service tokens with and without the
//! scopes they need.

use portolan::auth::policy::Rule;
use serde_json::json;

use crate::fixtures::ORG;
use crate::helpers::{CONFIG_TOKEN, Db, Roles, call, config_token, secured, spawn_with_yaml};

const USAGE_TOKEN: &str = "ptk_config-usage-token-0123456789abcdef";
const KPI_TOKEN: &str = "ptk_config-kpi-token-0123456789abcdef";

/// Every consumption route (intake, views, KPIs) as anonymous, reader, non-owner, owner, admin
/// and the service tokens with and without the scopes they need.
async fn every_usage_route_answers_each_role_as_the_policy_says(db: Db) {
    let usage = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: usage-api}\nspec: {type: openapi, lifecycle: production, owner: team-b, definition: x}\n\
         ---\napiVersion: portolan.dev/v1alpha1\nkind: Product\nmetadata: {name: usage-product}\nspec: {owner: team-a, kpis: [{name: k}]}\n";
    let app = spawn_with_yaml(db, &[("org.yaml", ORG), ("usage.yaml", usage)], |s, d| {
        secured(s, d);
        let service = &mut s.auth.as_mut().unwrap().tokens.service;
        for (name, token, scope) in [("usage", USAGE_TOKEN, "usage:write"), ("kpi", KPI_TOKEN, "kpi:write")] {
            service.push(config_token(name, token, scope));
        }
    })
    .await;
    let roles = Roles::new();
    let mut covered: Vec<(&str, &str)> = Vec::new();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // The intake (UsageWrite): usage:write tokens and admins.
    let events = json!([{"time": now, "api": "usage-api", "consumer": "shared"}]);
    let mut everyone: Vec<(&str, Option<&str>)> = roles.all().to_vec();
    everyone.extend([
        ("usage token", Some(USAGE_TOKEN)),
        ("kpi token", Some(KPI_TOKEN)),
        ("catalog token", Some(CONFIG_TOKEN)),
    ]);
    for ((role, token), want) in everyone.iter().zip([401, 403, 403, 403, 200, 200, 403, 403]) {
        let (status, body) = call(&app, "POST", "/api/usage/events", *token, Some(&events)).await;
        assert_eq!(status, want, "POST /api/usage/events as {role}: {body}");
        if status == 200 {
            assert_eq!(body["accepted"], 1, "{body}");
        }
    }
    // Backfills: admins only, not the intake's token.
    let (status, body) = call(&app, "POST", "/api/usage/events?backfill=true", Some(USAGE_TOKEN), Some(&events)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&app, "POST", "/api/usage/events?backfill=true", Some(&roles.carol), Some(&events)).await;
    assert_eq!(status, 200, "{body}");
    covered.push(("POST", "/api/usage/events"));

    // The views (Read): anyone signed in, no anonymous caller (anonymous reads are off here).
    for path in ["/api/portal/consumption", "/api/portal/adoption", "/api/portal/declared-vs-observed"] {
        for ((role, token), want) in everyone.iter().zip([401, 200, 200, 200, 200, 200, 200, 200]) {
            let (status, body) = call(&app, "GET", &format!("{path}?api=usage-api"), *token, None).await;
            assert_eq!(status, want, "GET {path} as {role}: {body}");
        }
        let (_, c) = call(&app, "GET", "/api/portal/consumption?api=usage-api", Some(&roles.reader), None).await;
        assert_eq!(c["totals"]["calls"], 3, "{c}");
        covered.push(("GET", path));
    }

    // KPI values (KpiWrite): the product's owner (alice's team-a), admins, kpi:write tokens.
    let values = json!([{"kpi": "k", "time": now, "value": 1.5}]);
    for ((role, token), want) in everyone.iter().zip([401, 403, 403, 200, 200, 403, 200, 403]) {
        let (status, body) =
            call(&app, "POST", "/api/portal/products/default/usage-product/kpis", *token, Some(&values)).await;
        assert_eq!(status, want, "POST kpis as {role}: {body}");
    }
    covered.push(("POST", "/api/portal/products/{namespace}/{name}/kpis"));

    let rows: Vec<(&str, &str)> = portolan::routes::all()
        .map(|r| (r.method, r.path, r.rule))
        .filter(|(_, p, r)| {
            // The delivery office's OwnerOrScope("plan:write") rows have their matrix in delivery.rs.
            matches!(r, Rule::Scope("usage:write") | Rule::OwnerOrScope("kpi:write"))
                || ["/api/portal/consumption", "/api/portal/adoption", "/api/portal/declared-vs-observed"].contains(p)
        })
        .map(|(m, p, _)| (m, p))
        .collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(covered.contains(r), "the usage role matrix does not cover {r:?}");
    }
}

crate::both!(every_usage_route_answers_each_role_as_the_policy_says);
