//! What team health answers, typed: the four keys of a scope over a window, the deployments and
//! incidents with their attribution and failure links, and CSV of each.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Health;
use super::model::{self, Bands, Change, Deployment, Incident, Keys, LinkedBy, Links, Status, Tier, Window};
use super::parts::{self, Parts};
use super::store::{self, ChangeRow, DeploymentRow, IncidentRow};
use super::weeks;
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::{Pool, now_ms, rfc3339};
use crate::error::ApiError;
use crate::org::Graph;

/// The days a view covers by default.
pub const DEFAULT_DAYS: u64 = 90;
/// How far before the window deployments are read (a change shipped then is not counted again).
const BEFORE_MS: i64 = 90 * model::DAY_MS;
/// How far after the window deployments and incidents are read (a later rollback or incident).
const AFTER_MS: i64 = 30 * model::DAY_MS;

/// Which events a view covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// An entity and what is part of it.
    Entity(String),
    Product(String),
    Platform(String),
    /// What a group owns, and what is part of that.
    Team(String),
}

impl Scope {
    pub fn key(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Entity(k) | Scope::Product(k) | Scope::Platform(k) | Scope::Team(k) => Some(k),
        }
    }
}

/// The query of `/api/portal/dora`, `/deployments` and `/incidents`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    pub entity: Option<String>,
    pub product: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub benchmark: Option<String>,
    pub format: Option<String>,
    pub limit: Option<String>,
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Request {
    pub scope: Scope,
    pub window: Window,
    pub bands: Bands,
    pub csv: bool,
    pub limit: usize,
}

fn key(raw: &str, kind: &str, what: &str) -> Result<String, ApiError> {
    EntityRef::parse(raw, Some(kind), DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{what}: {e}")))
}

fn day(raw: &str, what: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::input(format!("{what}: \"{raw}\" is not a day (YYYY-MM-DD)")))
}

impl HealthQuery {
    pub fn request(self) -> Result<Request, ApiError> {
        let given = [&self.entity, &self.product, &self.platform, &self.team].iter().filter(|v| v.is_some()).count();
        if given > 1 {
            return Err(ApiError::input("give one of entity, product, platform and team, not several"));
        }
        let scope = if let Some(e) = &self.entity {
            Scope::Entity(key(e, "component", "entity")?)
        } else if let Some(p) = &self.product {
            Scope::Product(key(p, "product", "product")?)
        } else if let Some(p) = &self.platform {
            Scope::Platform(key(p, "platform", "platform")?)
        } else if let Some(t) = &self.team {
            Scope::Team(key(t, "group", "team")?)
        } else {
            Scope::All
        };
        let to = match &self.to {
            Some(t) => day(t, "to")?,
            None => model::day_of(now_ms()),
        };
        let from = match &self.from {
            Some(f) => day(f, "from")?,
            None => Window::last(DEFAULT_DAYS, to).from,
        };
        if from > to {
            return Err(ApiError::input("from: after to"));
        }
        if (to - from).num_days() > 800 {
            return Err(ApiError::input("from: a window spans at most 800 days"));
        }
        let bands = match &self.benchmark {
            None => model::BANDS[0],
            Some(b) => b.trim().parse::<u16>().ok().and_then(Bands::of_year).ok_or_else(|| {
                let known: Vec<String> = model::BANDS.iter().map(|b| b.year.to_string()).collect();
                ApiError::input(format!("benchmark: \"{b}\" is not a known report year ({})", known.join(", ")))
            })?,
        };
        let csv = match self.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(f) => return Err(ApiError::input(format!("format: \"{f}\" is not json or csv"))),
        };
        let limit = match &self.limit {
            None => 500,
            Some(l) => l
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| ApiError::input(format!("limit: \"{l}\" is not a whole number from 1 to 10000")))?,
        };
        Ok(Request { scope, window: Window { from, to }, bands, csv, limit })
    }
}

/// The group that answers for an entity: its owner if a group, else its product's or
/// platform's.
pub fn team_of(g: &Graph, key: &str) -> Option<String> {
    let group = |k: &str| g.get(k).and_then(|e| e.owner.clone()).filter(|o| o.starts_with("group:"));
    group(key).or_else(|| g.membership(key).iter().find_map(|m| group(m)))
}

