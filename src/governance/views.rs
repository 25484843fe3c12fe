//! What governance answers, typed: the product and platform views, teams, findings, scorecards.
//! The API serialises these structs; the web UI renders their fields. Blocking (they read the
//! database): call them from `web::block`. The dependency graph is in [`super::graph`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Governance;
use super::model::{Entity, Graph};
use super::rules::{Finding, RULES, Severity};
use super::scorecards::{self, Counts, Level, Scorecard};
use super::store::{self, FindingFilter};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::Pool;
use crate::domain::hooks::EntityKind;
use crate::error::ApiError;

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Products with KPI values in the last 30 days, from the measuring domain (`None` without one).
pub type Reported = Option<HashSet<String>>;

/// The model, the stored finding counts and the products that reported KPIs lately.
pub struct Model {
    pub graph: Arc<Graph>,
    pub counts: Counts,
    pub reported: Reported,
    /// Scorecard checks other domains judge, per product and platform.
    pub checks: HashMap<String, Vec<crate::domain::hooks::SourcedCheck>>,
}

impl Model {
    pub fn scorecard(&self, key: &str) -> Option<scorecards::Scorecard> {
        let extra = self.checks.get(key).map(Vec::as_slice).unwrap_or_default();
        scorecards::scorecard(&self.graph, key, &self.counts, self.reported.as_ref(), extra)
    }
}

/// Reads the model (blocking).
pub fn model(gov: &Governance, pool: &Pool) -> anyhow::Result<Model> {
    let graph = gov.snapshot(pool)?;
    let counts = store::finding_counts(pool)?;
    let since = crate::db::now_ms() - scorecards::KPI_REPORT_WINDOW_MS;
    let reported = gov.hooks().reported_since(pool, since)?;
    let mut checks: HashMap<String, Vec<crate::domain::hooks::SourcedCheck>> = HashMap::new();
    for source in gov.hooks().check_sources.all() {
        for (k, list) in source.checks(pool, &graph)? {
            checks.entry(k).or_default().extend(list);
        }
    }
    Ok(Model { graph, counts, reported, checks })
}

pub(crate) fn parse_ref(raw: &str, default_kind: Option<&str>, what: &str) -> Result<String, ApiError> {
    EntityRef::parse(raw, default_kind, DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{what}: {e}")))
}

pub(crate) fn name_of(g: &Graph, key: &str) -> String {
    g.get(key).map(|e| e.entity_ref.clone()).unwrap_or_else(|| key.to_owned())
}

pub(crate) fn refs(g: &Graph, keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = keys.into_iter().map(|k| name_of(g, &k)).collect();
    set.into_iter().collect()
}

fn declared(e: &Entity, rel: &str) -> Vec<String> {
    let set: BTreeSet<String> = e.edges.iter().filter(|x| x.rel == rel).map(|x| x.target_ref.clone()).collect();
    set.into_iter().collect()
}

/// Findings per severity, of the entity and of it with its parts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingSummary {
    pub total: i64,
    pub error: i64,
    pub warning: i64,
    pub info: i64,
    pub with_parts: SeverityCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeverityCounts {
    pub error: i64,
    pub warning: i64,
    pub info: i64,
}

fn finding_summary(g: &Graph, key: &str, counts: &Counts) -> FindingSummary {
    let own = counts.get(key);
    let n = |s: &str| own.and_then(|c| c.get(s)).copied().unwrap_or(0);
    FindingSummary {
        total: n("error") + n("warning") + n("info"),
        error: n("error"),
        warning: n("warning"),
        info: n("info"),
        with_parts: SeverityCounts {
            error: scorecards::findings_within(g, key, counts, "error"),
            warning: scorecards::findings_within(g, key, counts, "warning"),
            info: scorecards::findings_within(g, key, counts, "info"),
        },
    }
}

/// One consumer of an API, with the product, platform and team it resolves to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiConsumer {
    pub entity_ref: String,
    pub kind: String,
    pub relation: &'static str,
    pub product: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
}

