//! HTTP handlers of the portal views: extract, read the model (and stored findings), shape JSON.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Entity, Graph};
use super::rules::{RULES, Severity};
use super::scorecards::{self, Counts};
use super::store::{self, FindingFilter};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::domain::hooks::EntityKind;
use crate::error::ApiError;
use crate::state::AppState;

/// Products with KPI values in the last 30 days, from the measuring domain (`None` without one).
type Reported = Option<std::collections::HashSet<String>>;

/// The model, the stored finding counts and the products that reported KPIs lately, read off
/// the HTTP workers.
async fn model(state: &web::Data<AppState>) -> Result<(Arc<Graph>, Counts, Reported), ApiError> {
    let pool = state.pool.clone();
    let portal = state.governance.clone();
    Ok(web::block(move || {
        let g = portal.snapshot(&pool)?;
        let counts = store::finding_counts(&pool)?;
        let since = crate::db::now_ms() - scorecards::KPI_REPORT_WINDOW_MS;
        let reported = portal.hooks().reported_since(&pool, since)?;
        anyhow::Ok((g, counts, reported))
    })
    .await??)
}

fn parse_ref(raw: &str, default_kind: Option<&str>, what: &str) -> Result<String, ApiError> {
    EntityRef::parse(raw, default_kind, DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{what}: {e}")))
}

fn name_of(g: &Graph, key: &str) -> String {
    g.get(key).map(|e| e.entity_ref.clone()).unwrap_or_else(|| key.to_owned())
}

fn refs(g: &Graph, keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = keys.into_iter().map(|k| name_of(g, &k)).collect();
    set.into_iter().collect()
}

fn declared(e: &Entity, rel: &str) -> Vec<String> {
    let set: BTreeSet<String> = e.edges.iter().filter(|x| x.rel == rel).map(|x| x.target_ref.clone()).collect();
    set.into_iter().collect()
}

fn finding_summary(g: &Graph, key: &str, counts: &Counts) -> Value {
    let own = counts.get(key);
    let n = |s: &str| own.and_then(|c| c.get(s)).copied().unwrap_or(0);
    json!({
        "total": n("error") + n("warning") + n("info"),
        "error": n("error"), "warning": n("warning"), "info": n("info"),
        "withParts": {
            "error": scorecards::findings_within(g, key, counts, "error"),
            "warning": scorecards::findings_within(g, key, counts, "warning"),
            "info": scorecards::findings_within(g, key, counts, "info"),
        },
    })
}

/// Who consumes an API: entities that consume it or depend on it, each with the product and
/// team it resolves to.
fn consumers(g: &Graph, api: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (from, rel) in g.referrers(api) {
        if !matches!(*rel, "consumesApi" | "dependsOn") || !seen.insert(from.clone()) {
            continue;
        }
        let Some(e) = g.get(from) else { continue };
        if !matches!(e.kind.as_str(), "component" | "system" | "product" | "platform") {
            continue;
        }
        let membership = g.membership(from);
        let product = Graph::of_kind(&membership, "product").into_iter().next();
        let platform = Graph::of_kind(&membership, "platform").into_iter().next();
        let team = product.as_deref().and_then(|p| g.get(p)).and_then(|p| p.owner.clone()).or_else(|| e.owner.clone());
        out.push(json!({
            "entityRef": e.entity_ref,
            "kind": e.kind,
            "relation": rel,
            "product": product.as_deref().map(|p| name_of(g, p)),
            "platform": platform.as_deref().map(|p| name_of(g, p)),
            "team": team.as_deref().map(|t| name_of(g, t)),
        }));
    }
    out.sort_by(|a, b| a["entityRef"].as_str().cmp(&b["entityRef"].as_str()));
    out
}

/// The summary of a product or platform, as listed.
fn summary(g: &Graph, e: &Entity, counts: &Counts, reported: &Reported) -> Value {
    let parts = g.descendants(&e.key);
    let apis = g.apis_of(&e.key);
    let level = scorecards::scorecard(g, &e.key, counts, reported.as_ref()).map(|s| s.level);
    let mut v = json!({
        "entityRef": e.entity_ref,
        "kind": e.kind,
        "namespace": e.namespace,
        "name": e.name,
        "title": e.title,
        "description": e.description,
        "owner": e.owner.as_deref().map(|o| name_of(g, o)),
        "domain": e.domain.as_deref().map(|d| name_of(g, d)),
        "lifecycle": e.lifecycle,
        "type": e.spec_type,
        "partsCount": parts.len(),
        "apis": refs(g, apis.clone()),
        "dependsOn": declared(e, "dependsOn"),
        "findings": finding_summary(g, &e.key, counts),
        "scorecard": level,
    });
    if e.is("product") {
        v["consumesApis"] = json!(declared(e, "consumesApi"));
    } else {
        v["providesApis"] = json!(declared(e, "providesApi"));
        v["consumesApis"] = json!(declared(e, "consumesApi"));
        let consuming: BTreeSet<String> = apis
            .iter()
            .flat_map(|a| consumers(g, a))
            .filter_map(|c| c["entityRef"].as_str().map(str::to_owned))
            .collect();
        v["consumersCount"] = json!(consuming.len());
    }
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    owner: Option<String>,
    domain: Option<String>,
    lifecycle: Option<String>,
    text: Option<String>,
}

async fn list(state: web::Data<AppState>, q: ListQuery, kind: &str) -> Result<HttpResponse, ApiError> {
    let owner = q.owner.as_deref().map(|o| parse_ref(o, Some("group"), "owner")).transpose()?;
    let domain = q.domain.as_deref().map(|d| parse_ref(d, Some("domain"), "domain")).transpose()?;
    let text = q.text.as_deref().map(str::to_lowercase);
    let (g, counts, reported) = model(&state).await?;
    let mut items: Vec<&Entity> = g
        .entities
        .values()
        .filter(|e| e.is(kind))
        .filter(|e| owner.is_none() || e.owner == owner)
        .filter(|e| domain.is_none() || e.domain == domain)
        .filter(|e| q.lifecycle.as_deref().is_none_or(|l| e.lifecycle_is(l)))
        .filter(|e| {
            text.as_deref().is_none_or(|t| {
                [Some(&e.name), e.title.as_ref(), e.description.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|s| s.to_lowercase().contains(t))
            })
        })
        .collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let items: Vec<Value> = items.into_iter().map(|e| summary(&g, e, &counts, &reported)).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /api/portal/products?owner=&domain=&lifecycle=&text=`.
pub async fn list_products(
    state: web::Data<AppState>,
    q: crate::error::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(state, q.into_inner(), "product").await
}

/// `GET /api/portal/platforms?owner=&domain=&lifecycle=&text=`.
pub async fn list_platforms(
    state: web::Data<AppState>,
    q: crate::error::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(state, q.into_inner(), "platform").await
}

/// What a product or platform depends on (itself and its parts), each target resolved down to
/// the platforms and products it belongs to.
fn dependencies(g: &Graph, key: &str) -> (Vec<Value>, Vec<String>) {
    let mut members = g.descendants(key);
    members.push(key.to_owned());
    let inside: HashSet<&String> = members.iter().collect();
    let mut out = Vec::new();
    let mut platforms = BTreeSet::new();
    for m in &members {
        let Some(e) = g.get(m) else { continue };
        for (from, rel, to) in g.dependency_edges(e) {
            if inside.contains(&to.to_owned()) && inside.contains(&from.to_owned()) {
                continue;
            }
            let resolved = g.target_membership(to);
            let plats = Graph::of_kind(&resolved, "platform");
            platforms.extend(plats.iter().map(|p| name_of(g, p)));
            out.push(json!({
                "source": name_of(g, from),
                "relation": rel,
                "target": name_of(g, to),
                "exists": g.get(to).is_some(),
                "platforms": refs(g, plats),
                "products": refs(g, Graph::of_kind(&resolved, "product")),
            }));
        }
    }
    out.sort_by_key(|v| (v["source"].to_string(), v["target"].to_string(), v["relation"].to_string()));
    out.dedup();
    (out, platforms.into_iter().collect())
}

fn part_list(g: &Graph, key: &str) -> Vec<Value> {
    g.descendants(key)
        .iter()
        .filter_map(|k| g.get(k))
        .map(|p| json!({"entityRef": p.entity_ref, "kind": p.kind, "title": p.title, "owner": p.owner.as_deref().map(|o| name_of(g, o))}))
        .collect()
}

async fn detail(state: web::Data<AppState>, path: (String, String), kind: &str) -> Result<HttpResponse, ApiError> {
    let key = EntityRef::new(kind, &path.0, &path.1).key();
    let (g, counts, reported) = model(&state).await?;
    let Some(e) = g.get(&key) else {
        return Err(ApiError::not_found(format!("No {kind} named '{key}' found")));
    };
    let mut v = summary(&g, e, &counts, &reported);
    v["parts"] = json!(part_list(&g, &key));
    let (deps, platforms) = dependencies(&g, &key);
    v["dependencies"] = json!(deps);
    v["platforms"] = json!(platforms);
    v["scorecard"] = json!(scorecards::scorecard(&g, &key, &counts, reported.as_ref()));
    let apis: Vec<Value> = g
        .apis_of(&key)
        .iter()
        .map(|a| {
            let api = g.get(a);
            let mut item = json!({
                "entityRef": name_of(&g, a),
                "lifecycle": api.and_then(|x| x.lifecycle.clone()),
                "hasDefinition": api.is_some_and(|x| x.has_definition),
            });
            if kind == "platform" {
                item["consumers"] = json!(consumers(&g, a));
            }
            item
        })
        .collect();
    v["apis"] = json!(apis);
    // KPI values and target measurements come from the view extensions other domains register.
    let gov = state.governance.clone();
    let (pool, g2, key2) = (state.pool.clone(), g.clone(), key.clone());
    let which = if kind == "product" { EntityKind::Product } else { EntityKind::Platform };
    let extra = web::block(move || gov.hooks().view_fields(&pool, &g2, which, &key2)).await??;
    if kind == "product" {
        v["kpis"] = json!(e.kpis);
    } else {
        v["offerings"] = json!(e.offerings);
        v["targets"] = json!(e.targets);
    }
    for (field, value) in extra {
        v[field] = value;
    }
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /api/portal/products/{namespace}/{name}`.
pub async fn get_product(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, path.into_inner(), "product").await
}

/// `GET /api/portal/platforms/{namespace}/{name}`.
pub async fn get_platform(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, path.into_inner(), "platform").await
}

