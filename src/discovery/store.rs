//! All SQL of providers and webhooks: provider rows, run outcomes, processed deliveries.
//!
//! Provider runs are claimed like location refreshes, through [`crate::db::lease`]: a row per
//! provider with a lease ([`PROVIDER_LEASES`]), claimed with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL (SQLite has one writer), so two instances never scan one organisation at once.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::lease::Leases;
use crate::db::schema::{provider_runs, providers, webhook_deliveries};
use crate::db::{Pool, WriteTransaction, now_ms};
use crate::with_conn;

/// The leases on provider runs: a provider is due once `next_run_at` has passed.
pub const PROVIDER_LEASES: Leases = Leases::new("providers", "next_run_at");

/// A provider's scheduling state.
#[derive(Debug, Clone, Queryable)]
#[allow(
    dead_code,
    reason = "the whole `providers` row, as `providers::table` selects it; the API reads only the schedule"
)]
pub struct ProviderRow {
    pub id: String,
    pub kind: String,
    pub next_run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
}

/// What one provider run (or one webhook delivery) did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutcome {
    /// `schedule`, `api`, or the webhook event (`webhook:github:push`, ...).
    pub cause: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub repositories: i64,
    pub locations_added: i64,
    pub locations_removed: i64,
    pub locations_refreshed: i64,
    pub errors: Vec<String>,
}

/// A stored run, as the API shows it.
#[derive(Debug, Clone, Queryable)]
pub struct RunRow {
    pub id: String,
    pub provider_id: String,
    pub cause: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub status: String,
    pub repositories: i64,
    pub locations_added: i64,
    pub locations_removed: i64,
    pub locations_refreshed: i64,
    pub errors: String,
}

/// Makes sure every configured provider has its row (a new one is due at once) and drops the
/// rows of providers no longer configured.
pub fn sync_providers(pool: &Pool, configured: &[(String, String)]) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let existing: Vec<String> = providers::table.select(providers::id).load(c)?;
            for (id, kind) in configured {
                if !existing.contains(id) {
                    diesel::insert_into(providers::table)
                        .values((providers::id.eq(id), providers::kind.eq(kind), providers::next_run_at.eq(0i64)))
                        .execute(c)?;
                }
            }
            let ids: Vec<&String> = configured.iter().map(|(id, _)| id).collect();
            diesel::delete(providers::table.filter(providers::id.ne_all(ids))).execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

pub fn get_provider(pool: &Pool, id: &str) -> anyhow::Result<Option<ProviderRow>> {
    with_conn!(pool, |c| Ok(providers::table.find(id).first(c).optional()?))
}

/// Records a finished run; returns it as stored.
pub fn record_run(pool: &Pool, provider_id: &str, outcome: &RunOutcome) -> anyhow::Result<RunRow> {
    let row = RunRow {
        id: uuid::Uuid::now_v7().to_string(),
        provider_id: provider_id.to_owned(),
        cause: outcome.cause.clone(),
        started_at: outcome.started_at,
        finished_at: outcome.finished_at,
        status: if outcome.errors.is_empty() { "succeeded" } else { "failed" }.to_owned(),
        repositories: outcome.repositories,
        locations_added: outcome.locations_added,
        locations_removed: outcome.locations_removed,
        locations_refreshed: outcome.locations_refreshed,
        errors: serde_json::to_string(&outcome.errors)?,
    };
    with_conn!(pool, |c| {
        diesel::insert_into(provider_runs::table)
            .values((
                provider_runs::id.eq(&row.id),
                provider_runs::provider_id.eq(&row.provider_id),
                provider_runs::cause.eq(&row.cause),
                provider_runs::started_at.eq(row.started_at),
                provider_runs::finished_at.eq(row.finished_at),
                provider_runs::status.eq(&row.status),
                provider_runs::repositories.eq(row.repositories),
                provider_runs::locations_added.eq(row.locations_added),
                provider_runs::locations_removed.eq(row.locations_removed),
                provider_runs::locations_refreshed.eq(row.locations_refreshed),
                provider_runs::errors.eq(&row.errors),
            ))
            .execute(c)?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(row)
}

/// A provider's latest runs, newest first.
pub fn list_runs(pool: &Pool, provider_id: &str, limit: i64) -> anyhow::Result<Vec<RunRow>> {
    with_conn!(pool, |c| {
        Ok(provider_runs::table
            .filter(provider_runs::provider_id.eq(provider_id))
            .order((provider_runs::started_at.desc(), provider_runs::id.desc()))
            .limit(limit)
            .load(c)?)
    })
}

/// Remembers a webhook delivery. False when this delivery id was already processed (a replay).
pub fn claim_delivery(pool: &Pool, source: &str, delivery_id: &str, event: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let seen = webhook_deliveries::table
                .find((source, delivery_id))
                .select(webhook_deliveries::delivery_id)
                .first::<String>(c)
                .optional()?;
            if seen.is_some() {
                return Ok::<_, anyhow::Error>(false);
            }
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::source.eq(source),
                    webhook_deliveries::delivery_id.eq(delivery_id),
                    webhook_deliveries::event.eq(event),
                    webhook_deliveries::received_at.eq(now_ms()),
                ))
                .execute(c)?;
            Ok(true)
        })
    })
}

/// Forgets a delivery whose processing failed, so the sender's redelivery is processed.
pub fn forget_delivery(pool: &Pool, source: &str, delivery_id: &str) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::delete(webhook_deliveries::table.find((source, delivery_id))).execute(c)?;
        Ok(())
    })
}

/// Drops delivery ids older than `before` (senders stop redelivering long before).
pub fn prune_deliveries(pool: &Pool, before: i64) -> anyhow::Result<usize> {
    with_conn!(pool, |c| {
        Ok(diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::received_at.lt(before))).execute(c)?)
    })
}