/// Who consumes an API: entities that consume it or depend on it.
fn consumers(g: &Graph, api: &str) -> Vec<ApiConsumer> {
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
        out.push(ApiConsumer {
            entity_ref: e.entity_ref.clone(),
            kind: e.kind.clone(),
            relation: rel,
            product: product.as_deref().map(|p| name_of(g, p)),
            platform: platform.as_deref().map(|p| name_of(g, p)),
            team: team.as_deref().map(|t| name_of(g, t)),
        });
    }
    out.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
    out
}

/// A product or platform: `A` is how its APIs are told (refs when listed, items in its view),
/// `S` its scorecard (the level when listed, the whole card in its view).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<A, S> {
    pub entity_ref: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub lifecycle: Option<String>,
    #[serde(rename = "type")]
    pub spec_type: Option<String>,
    pub parts_count: usize,
    pub apis: Vec<A>,
    pub depends_on: Vec<String>,
    pub findings: FindingSummary,
    pub scorecard: S,
    /// Platforms only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provides_apis: Option<Vec<String>>,
    pub consumes_apis: Vec<String>,
    /// Platforms only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers_count: Option<usize>,
}

impl<A, S> Summary<A, S> {
    /// The title, else the name.
    pub fn label(&self) -> &str {
        self.title.as_deref().filter(|t| !t.is_empty()).unwrap_or(&self.name)
    }
}

/// A product or platform as listed.
pub type ListedSummary = Summary<String, Option<Level>>;

fn summary<A, S>(g: &Graph, e: &Entity, counts: &Counts, apis: Vec<A>, scorecard: S) -> Summary<A, S> {
    let api_keys = g.apis_of(&e.key);
    let platform = !e.is("product");
    Summary {
        entity_ref: e.entity_ref.clone(),
        kind: e.kind.clone(),
        namespace: e.namespace.clone(),
        name: e.name.clone(),
        title: e.title.clone(),
        description: e.description.clone(),
        owner: e.owner.as_deref().map(|o| name_of(g, o)),
        domain: e.domain.as_deref().map(|d| name_of(g, d)),
        lifecycle: e.lifecycle.clone(),
        spec_type: e.spec_type.clone(),
        parts_count: g.descendants(&e.key).len(),
        apis,
        depends_on: declared(e, "dependsOn"),
        findings: finding_summary(g, &e.key, counts),
        scorecard,
        provides_apis: platform.then(|| declared(e, "providesApi")),
        consumes_apis: declared(e, "consumesApi"),
        consumers_count: platform.then(|| {
            let consuming: BTreeSet<String> =
                api_keys.iter().flat_map(|a| consumers(g, a)).map(|c| c.entity_ref).collect();
            consuming.len()
        }),
    }
}

fn listed(m: &Model, e: &Entity) -> ListedSummary {
    let g = &m.graph;
    let level = m.scorecard(&e.key).map(|s| s.level);
    summary(g, e, &m.counts, refs(g, g.apis_of(&e.key)), level)
}

/// Filters of the product and platform lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub lifecycle: Option<String>,
    pub text: Option<String>,
}

/// The products (`kind` "product") or platforms (`kind` "platform") matching the filters.
pub fn list(gov: &Governance, pool: &Pool, q: &ListQuery, kind: &str) -> Result<Items<ListedSummary>, ApiError> {
    let owner = q.owner.as_deref().map(|o| parse_ref(o, Some("group"), "owner")).transpose()?;
    let domain = q.domain.as_deref().map(|d| parse_ref(d, Some("domain"), "domain")).transpose()?;
    let text = q.text.as_deref().map(str::to_lowercase);
    let m = model(gov, pool)?;
    let mut items: Vec<&Entity> = m
        .graph
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
    Ok(Items { items: items.into_iter().map(|e| listed(&m, e)).collect() })
}

/// One dependency of a product or platform (or of a part), resolved to platforms and products.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub source: String,
    pub relation: String,
    pub target: String,
    pub exists: bool,
    pub platforms: Vec<String>,
    pub products: Vec<String>,
}

/// What a product or platform depends on (itself and its parts), each target resolved down to
/// the platforms and products it belongs to.
fn dependencies(g: &Graph, key: &str) -> (Vec<Dependency>, Vec<String>) {
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
            out.push(Dependency {
                source: name_of(g, from),
                relation: rel.to_owned(),
                target: name_of(g, to),
                exists: g.get(to).is_some(),
                platforms: refs(g, plats),
                products: refs(g, Graph::of_kind(&resolved, "product")),
            });
        }
    }
    out.sort_by(|a, b| (&a.source, &a.target, &a.relation).cmp(&(&b.source, &b.target, &b.relation)));
    out.dedup();
    (out, platforms.into_iter().collect())
}

