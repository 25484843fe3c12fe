//! What discovery answers, typed: the configured providers with their schedule and latest run,
//! and runs. Blocking (they read the database): call them from `web::block`.

use serde::Serialize;
use serde_json::Value;

use super::Discovery;
use super::store::{self, RunRow};
use crate::db::{Pool, rfc3339};

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// One run of a provider (scheduled, asked for, or a webhook's).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub provider_id: String,
    pub cause: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
    pub repositories: i64,
    pub locations_added: i64,
    pub locations_removed: i64,
    pub locations_refreshed: i64,
    /// The run's errors as stored (free-form).
    pub errors: Value,
}

impl RunRow {
    /// The run as the API shows it.
    pub fn view(&self) -> RunView {
        RunView {
            id: self.id.clone(),
            provider_id: self.provider_id.clone(),
            cause: self.cause.clone(),
            started_at: rfc3339(self.started_at),
            finished_at: rfc3339(self.finished_at),
            status: self.status.clone(),
            repositories: self.repositories,
            locations_added: self.locations_added,
            locations_removed: self.locations_removed,
            locations_refreshed: self.locations_refreshed,
            errors: serde_json::from_str(&self.errors).unwrap_or_default(),
        }
    }
}

/// A configured provider with its schedule and latest run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub target: String,
    pub origin: String,
    pub schedule_secs: u64,
    pub next_run_at: Option<String>,
    pub running: bool,
    pub last_run: Option<RunView>,
}

/// Every configured provider.
pub fn providers(discovery: &Discovery) -> anyhow::Result<Items<ProviderView>> {
    let pool = &discovery.ingestor.pool;
    let mut items = Vec::new();
    for p in &discovery.list {
        let row = store::get_provider(pool, &p.id)?;
        let last = store::list_runs(pool, &p.id, 1)?;
        items.push(ProviderView {
            id: p.id.clone(),
            kind: p.kind(),
            target: p.target().to_owned(),
            origin: p.origin(),
            schedule_secs: p.schedule.as_secs(),
            next_run_at: row.as_ref().map(|r| rfc3339(r.next_run_at)),
            running: row.as_ref().is_some_and(|r| r.lease_expires_at.is_some_and(|t| t > crate::db::now_ms())),
            last_run: last.first().map(RunRow::view),
        });
    }
    Ok(Items { items })
}

/// A provider's latest 50 runs, newest first.
pub fn runs(pool: &Pool, provider: &str) -> anyhow::Result<Items<RunView>> {
    Ok(Items { items: store::list_runs(pool, provider, 50)?.iter().map(RunRow::view).collect() })
}
