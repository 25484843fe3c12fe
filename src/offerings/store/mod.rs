//! All SQL of the offerings domain: its own tables only (`offerings`, `subscriptions`,
//! `subscription_events`, `api_keys`, `gateway_counters`, `gateway_usage`, `offerings_state`).
//! The catalog is read through `crate::catalog::store`'s public functions, never its tables.

pub mod counters;
pub mod keys;
pub mod subscriptions;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::model::{Offering, Plan};
use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

#[derive(QueryableByName)]
struct OfferingRow {
    #[diesel(sql_type = Text)]
    api: String,
    #[diesel(sql_type = Text)]
    platform: String,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Text)]
    plans: String,
}

impl OfferingRow {
    fn into_offering(self) -> Offering {
        let plans: Vec<Plan> = serde_json::from_str(&self.plans).unwrap_or_default();
        Offering { api: self.api, platform: self.platform, description: self.description, plans }
    }
}

/// Replaces the stored offerings with these (one per API: the first platform in ref order
/// wins). Returns whether anything changed.
pub fn replace_offerings(pool: &Pool, offerings: &[Offering]) -> anyhow::Result<bool> {
    let current = list_offerings(pool)?;
    if current.as_slice() == offerings {
        return Ok(false);
    }
    let insert = placeholders(
        "INSERT INTO offerings (api, platform, description, plans, updated_at) VALUES (?, ?, ?, ?, ?)",
        pool.backend(),
    );
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query("DELETE FROM offerings").execute(c)?;
            for o in offerings {
                diesel::sql_query(insert.as_str())
                    .bind::<Text, _>(&o.api)
                    .bind::<Text, _>(&o.platform)
                    .bind::<Nullable<Text>, _>(o.description.as_deref())
                    .bind::<Text, _>(serde_json::to_string(&o.plans).unwrap_or_else(|_| "[]".into()))
                    .bind::<BigInt, _>(now)
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })?;
    Ok(true)
}

/// Every stored offering, by API ref.
pub fn list_offerings(pool: &Pool) -> anyhow::Result<Vec<Offering>> {
    let rows: Vec<OfferingRow> = with_conn!(pool, |c| {
        diesel::sql_query("SELECT api, platform, description, plans FROM offerings ORDER BY api").load(c)?
    });
    Ok(rows.into_iter().map(OfferingRow::into_offering).collect())
}

pub fn get_offering(pool: &Pool, api: &str) -> anyhow::Result<Option<Offering>> {
    let sql = placeholders("SELECT api, platform, description, plans FROM offerings WHERE api = ?", pool.backend());
    let rows: Vec<OfferingRow> = with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(api).load(c)?);
    Ok(rows.into_iter().next().map(OfferingRow::into_offering))
}

#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text, column_name = "type")]
    kind: String,
    #[diesel(sql_type = Text)]
    consumer: String,
}

/// Takes the next audit records to relay into the catalog's change feed, `(type, consumer ref)`
/// each: the shared cursor moves past them only if no other instance moved it first, so each
/// record is relayed once (a crash between taking and appending loses that batch from the feed;
/// the audit table keeps it).
pub fn take_feed_batch(pool: &Pool, limit: i64) -> anyhow::Result<Vec<(String, String)>> {
    let cursor: i64 = {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            feed_cursor: i64,
        }
        let rows: Vec<Row> =
            with_conn!(pool, |c| diesel::sql_query("SELECT feed_cursor FROM offerings_state WHERE id = 1").load(c)?);
        rows.first().map(|r| r.feed_cursor).unwrap_or(0)
    };
    let select = placeholders(
        "SELECT e.id, e.type, s.consumer FROM subscription_events e JOIN subscriptions s ON s.id = e.subscription_id \
         WHERE e.id > ? ORDER BY e.id LIMIT ?",
        pool.backend(),
    );
    let rows: Vec<FeedRow> = with_conn!(pool, |c| diesel::sql_query(select.as_str())
        .bind::<BigInt, _>(cursor)
        .bind::<BigInt, _>(limit)
        .load(c)?);
    let Some(last) = rows.last().map(|r| r.id) else { return Ok(Vec::new()) };
    let cas =
        placeholders("UPDATE offerings_state SET feed_cursor = ? WHERE id = 1 AND feed_cursor = ?", pool.backend());
    let won = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let n = diesel::sql_query(cas.as_str()).bind::<BigInt, _>(last).bind::<BigInt, _>(cursor).execute(c)?;
            Ok::<_, anyhow::Error>(n == 1)
        })
    })?;
    Ok(if won { rows.into_iter().map(|r| (r.kind, r.consumer)).collect() } else { Vec::new() })
}

/// The newest audit record id (0 without any).
pub fn last_audit_id(pool: &Pool) -> anyhow::Result<i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<BigInt>)]
        id: Option<i64>,
    }
    let rows: Vec<Row> =
        with_conn!(pool, |c| diesel::sql_query("SELECT MAX(id) AS id FROM subscription_events").load(c)?);
    Ok(rows.first().and_then(|r| r.id).unwrap_or(0))
}

/// The leases of `webhook_targets` (due at `next_attempt_at`).
pub const WEBHOOK_LEASES: crate::db::lease::Leases =
    crate::db::lease::Leases::new("webhook_targets", "next_attempt_at");

/// Registers a webhook target once, starting after the audit record `cursor`.
pub fn ensure_webhook_target(pool: &Pool, id: &str, url: &str, cursor: i64) -> anyhow::Result<()> {
    let sql = placeholders(
        "INSERT INTO webhook_targets (id, url, cursor, next_attempt_at) VALUES (?, ?, ?, 0) ON CONFLICT (id) DO NOTHING",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str())
                .bind::<Text, _>(id)
                .bind::<Text, _>(url)
                .bind::<BigInt, _>(cursor)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// A webhook target's progress: `(cursor, attempts)`.
pub fn webhook_target(pool: &Pool, id: &str) -> anyhow::Result<Option<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        cursor: i64,
        #[diesel(sql_type = BigInt)]
        attempts: i64,
    }
    let sql = placeholders("SELECT cursor, attempts FROM webhook_targets WHERE id = ?", pool.backend());
    let rows: Vec<Row> = with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(id).load(c)?);
    Ok(rows.first().map(|r| (r.cursor, r.attempts)))
}

/// Records a delivery round: the new cursor, and the failure if it stopped on one (attempts
/// count up until a delivery succeeds).
pub fn record_webhook_round(pool: &Pool, id: &str, cursor: i64, error: Option<&str>) -> anyhow::Result<()> {
    let sql = placeholders(
        "UPDATE webhook_targets SET cursor = ?, last_error = ?, attempts = CASE WHEN ? = 1 THEN attempts + 1 ELSE 0 END WHERE id = ?",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str())
                .bind::<BigInt, _>(cursor)
                .bind::<Nullable<Text>, _>(error)
                .bind::<BigInt, _>(i64::from(error.is_some()))
                .bind::<Text, _>(id)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}