/// A part of a product or platform.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub entity_ref: String,
    pub kind: String,
    pub title: Option<String>,
    pub owner: Option<String>,
}

impl Part {
    /// The title, else the ref.
    pub fn label(&self) -> &str {
        self.title.as_deref().filter(|t| !t.is_empty()).unwrap_or(&self.entity_ref)
    }
}

fn part_list(g: &Graph, key: &str) -> Vec<Part> {
    g.descendants(key)
        .iter()
        .filter_map(|k| g.get(k))
        .map(|p| Part {
            entity_ref: p.entity_ref.clone(),
            kind: p.kind.clone(),
            title: p.title.clone(),
            owner: p.owner.as_deref().map(|o| name_of(g, o)),
        })
        .collect()
}

/// An API of a product or platform in its view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiItem {
    pub entity_ref: String,
    pub lifecycle: Option<String>,
    pub has_definition: bool,
    /// Platforms only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<Vec<ApiConsumer>>,
}

/// An offering as a platform declares it (`spec.offerings[]`), as written.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct DeclaredOffering(pub Value);

impl DeclaredOffering {
    /// The offered API as written, if it is a string.
    pub fn api(&self) -> Option<&str> {
        self.0.get("api").and_then(Value::as_str)
    }
}

impl std::fmt::Display for DeclaredOffering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A product's or platform's view.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary<ApiItem, Option<Scorecard>>,
    pub parts: Vec<Part>,
    pub dependencies: Vec<Dependency>,
    pub platforms: Vec<String>,
    /// The descriptor's `kpis` (products) or `offerings` and `targets` (platforms), as written,
    /// with the fields other domains' view extensions set (KPI values, measured targets) in
    /// their place or after them.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

impl Detail {
    /// The offerings a platform declares (none for a product).
    pub fn offerings(&self) -> Vec<DeclaredOffering> {
        match self.fields.get("offerings") {
            Some(Value::Array(list)) => list.iter().cloned().map(DeclaredOffering).collect(),
            _ => Vec::new(),
        }
    }
}

/// The view of the product (`kind` "product") or platform (`kind` "platform") `namespace/name`.
pub fn detail(gov: &Governance, pool: &Pool, kind: &str, namespace: &str, name: &str) -> Result<Detail, ApiError> {
    let key = EntityRef::new(kind, namespace, name).key();
    let m = model(gov, pool)?;
    let g = &m.graph;
    let Some(e) = g.get(&key) else {
        return Err(ApiError::not_found(format!("No {kind} named '{key}' found")));
    };
    let platform = kind == "platform";
    let apis: Vec<ApiItem> = g
        .apis_of(&key)
        .iter()
        .map(|a| {
            let api = g.get(a);
            ApiItem {
                entity_ref: name_of(g, a),
                lifecycle: api.and_then(|x| x.lifecycle.clone()),
                has_definition: api.is_some_and(|x| x.has_definition),
                consumers: platform.then(|| consumers(g, a)),
            }
        })
        .collect();
    let card = m.scorecard(&key);
    let summary = summary(g, e, &m.counts, apis, card);
    let (dependencies, platforms) = dependencies(g, &key);
    let mut fields = serde_json::Map::new();
    if platform {
        fields.insert("offerings".into(), Value::Array(e.offerings.clone()));
        fields.insert("targets".into(), Value::Array(e.targets.clone()));
    } else {
        fields.insert("kpis".into(), Value::Array(e.kpis.clone()));
    }
    // KPI values and target measurements come from the view extensions other domains register.
    let which = if platform { EntityKind::Platform } else { EntityKind::Product };
    for (field, value) in gov.hooks().view_fields(pool, g, which, &key)? {
        fields.insert(field.to_owned(), value);
    }
    Ok(Detail { summary, parts: part_list(g, &key), dependencies, platforms, fields })
}

