//! What domains offer one another without naming one another.
//!
//! Each hook is a list, filled once by the root from every domain's [`super::Domain`] after all
//! are built, and read by the domain that consumes it: governance asks every findings source
//! and every view extension, the gateway check feeds every usage sink. Registering a second
//! one adds to the list; nothing replaces what is there.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::db::Pool;
use crate::org::Graph;

/// A list of hook implementations, installed once at start.
pub struct Registry<T: ?Sized> {
    items: OnceLock<Vec<Arc<T>>>,
}

impl<T: ?Sized> Default for Registry<T> {
    fn default() -> Self {
        Self { items: OnceLock::new() }
    }
}

impl<T: ?Sized> Registry<T> {
    /// Installs the list (the root does, once every domain is built). A second call is a bug
    /// in the wiring and fails.
    pub fn install(&self, items: Vec<Arc<T>>) -> anyhow::Result<()> {
        self.items.set(items).map_err(|_| anyhow::anyhow!("a hook list was installed twice"))
    }

    /// Every registered implementation, in domain-list order (empty before installation).
    pub fn all(&self) -> &[Arc<T>] {
        self.items.get().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The hook lists.
#[derive(Default)]
pub struct Hooks {
    pub findings_sources: Registry<dyn FindingsSource>,
    pub usage_sinks: Registry<dyn UsageSink>,
    pub view_extensions: Registry<dyn ViewExtension>,
    pub consumption_facts: Registry<dyn ConsumptionFacts>,
    pub announcers: Registry<dyn Announcer>,
    pub check_sources: Registry<dyn CheckSource>,
    pub team_health: Registry<dyn TeamHealth>,
    pub webhook_listeners: Registry<dyn WebhookListener>,
    pub entity_facts: Registry<dyn EntityFacts>,
}

/// Numbers a domain publishes about entities, for the checks users write (scorecards read them
/// as `facts.<name>`), without naming the domain that reads them.
pub trait EntityFacts: Send + Sync {
    /// The name the facts are read under (`facts.usage.calls28d`).
    fn name(&self) -> &'static str;

    /// The facts per entity ref key (a JSON object each); entities absent have none.
    fn facts(&self, pool: &Pool, g: &Graph) -> anyhow::Result<std::collections::HashMap<String, Value>>;
}

/// A finding another domain hands to governance; governance fills in severity, file, line and
/// owner from its configuration and the org graph.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedFinding {
    pub entity_ref: String,
    pub rule: String,
    pub message: String,
    pub details: Value,
    /// The severity this finding has unless `[governance.rules]` configures its rule (`None`:
    /// the rule's default, warning for a rule governance does not document).
    pub level: Option<Level>,
}

/// How serious a sourced finding is (governance's severities, without naming governance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

/// A domain that judges the catalog against what it measures (consumption, deployments...).
pub trait FindingsSource: Send + Sync {
    /// A short stable name, for logs.
    fn name(&self) -> &'static str;

    /// The governance rule ids this source's findings come under. Its findings replace only
    /// these rules' stored rows.
    fn rules(&self) -> &'static [&'static str];

    /// Whether this source also gives findings of rules users write, with ids holding a `/`
    /// (`<scorecard>/<check>`); their stored rows are this source's too.
    fn user_rules(&self) -> bool {
        false
    }

    /// The current findings over the org graph, or `None` when nothing they depend on changed
    /// since the last call (`generation` moves with governance's own state).
    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>>;
}

/// Calls an API gateway allowed, per subscription and minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCalls {
    pub subscription: String,
    pub api: String,
    pub consumer: String,
    pub minute: i64,
    pub calls: i64,
}

/// Where the gateway check's allowed calls go besides its own counters (called from the
/// gateway's flusher, with every flush).
pub trait UsageSink: Send + Sync {
    fn record(&self, pool: &Pool, calls: &[AllowedCalls]) -> anyhow::Result<()>;
}