/// The entities a scope covers (`None`: all).
pub fn entities_of(g: &Graph, scope: &Scope) -> Result<Option<Vec<String>>, ApiError> {
    let expect = |k: &str, kind: &str| -> Result<(), ApiError> {
        match g.get(k) {
            Some(e) if kind.is_empty() || e.is(kind) => Ok(()),
            _ => Err(ApiError::not_found(format!(
                "No {} named '{k}' found",
                if kind.is_empty() { "entity" } else { kind }
            ))),
        }
    };
    let with_parts = |k: &str| {
        let mut v = g.descendants(k);
        v.push(k.to_owned());
        v
    };
    Ok(Some(match scope {
        Scope::All => return Ok(None),
        Scope::Entity(k) => {
            expect(k, "")?;
            with_parts(k)
        }
        Scope::Product(k) => {
            expect(k, "product")?;
            with_parts(k)
        }
        Scope::Platform(k) => {
            expect(k, "platform")?;
            with_parts(k)
        }
        Scope::Team(k) => {
            expect(k, "group")?;
            let mut set: HashSet<String> = HashSet::new();
            for owned in g.declarers(k, "ownedBy") {
                set.extend(with_parts(owned));
            }
            let mut v: Vec<String> = set.into_iter().collect();
            v.sort();
            v
        }
    }))
}

/// The scope's events around a window.
pub struct Events {
    pub deployments: Vec<DeploymentRow>,
    pub changes: HashMap<i64, Vec<ChangeRow>>,
    pub incidents: Vec<IncidentRow>,
}

impl Events {
    pub fn model(&self) -> (Vec<Deployment>, Vec<Incident>) {
        let deps = self
            .deployments
            .iter()
            .map(|d| Deployment {
                id: d.id.clone(),
                entity: d.entity_ref.clone(),
                tier: Tier::parse(&d.tier).unwrap_or(Tier::Other),
                status: Status::parse(&d.status).unwrap_or(Status::InProgress),
                finished_at: d.finished_at,
                version: d.version.clone(),
                rollback_of: d.rollback_of.clone(),
                changes: self
                    .changes
                    .get(&d.seq)
                    .map(|cs| cs.iter().map(|c| Change { sha: c.sha.clone(), committed_at: c.committed_at }).collect())
                    .unwrap_or_default(),
            })
            .collect();
        let incidents = self.incidents.iter().cloned().map(incident_of).collect();
        (deps, incidents)
    }
}

/// An incident as the keys need it.
fn incident_of(i: IncidentRow) -> Incident {
    Incident {
        id: i.id,
        entity: i.entity_ref,
        created_at: i.created_at,
        resolved_at: i.resolved_at,
        caused_by: i.caused_by,
    }
}

/// The refs of a scope; for every entity (`None`), those that have sent a deployment.
fn refs_of<'a>(pool: &Pool, entities: Option<&'a [String]>) -> anyhow::Result<std::borrow::Cow<'a, [String]>> {
    Ok(match entities {
        Some(e) => std::borrow::Cow::Borrowed(e),
        None => std::borrow::Cow::Owned(store::deploying_entities(pool)?),
    })
}

/// Reads the events of `entities` (all when `None`) around `window`.
pub fn events(pool: &Pool, entities: Option<&[String]>, window: Window) -> anyhow::Result<Events> {
    let (from, to) = (window.start_ms() - BEFORE_MS, window.end_ms() + AFTER_MS);
    let entities = &*refs_of(pool, entities)?;
    let (deployments, changes) = store::deployments_of(pool, entities, from, to)?;
    let incidents = incidents_around(pool, entities, window)?;
    Ok(Events { deployments, changes, incidents })
}

/// The incidents the keys of `window` may attribute: created from 30 days before it to 30 days
/// after it, or naming a deployment finished in it.
fn incidents_around(pool: &Pool, entities: &[String], window: Window) -> anyhow::Result<Vec<IncidentRow>> {
    store::incidents_of(
        pool,
        entities,
        (window.start_ms() - AFTER_MS, window.end_ms() + AFTER_MS),
        (window.start_ms(), window.end_ms()),
    )
}