/// What a team owns, by kind.
pub type Owns = BTreeMap<&'static str, BTreeSet<String>>;

/// One edge a team depends on another team through.
#[derive(Debug, Clone, Serialize)]
pub struct Via {
    pub source: String,
    pub relation: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamDependency {
    pub team: String,
    pub via: Vec<Via>,
}

/// A group: what it owns and whom it depends on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub entity_ref: String,
    pub title: Option<String>,
    pub owns: Owns,
    pub depends_on: Vec<TeamDependency>,
    /// Fields other domains add (`health`: the team's four keys).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

/// The view of the group `namespace/name`.
pub fn team(gov: &Governance, pool: &Pool, namespace: &str, name: &str) -> Result<TeamView, ApiError> {
    let key = EntityRef::new("group", namespace, name).key();
    let g = gov.snapshot(pool)?;
    let Some(team) = g.get(&key) else {
        return Err(ApiError::not_found(format!("No group named '{key}' found")));
    };
    let owned: Vec<&str> = g.declarers(&key, "ownedBy").collect();
    let mut owns: Owns = BTreeMap::new();
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
    let depends_on = depends
        .into_iter()
        .map(|(team, via)| TeamDependency {
            team,
            via: via.into_iter().map(|(source, relation, target)| Via { source, relation, target }).collect(),
        })
        .collect();
    let mut fields = serde_json::Map::new();
    for (field, value) in gov.hooks().view_fields(pool, &g, EntityKind::Team, &key)? {
        fields.insert(field.to_owned(), value);
    }
    Ok(TeamView { entity_ref: team.entity_ref.clone(), title: team.title.clone(), owns, depends_on, fields })
}

/// Filters of the findings list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub owner: Option<String>,
    pub entity: Option<String>,
}

/// Checks the filters of the findings list (before any blocking work).
pub fn finding_filter(q: FindingsQuery) -> Result<FindingFilter, ApiError> {
    finding_filter_with(q, &[])
}

/// [`finding_filter`], also knowing the rules of findings sources (`Governance::external_rules`).
pub fn finding_filter_with(q: FindingsQuery, more: &[&str]) -> Result<FindingFilter, ApiError> {
    if let Some(r) = &q.rule
        && !RULES.iter().any(|x| x.id == r.as_str())
        && !more.contains(&r.as_str())
        && !r.contains('/')
    {
        let mut known: Vec<&str> = RULES.iter().map(|x| x.id).collect();
        for m in more {
            if !known.contains(m) {
                known.push(m);
            }
        }
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
    Ok(FindingFilter {
        rule: q.rule,
        severity,
        owner: q.owner.as_deref().map(|o| parse_ref(o, Some("group"), "owner")).transpose()?,
        entity: q.entity.as_deref().map(|e| parse_ref(e, None, "entity")).transpose()?,
    })
}

/// The stored findings matching the filter.
pub fn findings(pool: &Pool, filter: &FindingFilter) -> Result<Items<Finding>, ApiError> {
    Ok(Items { items: store::list_findings(pool, filter)? })
}

/// Every product and platform with its level and checks.
pub fn scorecards(gov: &Governance, pool: &Pool) -> Result<Items<Scorecard>, ApiError> {
    let m = model(gov, pool)?;
    let g = &m.graph;
    let mut keys: Vec<&String> =
        g.entities.values().filter(|e| e.is("product") || e.is("platform")).map(|e| &e.key).collect();
    keys.sort();
    let items = keys.into_iter().filter_map(|k| m.scorecard(k)).collect();
    Ok(Items { items })
}

/// `GET /api/portal/scorecards`: the built-in scorecards (`items`), and what view extensions add
/// beside them (the scorecards users write).
pub fn scorecard_list(gov: &Governance, pool: &Pool) -> Result<serde_json::Value, ApiError> {
    let items = scorecards(gov, pool)?.items;
    let g = gov.snapshot(pool)?;
    let mut out = serde_json::Map::new();
    out.insert("items".into(), serde_json::to_value(items).map_err(anyhow::Error::from)?);
    for (field, value) in gov.hooks.scorecard_list_fields(pool, &g)? {
        out.insert(field.into(), value);
    }
    Ok(serde_json::Value::Object(out))
}
