//! Team health: the four keys (DORA) of every product, platform and team, from deployment and
//! incident events sent to `POST /api/deployments` and `/api/incidents` or received as GitHub and
//! GitLab webhooks.
//!
//! A domain through the front door ([`domain`]): it attributes events through the org graph
//! from `Shared`, receives webhooks through the webhook-listener hook (the receiving domain
//! authenticates and de-duplicates them, and lends its provider API for commit ranges), hands
//! `no-production-deployment` findings to governance, adds scorecard checks, adds `health` to
//! the product, platform and team views, and the four keys of each team to value reports. It
//! names no other domain.
//!
//! ```text
//! model.rs     what counts, failure links, the four keys and bands (pure)
//! parts.rs     the four keys from their parts, which the model and the store's reads give
//! weeks.rs     the weekly rollup the keys read: built at intake, tallied for a window
//! intake.rs    events checked one by one and attributed, then written
//! webhooks.rs  GitHub deployment_status and issues, GitLab Deployment Hook
//! views.rs     the DORA view, deployments and incidents with their links, CSV
//! store/       deployments, deployment_changes, incidents, change_leads (private); keys.rs
//!              keeps the parts the keys read at intake and reads them aggregated
//! handlers.rs  /api/deployments, /api/incidents, /api/portal/dora|deployments|incidents
//! demo.rs      90 days of events for the demo catalog
//! ```

pub mod demo;
pub mod facts;
pub mod handlers;
pub mod intake;
pub mod model;
pub mod parts;
pub mod routes;
mod store;
pub mod views;
pub mod webhooks;
pub mod weeks;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::db::{Pool, now_ms};
use crate::domain::hooks::{
    CheckSource, EntityKind, FindingsSource, Grade, Level, SourcedCheck, SourcedFinding, TeamHealth, ViewExtension,
};
use crate::org::Graph;
use model::{Keys, Window};
use views::Scope;

/// `[health]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// A production component of a team that sends deployments, with none in this many days,
    /// gets `no-production-deployment`; the scorecard checks look this far back too.
    pub idle_days: u64,
    /// Findings and scorecard checks are computed again at least this often.
    pub evaluate_every_secs: f64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self { idle_days: 90, evaluate_every_secs: 60.0 }
    }
}

/// The governance rule this domain reports under.
pub const RULE_IDS: &[&str] = &["no-production-deployment"];

/// What the judgements were computed from: (graph generation or address, store version).
type Version = (i64, Option<i64>, i64, Option<i64>);

/// Scorecard checks per product or platform.
type Checks = Arc<HashMap<String, Vec<SourcedCheck>>>;

/// The team-health engine.
pub struct Health {
    pub settings: HealthSettings,
    org: Arc<crate::org::Org>,
    /// When the findings were last computed, and from what.
    judged: Mutex<Option<(i64, Version, Instant)>>,
    /// The last scorecard checks, by what they were computed from.
    checks: Mutex<Option<(usize, Version, Instant, Checks)>>,
    /// Itself, for work that outlives a borrowed call (a webhook's blocking writes).
    this: std::sync::Weak<Health>,
}

/// Team health's front door.
pub fn domain(settings: &HealthSettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    anyhow::ensure!(settings.idle_days >= 7, "health.idle_days: at least 7");
    anyhow::ensure!(settings.evaluate_every_secs > 0.0, "health.evaluate_every_secs: more than 0");
    let health = Health::new(settings, shared);
    // Deployments written before the weekly rollup existed are rolled up now (once).
    let built = store::build_weeks_if_missing(&shared.pool)?;
    if built > 0 {
        tracing::info!(weeks = built, "health: weekly rollup built from the stored deployments");
    }
    Ok(crate::domain::Domain::new("health")
        .data(health.clone())
        .findings_source(health.clone())
        .view_extension(health.clone())
        .entity_facts(health.clone())
        .check_source(health.clone())
        .team_health(health.clone())
        .webhook_listener(health.clone())
        .nav("/health", "Health", 77))
}

impl Health {
    /// The engine alone (the front door registers it; benchmarks build it directly).
    pub fn new(settings: &HealthSettings, shared: &crate::domain::Shared) -> Arc<Health> {
        Arc::new_cyclic(|this| Health {
            settings: settings.clone(),
            org: shared.org.clone(),
            judged: Mutex::new(None),
            checks: Mutex::new(None),
            this: this.clone(),
        })
    }

    fn idle_ms(&self) -> i64 {
        self.settings.idle_days as i64 * model::DAY_MS
    }

    /// Teams with a deployment of any kind since `since`, and entities with a counted one.
    fn deploying(&self, pool: &Pool, g: &Graph, since: i64) -> anyhow::Result<(HashSet<String>, HashSet<String>)> {
        let mut teams = HashSet::new();
        let mut counted = HashSet::new();
        for (entity, _, tier, status) in store::deploying_since(pool, since)? {
            if let Some(t) = views::team_of(g, &entity) {
                teams.insert(t);
            }
            if tier == "production" && status == "success" {
                counted.insert(entity);
            }
        }
        Ok((teams, counted))
    }

