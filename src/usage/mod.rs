//! Consumption: who calls which API, how much and how well; product KPIs.
//!
//! Events come in over HTTP (`POST /api/usage/events`) and from the gateway check (through
//! a usage sink, `crate::domain::hooks::UsageSink`), are attributed to a consumer (named, or through a
//! subscription or one of its keys, resolved by `crate::offerings::lookup`), added up in memory
//! per batch per (API, consumer, subscription, minute), and appended in one transaction as one
//! record per partition; the answer follows that commit. A folder merges the records into rollup
//! rows per (API, consumer, subscription) and minute, hour, day and week, with a mergeable latency
//! histogram ([`model::Histogram`]). The views read those rows plus the records not yet folded. [`domain`] is the front door: governance takes this domain's findings
//! and view fields through the hook lists ([`Usage`] is a findings source and a view extension),
//! and names are resolved against the shared org graph (`crate::org`), never through another
//! domain; the one other domain it reads is offerings, through its facade `offerings::lookup`.
//!
//! ```text
//! model.rs      events, the latency histogram, bucket arithmetic (pure)
//! intake.rs     parsing, checking and attributing events; one batch, one appended transaction
//! record.rs     a batch's rows in one partition, as bytes (pure)
//! fold.rs       the folder: records into the levels and pairs, a partition per transaction
//! rollup.rs     retention of the levels (background, idempotent)
//! views.rs      consumption, adoption, declared versus observed, KPIs and targets: typed views
//! kpis.rs       product KPI values; platform targets; the findings governance shows
//! handlers.rs   /api/usage/events, /api/portal/consumption, adoption, declared-vs-observed, kpis
//! nats.rs       `[usage] nats_url`: batches from a JetStream durable pull consumer
//! ship.rs       `portolan usage ship`: an access log (nginx JSON, NDJSON) into idempotent batches
//! demo.rs       `portolan demo-traffic`: 90 days of believable traffic through the intake
//! store/        all SQL of the domain (private: other domains call Usage and the views)
//! ```

pub mod demo;
pub mod facts;
pub mod fold;
pub mod handlers;
pub mod intake;
pub mod kpis;
pub mod model;
pub mod nats;
pub mod record;
pub mod rollup;
pub mod routes;
pub mod ship;
mod store;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;

/// `[usage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageSettings {
    /// Events older than this many days are rejected (except backfills by admins).
    pub late_days: f64,
    /// How long minute rows are kept.
    pub minute_retention_hours: f64,
    /// The gateway check's allowed calls count as usage (without latency or status). Turn it
    /// off when `portolan usage ship` sends the same gateway's access log, or calls count twice.
    pub gateway_counts: bool,
    /// A NATS server with JetStream (`nats://127.0.0.1:4222`): when set, this instance also takes
    /// usage batches from the stream below; unset, nothing of NATS runs.
    pub nats_url: Option<String>,
    /// The JetStream stream, created if missing.
    pub nats_stream: String,
    /// The subjects the stream holds (created with the stream).
    pub nats_subjects: String,
    /// The durable pull consumer every instance shares, so they split the messages.
    pub nats_consumer: String,
    /// A message not acknowledged within this many seconds is redelivered (to any instance).
    pub nats_ack_wait_secs: f64,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            late_days: 7.0,
            minute_retention_hours: 48.0,
            gateway_counts: true,
            nats_url: None,
            nats_stream: "PORTOLAN_USAGE".into(),
            nats_subjects: "portolan.usage.>".into(),
            nats_consumer: "portolan-usage".into(),
            nats_ack_wait_secs: 30.0,
        }
    }
}

/// Hour rows are kept this long.
pub const HOUR_RETENTION_MS: i64 = 90 * model::DAY_MS;
/// Declared-versus-observed looks this far back.
pub const OBSERVED_WINDOW_MS: i64 = 28 * model::DAY_MS;
/// Events may be this far in the future (clock skew).
pub const FUTURE_MS: i64 = 5 * model::MINUTE_MS;
/// At most this many events per batch.
pub const MAX_EVENTS: usize = 10_000;

/// The consumption engine: settings and the portal model it resolves names against.
pub struct Usage {
    pub settings: UsageSettings,
    /// Who belongs to which product, platform and team (names are resolved against it).
    pub org: Arc<crate::org::Org>,
    /// Set when pairs appeared here, so governance looks again at its next tick.
    dirty: AtomicBool,
    /// What the findings were last computed from: (pairs version, portal generation, when).
    last_findings: std::sync::Mutex<Option<(i64, i64, std::time::Instant)>>,
}

impl Usage {
    pub fn new(settings: &UsageSettings, org: Arc<crate::org::Org>) -> Arc<Self> {
        Arc::new(Self {
            settings: settings.clone(),
            org,
            dirty: AtomicBool::new(false),
            last_findings: std::sync::Mutex::new(None),
        })
    }

    pub fn late_ms(&self) -> i64 {
        (self.settings.late_days.max(0.0) * model::DAY_MS as f64) as i64
    }

    pub fn minute_retention_ms(&self) -> i64 {
        (self.settings.minute_retention_hours.max(1.0) * model::HOUR_MS as f64) as i64
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }
}

/// The usage domain's front door: the engine, its handlers' data, its findings and view fields
/// for governance, a usage sink for the gateway check (with `gateway_counts`), and its tasks
/// (folding the records, retention of the rollup levels; the NATS consumer when `nats_url` is set).
pub fn domain(settings: &UsageSettings, shared: &crate::domain::Shared) -> anyhow::Result<crate::domain::Domain> {
    use crate::domain::{Domain, Task};
    let usage = Usage::new(settings, shared.org.clone());
    let (u, pool) = (usage.clone(), shared.pool.clone());
    let retention = Task::service("usage-retention", move |alive| rollup::spawn(u, pool, alive));
    let (u, pool) = (usage.clone(), shared.pool.clone());
    let folder = Task::service("usage-fold", move |alive| fold::spawn(u, pool, alive));
    let (u, pool) = (usage.clone(), shared.pool.clone());
    let consumer = Task::service("usage-nats", move |alive| nats::spawn(u, pool, alive));
    let mut d = Domain::new("usage")
        .data(usage.clone())
        .findings_source(usage.clone())
        .view_extension(usage.clone())
        .entity_facts(usage.clone())
        .consumption_facts(usage.clone())
        .task(retention)
        .task(folder)
        .task(consumer)
        .nav("/dashboard", "Dashboard", 70);
    if settings.gateway_counts {
        d = d.usage_sink(usage);
    }
    Ok(d)
}