/// Adds fields to the product and platform views (KPI values, target measurements...).
pub trait ViewExtension: Send + Sync {
    /// Fields to set on the view of the entity `key` (a product or platform ref key), as
    /// `(field, value)`; a field set here replaces the descriptor's own value of that field.
    fn fields(&self, pool: &Pool, g: &Graph, kind: EntityKind, key: &str)
    -> anyhow::Result<Vec<(&'static str, Value)>>;

    /// Fields to add to the list of scorecards (`GET /api/portal/scorecards`) beside its items.
    fn scorecard_list_fields(&self, _pool: &Pool, _g: &Graph) -> anyhow::Result<Vec<(&'static str, Value)>> {
        Ok(Vec::new())
    }

    /// Products with a KPI value reported at or after `since` (ms), if this extension knows.
    fn reported_since(&self, _pool: &Pool, _since: i64) -> anyhow::Result<Option<HashSet<String>>> {
        Ok(None)
    }
}

/// Where a domain's announcements go out (the signed outgoing webhooks), without naming the
/// domain that sends them.
pub trait Announcer: Send + Sync {
    /// Sends `body` (a JSON object) as an event of type `kind` (`report.published`), by `by`.
    fn announce(&self, pool: &Pool, kind: &str, by: &str, body: &Value) -> anyhow::Result<()>;
}

impl Hooks {
    /// Announces to every announcer; the first failure is answered after all were tried.
    pub fn announce(&self, pool: &Pool, kind: &str, by: &str, body: &Value) -> anyhow::Result<()> {
        let mut first = None;
        for a in self.announcers.all() {
            if let Err(e) = a.announce(pool, kind, by, body) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A platform target as measured now.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetFact {
    pub metric: String,
    pub target: f64,
    pub current: Option<f64>,
    pub on_track: Option<bool>,
}

/// Consumers of a set of APIs over a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdoptionFact {
    /// Called at some time in the span.
    pub active: i64,
    /// First called in the span.
    pub new: i64,
    /// Went silent in the span: their last call was more than 28 days before some moment of it.
    pub churned: i64,
}

/// What consumption measures, for domains that report on it (the delivery office) without
/// naming the domain that measures it.
pub trait ConsumptionFacts: Send + Sync {
    /// The (API, consumer) ref-key pairs of these APIs observed calling at or after `since` (ms).
    fn observed(&self, pool: &Pool, apis: &[String], since: i64) -> anyhow::Result<Vec<(String, String)>>;

    /// Every recorded value of a product's KPIs as (KPI, time in ms, value), oldest first.
    fn kpi_values(&self, pool: &Pool, product: &str) -> anyhow::Result<Vec<(String, i64, f64)>>;

    /// The platform's declared targets, measured now.
    fn targets(&self, pool: &Pool, g: &Graph, platform: &str) -> anyhow::Result<Vec<TargetFact>>;

    /// Consumers of these APIs active, new and churned between `from` and `to` (ms).
    fn adoption(&self, pool: &Pool, apis: &[String], from: i64, to: i64) -> anyhow::Result<AdoptionFact>;
}

/// Which view a [`ViewExtension`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Product,
    Platform,
    /// A group's team view.
    Team,
}

/// The scorecard level a sourced check belongs to (governance's, without naming governance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Bronze,
    Silver,
    Gold,
}

/// A scorecard check another domain judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedCheck {
    pub id: &'static str,
    pub grade: Grade,
    pub passed: bool,
}

/// A domain that adds checks to the products' and platforms' scorecards.
pub trait CheckSource: Send + Sync {
    /// The checks per product or platform ref key (a key absent: no check of this source).
    fn checks(&self, pool: &Pool, g: &Graph) -> anyhow::Result<std::collections::HashMap<String, Vec<SourcedCheck>>>;
}

/// The four keys of a team over a span, for reports (the delivery office's value report).
pub trait TeamHealth: Send + Sync {
    /// The team's four keys between `from` and `to` (ms), as JSON; `None` when the team sends
    /// no deployments.
    fn team_keys(&self, pool: &Pool, g: &Graph, team: &str, from: i64, to: i64) -> anyhow::Result<Option<Value>>;
}

/// A webhook delivery, authenticated and claimed by the domain that receives it, for the
/// domains that act on events it does not (deployments, incidents).
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// `github` or `gitlab`.
    pub source: &'static str,
    /// GitHub's `X-GitHub-Event`, GitLab's `X-Gitlab-Event`.
    pub event: String,
    pub payload: Value,
}

/// Commits as (sha, committed at in ms), oldest first; `None` when no provider covers the
/// repository.
pub type Commits = anyhow::Result<Option<Vec<(String, i64)>>>;

/// Compares two commits of a repository through the provider's API.
pub trait CommitLister: Send + Sync {
    /// The commits after `base` up to `head` of `repo` (`owner/name`), oldest first, as (sha,
    /// committed at in ms); `None` when no provider is configured for the repository.
    fn compare<'a>(
        &'a self,
        repo: &'a str,
        base: &'a str,
        head: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Commits>;
}

/// A domain that acts on webhook events.
pub trait WebhookListener: Send + Sync {
    /// Whether this listener acts on the event (decided before any work).
    fn wants(&self, source: &str, event: &str, payload: &Value) -> bool;

    /// Acts on the event, with the receiving domain's commit lister; answers what it did.
    fn receive<'a>(
        &'a self,
        pool: &'a Pool,
        event: &'a WebhookEvent,
        commits: &'a dyn CommitLister,
    ) -> futures_util::future::BoxFuture<'a, anyhow::Result<Value>>;
}

impl Hooks {
    /// The fields every view extension sets on one view, in domain-list order.
    pub fn view_fields(
        &self,
        pool: &Pool,
        g: &Graph,
        kind: EntityKind,
        key: &str,
    ) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let mut out = Vec::new();
        for x in self.view_extensions.all() {
            out.extend(x.fields(pool, g, kind, key)?);
        }
        Ok(out)
    }

    /// The fields every view extension adds to the list of scorecards, in domain-list order.
    pub fn scorecard_list_fields(&self, pool: &Pool, g: &Graph) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let mut out = Vec::new();
        for x in self.view_extensions.all() {
            out.extend(x.scorecard_list_fields(pool, g)?);
        }
        Ok(out)
    }

    /// The products any extension saw report lately; `None` when no extension knows.
    pub fn reported_since(&self, pool: &Pool, since: i64) -> anyhow::Result<Option<HashSet<String>>> {
        let mut out: Option<HashSet<String>> = None;
        for x in self.view_extensions.all() {
            if let Some(set) = x.reported_since(pool, since)? {
                out.get_or_insert_with(HashSet::new).extend(set);
            }
        }
        Ok(out)
    }
}