    /// The `no-production-deployment` findings at `now`.
    pub fn findings_at(&self, pool: &Pool, g: &Graph, now: i64) -> anyhow::Result<Vec<SourcedFinding>> {
        let (teams, counted) = self.deploying(pool, g, now - self.idle_ms())?;
        let mut out = Vec::new();
        let mut keys: Vec<&String> = g.entities.keys().collect();
        keys.sort();
        for k in keys {
            let e = &g.entities[k];
            if !e.is("component") || !e.lifecycle_is("production") || counted.contains(k) {
                continue;
            }
            let Some(team) = views::team_of(g, k).filter(|t| teams.contains(t)) else { continue };
            out.push(SourcedFinding {
                entity_ref: k.clone(),
                rule: "no-production-deployment".into(),
                message: format!(
                    "{} is in production, and its team {} sends deployments, but none of it reached production in {} days",
                    e.entity_ref,
                    g.get(&team).map_or(team.as_str(), |t| t.entity_ref.as_str()),
                    self.settings.idle_days
                ),
                details: serde_json::json!({"team": team, "days": self.settings.idle_days}),
                level: Some(Level::Info),
            });
        }
        Ok(out)
    }

    /// The scorecard checks of every product and platform whose team sends deployments.
    pub fn checks_at(&self, pool: &Pool, g: &Graph, now: i64) -> anyhow::Result<HashMap<String, Vec<SourcedCheck>>> {
        let window = Window::last(self.settings.idle_days, model::day_of(now));
        let (teams, _) = self.deploying(pool, g, window.start_ms())?;
        let mut out = HashMap::new();
        if teams.is_empty() {
            return Ok(out);
        }
        for e in g.entities.values().filter(|e| e.is("product") || e.is("platform")) {
            if !views::team_of(g, &e.key).is_some_and(|t| teams.contains(&t)) {
                continue;
            }
            let mut members = g.descendants(&e.key);
            members.push(e.key.clone());
            let k = views::scope_keys(pool, Some(&members), window, &model::BANDS[0])?;
            let weekly = k.deployment_frequency.deployment_days_per_week.is_some_and(|w| w >= 1.0);
            let stable = k.change_failure_rate.rate.is_some_and(|r| r <= 0.15);
            out.insert(
                e.key.clone(),
                vec![
                    SourcedCheck { id: "deploys-weekly", grade: Grade::Silver, passed: weekly },
                    SourcedCheck { id: "change-failure-rate-within-15", grade: Grade::Gold, passed: stable },
                ],
            );
        }
        Ok(out)
    }

    /// The four keys of the last 30 days of a product, platform or team.
    pub fn health_of(&self, pool: &Pool, g: &Graph, kind: EntityKind, key: &str) -> anyhow::Result<Keys> {
        let scope = match kind {
            EntityKind::Product => Scope::Product(key.to_owned()),
            EntityKind::Platform => Scope::Platform(key.to_owned()),
            EntityKind::Team => Scope::Team(key.to_owned()),
        };
        self.recent(pool, g, scope)
    }
}

impl FindingsSource for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn rules(&self) -> &'static [&'static str] {
        RULE_IDS
    }

    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>> {
        let version = store::version(pool)?;
        {
            let every = Duration::from_secs_f64(self.settings.evaluate_every_secs);
            let mut last = self.judged.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|(gen_, v, at)| gen_ == generation && v == version && at.elapsed() < every) {
                return Ok(None);
            }
            *last = Some((generation, version, Instant::now()));
        }
        Ok(Some(self.findings_at(pool, g, now_ms())?))
    }
}

impl CheckSource for Health {
    fn checks(&self, pool: &Pool, g: &Graph) -> anyhow::Result<HashMap<String, Vec<SourcedCheck>>> {
        let version = store::version(pool)?;
        let of = g as *const Graph as usize;
        let every = Duration::from_secs_f64(self.settings.evaluate_every_secs);
        if let Some((at_g, v, at, c)) = &*self.checks.lock().unwrap_or_else(|e| e.into_inner())
            && *at_g == of
            && *v == version
            && at.elapsed() < every
        {
            return Ok((**c).clone());
        }
        let c = Arc::new(self.checks_at(pool, g, now_ms())?);
        *self.checks.lock().unwrap_or_else(|e| e.into_inner()) = Some((of, version, Instant::now(), c.clone()));
        Ok((*c).clone())
    }
}

/// Product, platform and team views show their four keys of the last 30 days.
impl ViewExtension for Health {
    fn fields(
        &self,
        pool: &Pool,
        g: &Graph,
        kind: EntityKind,
        key: &str,
    ) -> anyhow::Result<Vec<(&'static str, Value)>> {
        Ok(vec![("health", serde_json::to_value(self.health_of(pool, g, kind, key)?)?)])
    }
}

impl TeamHealth for Health {
    fn team_keys(&self, pool: &Pool, g: &Graph, team: &str, from: i64, to: i64) -> anyhow::Result<Option<Value>> {
        if g.get(team).is_none() || to <= from {
            return Ok(None);
        }
        let window = Window { from: model::day_of(from), to: model::day_of(to - 1) };
        let entities = views::entities_of(g, &Scope::Team(team.to_owned())).map_err(|e| anyhow::anyhow!("{e}"))?;
        let parts = views::key_parts(pool, entities.as_deref(), window)?;
        if !parts.any_event {
            return Ok(None);
        }
        let mut k = parts::assemble(parts, window, &model::BANDS[0]);
        k.series.clear();
        Ok(Some(serde_json::to_value(k)?))
    }
}
