//! The delivery office: release plans (`spec.roadmap` of products and platforms), the
//! dependencies between them, the impact of planned API changes, status updates, and value
//! reports per period against what was promised.
//!
//! A domain through the front door ([`domain`]): it reads the org graph from `Shared`,
//! consumption through the `ConsumptionFacts` hook, hands its findings to governance as a
//! findings source and adds `roadmap` to the product and platform views as a view extension. It
//! names no other domain.
//!
//! ```text
//! model.rs     roadmap items, who answers each need, report periods (pure)
//! rules.rs     the six delivery rules (pure)
//! views.rs     roadmaps, a platform's demand, updates: typed views
//! report.rs    value reports per period, totals and CSV (pure)
//! store.rs     plan_updates and value_reports (private)
//! handlers.rs  /api/portal/roadmaps, demand, roadmap updates, reports
//! ```

pub mod demo;
pub mod handlers;
pub mod model;
pub mod report;
pub mod routes;
pub mod rules;
mod store;
pub mod views;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::db::{Pool, now_ms};
use crate::domain::hooks::{EntityKind, FindingsSource, SourcedFinding, ViewExtension};
use crate::error::ApiError;
use crate::org::Graph;
use model::{Period, Plans, day_of};

/// `[delivery]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// An item in progress with no status update for this many days is stale.
    pub update_days: i64,
    /// The period a value report covers and is stored for: `month` or `quarter`.
    pub report_period: ReportPeriod,
    /// Store each period's value report when the period ends (and the last one, if missing, at
    /// start), and announce it (`report.published`).
    pub publish_reports: bool,
    /// The time-driven rules (overdue, stale, late) are judged again at least this often.
    pub evaluate_every_secs: f64,
    /// The period-end task looks this often (its first round this long after start, so that
    /// `demo-traffic` has written its KPI values before the last period is stored).
    pub publish_every_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReportPeriod {
    #[default]
    Month,
    Quarter,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            update_days: 14,
            report_period: ReportPeriod::Month,
            publish_reports: true,
            evaluate_every_secs: 60.0,
            publish_every_secs: 300.0,
        }
    }
}

/// How far back observed consumers of a changing API count.
const OBSERVED_MS: i64 = 28 * 86_400_000;
/// Status updates an item may carry.
pub const HEALTH: &[&str] = &["on-track", "at-risk", "off-track"];

/// What findings were computed from: (governance generation, updates version, day, when).
type Judged = (i64, (i64, Option<i64>), chrono::NaiveDate, Instant);

/// The delivery engine.
pub struct Delivery {
    pub settings: DeliverySettings,
    org: Arc<crate::org::Org>,
    hooks: Arc<crate::domain::Hooks>,
    /// What the findings were last computed from.
    last: Mutex<Option<Judged>>,
    /// The plans of the last graph read (held, so that a later graph cannot take its address).
    plans: Mutex<Option<(Arc<Graph>, Arc<Plans>)>>,
}

/// The delivery office's front door: the engine (a findings source and a view extension), its
/// handlers' data, and the task that stores each period's value report.
pub fn domain(settings: &DeliverySettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    use crate::domain::{Domain, Task};
    anyhow::ensure!(settings.update_days >= 1, "delivery.update_days: at least 1");
    anyhow::ensure!(settings.evaluate_every_secs > 0.0, "delivery.evaluate_every_secs: more than 0");
    anyhow::ensure!(settings.publish_every_secs >= 1.0, "delivery.publish_every_secs: at least 1");
    let delivery = Delivery::new(settings, shared);
    let mut d = Domain::new("delivery")
        .data(delivery.clone())
        .findings_source(delivery.clone())
        .view_extension(delivery.clone())
        .nav("/delivery", "Delivery", 75)
        .nav("/reports", "Reports", 76);
    if settings.publish_reports {
        let (me, pool) = (delivery.clone(), shared.pool.clone());
        d = d.task(Task::every("value-reports", Duration::from_secs_f64(settings.publish_every_secs), move || {
            me.publish_due(&pool, now_ms()).map(|_| ())
        }));
    }
    Ok(d)
}

/// Everything a view needs, read once.
pub struct Snapshot {
    pub graph: Arc<Graph>,
    pub plans: Arc<Plans>,
    pub last: HashMap<(String, String), store::UpdateRow>,
    pub observed: Vec<(String, String)>,
}

impl Snapshot {
    pub fn context(&self) -> views::Context<'_> {
        views::Context { g: &self.graph, plans: &self.plans, last: &self.last, observed: &self.observed }
    }
}

impl Delivery {
    /// The engine alone (the front door registers it; benchmarks build it directly).
    pub fn new(settings: &DeliverySettings, shared: &crate::domain::Shared) -> Arc<Delivery> {
        Arc::new(Delivery {
            settings: settings.clone(),
            org: shared.org.clone(),
            hooks: shared.hooks.clone(),
            last: Mutex::new(None),
            plans: Mutex::new(None),
        })
    }

