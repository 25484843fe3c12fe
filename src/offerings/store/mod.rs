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
struct CursorRow {
    #[diesel(sql_type = BigInt)]
    cursor: i64,
}

/// The last catalog change-feed event id the offerings engine has applied.
pub fn cursor(pool: &Pool) -> anyhow::Result<i64> {
    let rows: Vec<CursorRow> =
        with_conn!(pool, |c| diesel::sql_query("SELECT cursor FROM offerings_state WHERE id = 1").load(c)?);
    Ok(rows.first().map(|r| r.cursor).unwrap_or(0))
}

/// Moves the cursor forward (never back: two instances may race).
pub fn advance_cursor(pool: &Pool, to: i64) -> anyhow::Result<()> {
    let sql = placeholders("UPDATE offerings_state SET cursor = ? WHERE id = 1 AND cursor < ?", pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str()).bind::<BigInt, _>(to).bind::<BigInt, _>(to).execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}