/// What the four keys of a scope over `window` are made of, read from the weekly rollup
/// (`store::weeks_of`, see [`super::weeks`]) and the few rows failures need: the counted
/// deployments per day, each change's lead time, and the failed deployments with their
/// recovery. `entities`: every entity for `None`.
pub fn key_parts(pool: &Pool, entities: Option<&[String]>, window: Window) -> anyhow::Result<Parts> {
    let (start, end) = (window.start_ms(), window.end_ms());
    let read = (start - BEFORE_MS, end + AFTER_MS);
    let mut rows = store::weeks_of(pool, entities, weeks::week_of(start), weeks::week_of(read.1 - 1))?;
    rows.sort_unstable_by(|a, b| a.entity.cmp(&b.entity).then(a.week.cmp(&b.week)));
    let weeks::Tally { days, leads, mut failing } = weeks::tally(&rows, start, end, read);
    // Incidents: tied to the counted deployment they name, else by time within their entity.
    let refs = &*refs_of(pool, entities)?;
    let in_scope: HashSet<&str> = refs.iter().map(String::as_str).collect();
    let created = (start - AFTER_MS, end + AFTER_MS);
    for l in store::incident_links(pool, refs, created, (start, end), read)? {
        let tied = match (l.named_id, l.named_entity, l.named_finished) {
            (Some(dep), Some(entity), Some(finished)) if in_scope.contains(entity.as_str()) => Some((dep, finished)),
            _ if in_scope.contains(l.entity_ref.as_str()) => l.before_id.zip(l.before_finished),
            _ => None,
        };
        if let Some((dep, finished)) = tied {
            failing.entry(dep).or_default().incident(finished, l.resolved_at);
        }
    }
    let any_event = !days.is_empty() || store::any_finished(pool, refs, start, end)?;
    Ok(Parts { days, leads, failed: parts::failed_in(failing, window), any_event })
}

/// The four keys of a scope over `window`.
pub fn scope_keys(pool: &Pool, entities: Option<&[String]>, window: Window, bands: &Bands) -> anyhow::Result<Keys> {
    Ok(parts::assemble(key_parts(pool, entities, window)?, window, bands))
}

/// The four keys of a scope, with what it covers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraView {
    pub scope: ScopeView,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub benchmark: u16,
    #[serde(flatten)]
    pub keys: Keys,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeView {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,
    /// How many catalog entities the scope covers.
    pub entities: usize,
}

fn scope_view(g: &Graph, scope: &Scope, entities: Option<&[String]>) -> ScopeView {
    let kind = match scope {
        Scope::All => "all",
        Scope::Entity(_) => "entity",
        Scope::Product(_) => "product",
        Scope::Platform(_) => "platform",
        Scope::Team(_) => "team",
    };
    ScopeView {
        kind,
        entity_ref: scope.key().map(|k| g.display(k)),
        entities: entities.map_or(g.entities.len(), <[String]>::len),
    }
}

impl Health {
    /// `GET /api/portal/dora`.
    pub fn dora(&self, pool: &Pool, r: &Request) -> Result<DoraView, ApiError> {
        let g = self.org.snapshot(pool)?;
        let entities = entities_of(&g, &r.scope)?;
        let keys = scope_keys(pool, entities.as_deref(), r.window, &r.bands)?;
        Ok(DoraView {
            scope: scope_view(&g, &r.scope, entities.as_deref()),
            from: r.window.from,
            to: r.window.to,
            benchmark: r.bands.year,
            keys,
        })
    }

    /// The four keys of the last 30 days of a product, platform or team (the views' `health`).
    pub fn recent(&self, pool: &Pool, g: &Graph, scope: Scope) -> anyhow::Result<Keys> {
        let window = Window::last(30, model::day_of(now_ms()));
        let entities = entities_of(g, &scope).map_err(|e| anyhow::anyhow!("{e}"))?;
        scope_keys(pool, entities.as_deref(), window, &model::BANDS[0])
    }

    /// `GET /api/portal/deployments`: newest first.
    pub fn deployments(&self, pool: &Pool, r: &Request) -> Result<DeploymentList, ApiError> {
        let g = self.org.snapshot(pool)?;
        let entities = entities_of(&g, &r.scope)?;
        let ev = events(pool, entities.as_deref(), r.window)?;
        let (deps, incidents) = ev.model();
        let links = model::link(&deps, &incidents);
        let leads = first_leads(&deps);
        let mut items: Vec<DeploymentItem> = ev
            .deployments
            .iter()
            .filter(|d| d.finished_at.is_none_or(|f| r.window.holds(f)))
            .map(|d| deployment_item(&g, d, ev.changes.get(&d.seq).map_or(0, Vec::len), &links, &leads))
            .collect();
        items.reverse();
        let total = items.len();
        items.truncate(r.limit);
        Ok(DeploymentList { total, items })
    }