    fn plans_of(&self, g: &Arc<Graph>) -> Arc<Plans> {
        let mut cached = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((of, p)) = &*cached
            && Arc::ptr_eq(of, g)
        {
            return p.clone();
        }
        let p = Arc::new(Plans::of(g));
        *cached = Some((g.clone(), p.clone()));
        p
    }

    /// Consumers observed in the last 28 days of the APIs the plans change.
    fn observed(&self, pool: &Pool, plans: &Plans, now: i64) -> anyhow::Result<Vec<(String, String)>> {
        let apis = rules::changed_apis(plans);
        let mut out = Vec::new();
        for f in self.hooks.consumption_facts.all() {
            out.extend(f.observed(pool, &apis, now - OBSERVED_MS)?);
        }
        Ok(out)
    }

    /// The graph, plans, last updates and observed consumers as they stand (blocking).
    pub fn snapshot(&self, pool: &Pool) -> anyhow::Result<Snapshot> {
        let graph = self.org.snapshot(pool)?;
        let plans = self.plans_of(&graph);
        let last = store::last_updates(pool)?;
        let observed = self.observed(pool, &plans, now_ms())?;
        Ok(Snapshot { graph, plans, last, observed })
    }

    /// Every delivery finding over `g` at `now`.
    pub fn findings_at(&self, pool: &Pool, g: &Graph, now: i64) -> anyhow::Result<Vec<SourcedFinding>> {
        let plans = Plans::of(g);
        let last: HashMap<(String, String), i64> =
            store::last_updates(pool)?.into_iter().map(|(k, u)| (k, u.created_at)).collect();
        let observed = self.observed(pool, &plans, now)?;
        let facts = rules::Facts {
            today: day_of(now),
            last_update: &last,
            update_days: self.settings.update_days,
            observed: &observed,
            now,
        };
        Ok(rules::evaluate(g, &plans, &facts))
    }

    /// Records a status update of an item the descriptor has (blocking).
    pub fn record_update(
        &self,
        pool: &Pool,
        key: &str,
        item: &str,
        input: UpdateInput,
        author: &str,
    ) -> Result<views::UpdateView, ApiError> {
        let g = self.org.snapshot(pool)?;
        if g.get(key).is_none() {
            return Err(ApiError::not_found(format!("No product or platform named '{key}' found")));
        }
        let plans = self.plans_of(&g);
        if plans.get(key, item).is_none() {
            return Err(ApiError::not_found(format!("{key} has no roadmap item '{item}' in its descriptor")));
        }
        let (health, note, progress) = input.check()?;
        let row = store::insert_update(
            pool,
            &store::NewUpdate {
                entity_ref: key,
                item_id: item,
                health: &health,
                note: &note,
                progress,
                author,
                at: now_ms(),
            },
        )?;
        Ok(views::UpdateView::from(&row))
    }

    /// An item's update history (also of an item the descriptor no longer has).
    pub fn updates(&self, pool: &Pool, key: &str, item: &str) -> Result<views::UpdatesView, ApiError> {
        let g = self.org.snapshot(pool)?;
        let plans = self.plans_of(&g);
        let rows = store::updates_of(pool, key, item)?;
        let current = plans.get(key, item);
        if current.is_none() && rows.is_empty() {
            return Err(ApiError::not_found(format!("{key} has no roadmap item '{item}' and no updates of one")));
        }
        Ok(views::UpdatesView {
            entity_ref: key.to_owned(),
            item: item.to_owned(),
            status: current.map_or("dropped", |i| i.status.as_str()),
            current: current.is_some(),
            updates: rows.iter().map(views::UpdateView::from).collect(),
        })
    }

    /// The period this instant falls in, of the configured kind.
    pub fn current_period(&self, now: i64) -> Period {
        Period::holding(day_of(now), self.settings.report_period == ReportPeriod::Quarter)
    }

    /// The value report of `period`: the stored one for a period that has one, else computed
    /// now (blocking).
    pub fn report(&self, pool: &Pool, period: Period, now: i64) -> anyhow::Result<report::Report> {
        if let Some(body) = store::report(pool, &period.to_string())?
            && let Ok(stored) = serde_json::from_str::<report::Report>(&body)
        {
            return Ok(stored);
        }
        self.compute_report(pool, period, now, false)
    }