/// `GET /api/portal/teams/{namespace}/{name}`: what a group owns and whom it depends on.
pub async fn get_team(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (namespace, name) = path.into_inner();
    let key = EntityRef::new("group", &namespace, &name).key();
    let (g, _, _) = model(&state).await?;
    let Some(team) = g.get(&key) else {
        return Err(ApiError::not_found(format!("No group named '{key}' found")));
    };
    let owned: Vec<&str> = g.declarers(&key, "ownedBy").collect();
    let mut owns: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for bucket in ["products", "platforms", "systems", "components", "apis", "resources", "other"] {
        owns.insert(bucket, BTreeSet::new());
    }
    let mut depends: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for k in &owned {
        let Some(e) = g.get(k) else { continue };
        let bucket = match e.kind.as_str() {
            "product" => "products",
            "platform" => "platforms",
            "system" => "systems",
            "component" => "components",
            "api" => "apis",
            "resource" => "resources",
            _ => "other",
        };
        owns.entry(bucket).or_default().insert(e.entity_ref.clone());
        for (from, rel, to) in g.dependency_edges(e) {
            let Some(target) = g.get(to) else { continue };
            // Through an API, the team depends on whoever provides it, else on its owner.
            let mut owners: Vec<String> =
                g.declarers(to, "providesApi").filter_map(|p| g.get(p)?.owner.clone()).collect();
            if owners.is_empty() {
                owners.extend(target.owner.clone());
            }
            for o in owners.into_iter().filter(|o| *o != key) {
                depends.entry(name_of(&g, &o)).or_default().insert((
                    name_of(&g, from),
                    rel.to_owned(),
                    name_of(&g, to),
                ));
            }
        }
    }
    let depends_on: Vec<Value> = depends
        .into_iter()
        .map(|(t, via)| {
            let via: Vec<Value> =
                via.into_iter().map(|(s, r, d)| json!({"source": s, "relation": r, "target": d})).collect();
            json!({"team": t, "via": via})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "entityRef": team.entity_ref,
        "title": team.title,
        "owns": owns,
        "dependsOn": depends_on,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    rule: Option<String>,
    severity: Option<String>,
    owner: Option<String>,
    entity: Option<String>,
}

/// `GET /api/portal/findings?rule=&severity=&owner=&entity=`.
pub async fn list_findings(
    state: web::Data<AppState>,
    q: crate::error::Query<FindingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if let Some(r) = &q.rule
        && !RULES.iter().any(|x| x.id == r.as_str())
    {
        let known: Vec<&str> = RULES.iter().map(|x| x.id).collect();
        return Err(ApiError::input(format!("rule: unknown rule \"{r}\"; known rules: {}", known.join(", "))));
    }
    let severity = match &q.severity {
        Some(s) => Some(
            Severity::parse(s)
                .ok_or_else(|| ApiError::input(format!("severity: \"{s}\" is not error, warning or info")))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let filter = FindingFilter {
        rule: q.rule,
        severity,
        owner: q.owner.as_deref().map(|o| parse_ref(o, Some("group"), "owner")).transpose()?,
        entity: q.entity.as_deref().map(|e| parse_ref(e, None, "entity")).transpose()?,
    };
    let pool = state.pool.clone();
    let items = web::block(move || store::list_findings(&pool, &filter)).await??;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /api/portal/scorecards`: every product and platform with its level and checks.
pub async fn list_scorecards(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (g, counts, reported) = model(&state).await?;
    let mut keys: Vec<&String> =
        g.entities.values().filter(|e| e.is("product") || e.is("platform")).map(|e| &e.key).collect();
    keys.sort();
    let items: Vec<_> =
        keys.into_iter().filter_map(|k| scorecards::scorecard(&g, k, &counts, reported.as_ref())).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    entity: Option<String>,
    depth: Option<usize>,
    relations: Option<String>,
    direction: Option<String>,
    format: Option<String>,
}

/// Relations the graph can show, each edge as (source, relation, target) pointing the way the
/// dependency goes (`hasPart` shown as the part's `partOf`, `dependencyOf` as `dependsOn`).
const GRAPH_RELATIONS: &[&str] = &["dependsOn", "consumesApi", "providesApi", "partOf", "ownedBy"];

fn graph_edges(g: &Graph, wanted: &[&str]) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for e in g.entities.values() {
        for edge in &e.edges {
            let (s, rel, t) = match edge.rel {
                "hasPart" => (edge.target.clone(), "partOf", e.key.clone()),
                "dependencyOf" => (edge.target.clone(), "dependsOn", e.key.clone()),
                rel => (e.key.clone(), rel, edge.target.clone()),
            };
            if wanted.contains(&rel) {
                out.push((s, rel, t));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `GET /api/portal/graph?entity=&depth=&relations=&direction=&format=json|dot|mermaid`.
pub async fn get_graph(
    state: web::Data<AppState>,
    q: crate::error::Query<GraphQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let wanted: Vec<&str> = match &q.relations {
        None => vec!["dependsOn", "consumesApi", "providesApi", "partOf"],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|r| {
                GRAPH_RELATIONS.iter().copied().find(|x| x.eq_ignore_ascii_case(r)).ok_or_else(|| {
                    ApiError::input(format!("relations: \"{r}\" is not one of {}", GRAPH_RELATIONS.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let direction = q.direction.as_deref().unwrap_or("both");
    if !matches!(direction, "out" | "in" | "both") {
        return Err(ApiError::input(format!("direction: \"{direction}\" is not out, in or both")));
    }
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "dot" | "mermaid") {
        return Err(ApiError::input(format!("format: \"{format}\" is not json, dot or mermaid")));
    }
    let depth = q.depth.unwrap_or(2);
    if depth > 20 {
        return Err(ApiError::input("depth: at most 20"));
    }
    let start = q.entity.as_deref().map(|e| parse_ref(e, None, "entity")).transpose()?;
    let (g, _, _) = model(&state).await?;
    if let Some(s) = &start
        && g.get(s).is_none()
    {
        return Err(ApiError::not_found(format!("No entity named '{s}' found")));
    }
    let all = graph_edges(&g, &wanted);
    let edges: Vec<&(String, &str, String)> = match &start {
        None => all.iter().collect(),
        Some(s) => {
            let mut seen: HashSet<&str> = HashSet::from([s.as_str()]);
            let mut queue: VecDeque<(&str, usize)> = VecDeque::from([(s.as_str(), 0)]);
            let mut kept = BTreeSet::new();
            let mut adjacent: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
            for (i, (src, _, dst)) in all.iter().enumerate() {
                if direction != "in" {
                    adjacent.entry(src.as_str()).or_default().push((i, dst.as_str()));
                }
                if direction != "out" {
                    adjacent.entry(dst.as_str()).or_default().push((i, src.as_str()));
                }
            }
            while let Some((k, d)) = queue.pop_front() {
                if d >= depth {
                    continue;
                }
                for (i, n) in adjacent.get(k).into_iter().flatten() {
                    kept.insert(*i);
                    if seen.insert(n) {
                        queue.push_back((n, d + 1));
                    }
                }
            }
            kept.into_iter().map(|i| &all[i]).collect()
        }
    };
    let mut nodes: BTreeSet<&str> = edges.iter().flat_map(|(s, _, t)| [s.as_str(), t.as_str()]).collect();
    if let Some(s) = &start {
        nodes.insert(s);
    }
    let node_json: Vec<Value> = nodes
        .iter()
        .map(|k| {
            let e = g.get(k);
            let membership = g.membership(k);
            json!({
                "id": name_of(&g, k),
                "kind": e.map(|e| e.kind.clone()).unwrap_or_else(|| k.split(':').next().unwrap_or_default().to_owned()),
                "title": e.and_then(|e| e.title.clone()),
                "exists": e.is_some(),
                "products": refs(&g, Graph::of_kind(&membership, "product")),
                "platforms": refs(&g, Graph::of_kind(&membership, "platform")),
            })
        })
        .collect();
    match format {
        "dot" => {
            let mut out = String::from("digraph portolan {\n  rankdir=LR;\n  node [shape=box];\n");
            for k in &nodes {
                let kind = k.split(':').next().unwrap_or_default();
                out.push_str(&format!(
                    "  \"{}\" [label=\"{}\\n({kind})\"];\n",
                    name_of(&g, k),
                    k.split('/').nth(1).unwrap_or(k)
                ));
            }
            for (s, rel, t) in &edges {
                out.push_str(&format!("  \"{}\" -> \"{}\" [label=\"{rel}\"];\n", name_of(&g, s), name_of(&g, t)));
            }
            out.push_str("}\n");
            Ok(HttpResponse::Ok().content_type("text/vnd.graphviz; charset=utf-8").body(out))
        }
        "mermaid" => {
            let ids: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, k)| (*k, i)).collect();
            let mut out = String::from("graph LR\n");
            for (k, i) in &ids {
                out.push_str(&format!("  n{i}[\"{}\"]\n", name_of(&g, k)));
            }
            for (s, rel, t) in &edges {
                out.push_str(&format!("  n{} -->|{rel}| n{}\n", ids[s.as_str()], ids[t.as_str()]));
            }
            Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(out))
        }
        _ => {
            let edge_json: Vec<Value> = edges
                .iter()
                .map(|(s, rel, t)| json!({"source": name_of(&g, s), "target": name_of(&g, t), "type": rel}))
                .collect();
            Ok(HttpResponse::Ok().json(json!({"nodes": node_json, "edges": edge_json})))
        }
    }
}