    /// `GET /api/portal/incidents`: newest first.
    pub fn incidents(&self, pool: &Pool, r: &Request) -> Result<IncidentList, ApiError> {
        let g = self.org.snapshot(pool)?;
        let entities = entities_of(&g, &r.scope)?;
        let ev = events(pool, entities.as_deref(), r.window)?;
        let (deps, incidents) = ev.model();
        let links = model::link(&deps, &incidents);
        let finished: HashMap<&str, i64> =
            ev.deployments.iter().filter_map(|d| Some((d.id.as_str(), d.finished_at?))).collect();
        let mut items: Vec<IncidentItem> = ev
            .incidents
            .iter()
            .filter(|i| r.window.holds(i.created_at))
            .map(|i| {
                let link = links.incident_to.get(&i.id);
                let deployed = link.and_then(|(d, _)| finished.get(d.as_str()).copied());
                IncidentItem {
                    id: i.id.clone(),
                    entity_ref: g.display(&i.entity_ref),
                    team: team_of(&g, &i.entity_ref).map(|t| g.display(&t)),
                    severity: i.severity.clone(),
                    title: i.title.clone(),
                    created_at: rfc3339(i.created_at),
                    resolved_at: i.resolved_at.map(rfc3339),
                    caused_by: i.caused_by.clone(),
                    deployment: link.map(|(d, _)| d.clone()),
                    linked_by: link.map(|(_, by)| *by),
                    recovery_hours: match (i.resolved_at, deployed) {
                        (Some(r), Some(d)) => Some(model::round3((r - d).max(0) as f64 / model::HOUR_MS as f64)),
                        _ => None,
                    },
                    source: i.source.clone(),
                }
            })
            .collect();
        items.reverse();
        let total = items.len();
        items.truncate(r.limit);
        Ok(IncidentList { total, items })
    }
}