    fn compute_report(&self, pool: &Pool, period: Period, now: i64, snapshot: bool) -> anyhow::Result<report::Report> {
        let g = self.org.snapshot(pool)?;
        let plans = self.plans_of(&g);
        let mut measured = report::Measured::default();
        let (from, to) = (model::ms_of(period.start()), model::ms_of(period.end()));
        for f in self.hooks.consumption_facts.all() {
            for e in g.entities.values() {
                if e.is("product") && !e.kpis.is_empty() {
                    measured.kpis.entry(e.key.clone()).or_default().extend(f.kpi_values(pool, &e.key)?);
                } else if e.is("platform") {
                    if !e.targets.is_empty() {
                        measured.targets.entry(e.key.clone()).or_default().extend(f.targets(pool, &g, &e.key)?);
                    }
                    let apis = g.apis_of(&e.key);
                    measured.adoption.insert(e.key.clone(), f.adoption(pool, &apis, from, to)?);
                }
            }
        }
        let owners: std::collections::BTreeSet<&String> = g
            .entities
            .values()
            .filter(|e| e.is("product") || e.is("platform"))
            .filter_map(|e| e.owner.as_ref())
            .filter(|o| o.starts_with("group:"))
            .collect();
        for h in self.hooks.team_health.all() {
            for team in &owners {
                if let Some(keys) = h.team_keys(pool, &g, team, from, to.min(now + 1))? {
                    measured.teams.insert((*team).clone(), keys);
                }
            }
        }
        Ok(report::compute(&g, &plans, &measured, period, now, snapshot))
    }

    /// Stores the report of `period` unless one is; answers it when this call stored it.
    pub fn publish(&self, pool: &Pool, period: Period, now: i64) -> anyhow::Result<Option<report::Report>> {
        let r = self.compute_report(pool, period, now, true)?;
        let stored = store::store_report(pool, &r.period, now, &serde_json::to_string(&r)?)?;
        if stored {
            tracing::info!(period = %r.period, "A value report was published.");
            let body = serde_json::json!({"period": r.period, "generatedAt": r.generated_at, "totals": r.totals,
                "report": format!("/api/portal/reports/value?period={}", r.period)});
            if let Err(e) = self.hooks.announce(pool, "report.published", "delivery", &body) {
                tracing::warn!(error.cause = format!("{e:#}"), "Announcing a published value report failed.");
            }
        }
        Ok(stored.then_some(r))
    }

    /// The task's round: the last finished period's report, if not stored yet.
    pub fn publish_due(&self, pool: &Pool, now: i64) -> anyhow::Result<Option<report::Report>> {
        self.publish(pool, self.current_period(now).previous(), now)
    }

    /// The totals of every stored report, oldest period first, within a domain.
    pub fn history(&self, pool: &Pool, domain: Option<&str>) -> anyhow::Result<report::History> {
        let mut periods: Vec<(Period, report::Report)> = store::reports(pool)?
            .into_iter()
            .filter_map(|(p, body)| Some((Period::parse(&p)?, serde_json::from_str::<report::Report>(&body).ok()?)))
            .collect();
        periods.sort_by_key(|(p, _)| (p.start(), p.end()));
        Ok(report::History {
            periods: periods
                .into_iter()
                .map(|(_, r)| {
                    let r = r.within(domain);
                    report::HistoryPoint { period: r.period, generated_at: r.generated_at, totals: r.totals }
                })
                .collect(),
        })
    }
}

/// A posted status update, checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    pub health: Option<String>,
    pub note: Option<String>,
    pub progress: Option<serde_json::Number>,
}

impl UpdateInput {
    fn check(self) -> Result<(String, String, Option<i32>), ApiError> {
        let health = self.health.ok_or_else(|| ApiError::input("health: required (on-track, at-risk or off-track)"))?;
        if !HEALTH.contains(&health.as_str()) {
            return Err(ApiError::input(format!("health: \"{health}\" is not one of on-track, at-risk, off-track")));
        }
        let note = self.note.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            ApiError::input("note: required (say what moved since the last update, and what is in the way)")
        })?;
        if note.len() > 4_000 {
            return Err(ApiError::input("note: at most 4000 bytes"));
        }
        let progress = match self.progress {
            None => None,
            Some(n) => match n.as_i64().filter(|p| (0..=100).contains(p)) {
                Some(p) => Some(p as i32),
                None => return Err(ApiError::input(format!("progress: {n} is not a whole number from 0 to 100"))),
            },
        };
        Ok((health, note, progress))
    }
}

impl FindingsSource for Delivery {
    fn name(&self) -> &'static str {
        "delivery"
    }

    fn rules(&self) -> &'static [&'static str] {
        rules::RULE_IDS
    }

    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>> {
        let now = now_ms();
        let version = store::updates_version(pool)?;
        let today = day_of(now);
        {
            let every = Duration::from_secs_f64(self.settings.evaluate_every_secs);
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|(gen_, v, d, at)| {
                gen_ == generation && v == version && d == today && at.elapsed() < every
            }) {
                return Ok(None);
            }
            *last = Some((generation, version, today, Instant::now()));
        }
        Ok(Some(self.findings_at(pool, g, now)?))
    }
}

/// Product and platform views show their roadmap.
impl ViewExtension for Delivery {
    fn fields(
        &self,
        pool: &Pool,
        _g: &Graph,
        kind: EntityKind,
        key: &str,
    ) -> anyhow::Result<Vec<(&'static str, Value)>> {
        if kind == EntityKind::Team {
            return Ok(Vec::new());
        }
        let s = self.snapshot(pool)?;
        Ok(vec![("roadmap", serde_json::to_value(views::roadmap_of(&s.context(), key))?)])
    }
}