/// The lead time (hours) of each change at its first counted deployment: deployment id ->
/// lead times of the changes it was first to ship.
fn first_leads(deps: &[Deployment]) -> HashMap<String, Vec<f64>> {
    let mut first: HashMap<(&str, &str), (i64, &str, i64)> = HashMap::new();
    for d in deps.iter().filter(|d| d.counts()) {
        let f = d.finished_at.unwrap_or_default();
        for c in &d.changes {
            let e = first.entry((d.entity.as_str(), c.sha.as_str())).or_insert((f, d.id.as_str(), c.committed_at));
            if f < e.0 {
                *e = (f, d.id.as_str(), c.committed_at);
            }
        }
    }
    let mut out: HashMap<String, Vec<f64>> = HashMap::new();
    for (at, id, committed) in first.values() {
        if at > committed {
            out.entry((*id).to_owned()).or_default().push((at - committed) as f64 / model::HOUR_MS as f64);
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentItem {
    pub id: String,
    pub entity_ref: String,
    pub system: Option<String>,
    pub product: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
    pub environment: String,
    pub tier: String,
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub commit_sha: String,
    pub version: Option<String>,
    pub changes: usize,
    /// The median lead time of the changes this deployment was first to ship.
    pub lead_time_hours: Option<f64>,
    pub rollback_of: Option<String>,
    pub failed: bool,
    pub incidents: Vec<String>,
    pub rolled_back_by: Option<String>,
    pub source: String,
}

fn deployment_item(
    g: &Graph,
    d: &DeploymentRow,
    changes: usize,
    links: &Links,
    leads: &HashMap<String, Vec<f64>>,
) -> DeploymentItem {
    let members = g.membership(&d.entity_ref);
    let failure = links.failed.get(&d.id);
    let system = g
        .get(&d.entity_ref)
        .and_then(|e| e.edges.iter().find(|x| x.rel == "partOf" && x.target.starts_with("system:")))
        .map(|x| x.target_ref.clone());
    DeploymentItem {
        id: d.id.clone(),
        entity_ref: g.display(&d.entity_ref),
        system,
        product: Graph::of_kind(&members, "product").first().map(|k| g.display(k)),
        platform: Graph::of_kind(&members, "platform").first().map(|k| g.display(k)),
        team: team_of(g, &d.entity_ref).map(|t| g.display(&t)),
        environment: d.environment.clone(),
        tier: d.tier.clone(),
        status: d.status.clone(),
        started_at: d.started_at.map(rfc3339),
        finished_at: d.finished_at.map(rfc3339),
        commit_sha: d.commit_sha.clone(),
        version: d.version.clone(),
        changes,
        lead_time_hours: leads.get(&d.id).and_then(|l| model::median(&mut l.clone())).map(model::round3),
        rollback_of: d.rollback_of.clone(),
        failed: failure.is_some(),
        incidents: failure.map(|f| f.incidents.clone()).unwrap_or_default(),
        rolled_back_by: failure.and_then(|f| f.rolled_back_by.clone()),
        source: d.source.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentList {
    pub total: usize,
    pub items: Vec<DeploymentItem>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentItem {
    pub id: String,
    pub entity_ref: String,
    pub team: Option<String>,
    pub severity: Option<String>,
    pub title: Option<String>,
    pub created_at: String,
    pub resolved_at: Option<String>,
    pub caused_by: Option<String>,
    /// The deployment it is attributed to, and how.
    pub deployment: Option<String>,
    pub linked_by: Option<LinkedBy>,
    pub recovery_hours: Option<f64>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentList {
    pub total: usize,
    pub items: Vec<IncidentItem>,
}

fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| cell(&x.to_string())).unwrap_or_default()
}

/// The four keys as CSV: one row per key, then one per week.
pub fn dora_csv(v: &DoraView) -> String {
    let k = &v.keys;
    let band = |b: Option<model::Band>| b.map(|b| b.as_str().to_owned());
    let mut out = String::from("row,value,count,band\n");
    let f = &k.deployment_frequency;
    out.push_str(&format!(
        "deployment_days_per_week,{},{},{}\n",
        opt(&f.deployment_days_per_week),
        f.deployments,
        opt(&band(f.band))
    ));
    let l = &k.lead_time;
    out.push_str(&format!("lead_time_hours,{},{},{}\n", opt(&l.median_hours), l.changes, opt(&band(l.band))));
    let c = &k.change_failure_rate;
    out.push_str(&format!("change_failure_rate,{},{},{}\n", opt(&c.rate), c.deployments, opt(&band(c.band))));
    let r = &k.recovery_time;
    out.push_str(&format!(
        "recovery_hours,{},{},{}\n",
        opt(&r.median_hours),
        r.incidents + r.rollbacks,
        opt(&band(r.band))
    ));
    out.push_str("\nweek,deployments,deployment_days,lead_time_hours,change_failure_rate,partial\n");
    for w in &k.series {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            w.week,
            w.deployments,
            w.deployment_days,
            opt(&w.lead_time_hours),
            opt(&w.change_failure_rate),
            w.partial
        ));
    }
    out
}

pub fn deployments_csv(l: &DeploymentList) -> String {
    let mut out = String::from(
        "id,entity,system,product,platform,team,environment,tier,status,started_at,finished_at,commit_sha,version,changes,lead_time_hours,rollback_of,failed,incidents,rolled_back_by,source\n",
    );
    for d in &l.items {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            cell(&d.id),
            cell(&d.entity_ref),
            opt(&d.system),
            opt(&d.product),
            opt(&d.platform),
            opt(&d.team),
            cell(&d.environment),
            d.tier,
            d.status,
            opt(&d.started_at),
            opt(&d.finished_at),
            cell(&d.commit_sha),
            opt(&d.version),
            d.changes,
            opt(&d.lead_time_hours),
            opt(&d.rollback_of),
            d.failed,
            cell(&d.incidents.join(" ")),
            opt(&d.rolled_back_by),
            d.source
        ));
    }
    out
}

pub fn incidents_csv(l: &IncidentList) -> String {
    let mut out = String::from(
        "id,entity,team,severity,title,created_at,resolved_at,caused_by,deployment,linked_by,recovery_hours,source\n",
    );
    for i in &l.items {
        let by = i.linked_by.map(|b| if b == LinkedBy::CausedBy { "causedBy" } else { "time" });
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            cell(&i.id),
            cell(&i.entity_ref),
            opt(&i.team),
            opt(&i.severity),
            opt(&i.title),
            i.created_at,
            opt(&i.resolved_at),
            opt(&i.caused_by),
            opt(&i.deployment),
            opt(&by),
            opt(&i.recovery_hours),
            i.source
        ));
    }
    out
}
