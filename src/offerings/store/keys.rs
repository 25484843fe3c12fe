//! API keys (`api_keys`): only the SHA-256 of a key is stored; the prefix stays visible.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::subscriptions::{AUDIT_LOCK, INSERT_EVENT, NewEvent, SubscriptionRow, event_insert};
use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

#[derive(Debug, Clone, QueryableByName)]
pub struct KeyRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub subscription_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Text)]
    pub prefix: String,
    #[diesel(sql_type = Text)]
    pub created_by: String,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub expires_at: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub revoked_at: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub rotated_to: Option<String>,
}

const COLUMNS: &str = "id, subscription_id, name, prefix, created_by, created_at, expires_at, revoked_at, rotated_to";

/// A key to insert: its visible parts and the hash of its secret form.
pub struct NewKey {
    pub id: String,
    pub subscription_id: String,
    pub name: Option<String>,
    pub prefix: String,
    pub hash: String,
    pub created_by: String,
    pub expires_at: Option<i64>,
}

fn insert_sql(pool: &Pool) -> String {
    placeholders(
        "INSERT INTO api_keys (id, subscription_id, name, prefix, key_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        pool.backend(),
    )
}

macro_rules! key_insert {
    ($sql:expr, $k:expr, $now:expr) => {
        diesel::sql_query($sql)
            .bind::<Text, _>(&$k.id)
            .bind::<Text, _>(&$k.subscription_id)
            .bind::<Nullable<Text>, _>($k.name.as_deref())
            .bind::<Text, _>(&$k.prefix)
            .bind::<Text, _>(&$k.hash)
            .bind::<Text, _>(&$k.created_by)
            .bind::<BigInt, _>($now)
            .bind::<Nullable<BigInt>, _>($k.expires_at)
    };
}

/// Inserts a key and its `key.created` record.
pub fn insert(pool: &Pool, k: &NewKey, event: &NewEvent) -> anyhow::Result<()> {
    let sql = insert_sql(pool);
    let ev = placeholders(INSERT_EVENT, pool.backend());
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            key_insert!(sql.as_str(), k, now).execute(c)?;
            event_insert!(ev.as_str(), &k.subscription_id, event, now).execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Inserts `new`, and makes `old` expire at `old_until` (if sooner), in one transaction.
/// `false` when `old` was revoked or rotated meanwhile.
pub fn rotate(pool: &Pool, old: &KeyRow, new: &NewKey, old_until: i64, event: &NewEvent) -> anyhow::Result<bool> {
    let sql = insert_sql(pool);
    let ev = placeholders(INSERT_EVENT, pool.backend());
    let update = placeholders(
        "UPDATE api_keys SET rotated_to = ?, expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END \
         WHERE id = ? AND revoked_at IS NULL AND rotated_to IS NULL",
        pool.backend(),
    );
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            let n = diesel::sql_query(update.as_str())
                .bind::<Text, _>(&new.id)
                .bind::<BigInt, _>(old_until)
                .bind::<BigInt, _>(old_until)
                .bind::<Text, _>(&old.id)
                .execute(c)?;
            if n == 0 {
                return Ok(false);
            }
            key_insert!(sql.as_str(), new, now).execute(c)?;
            event_insert!(ev.as_str(), &new.subscription_id, event, now).execute(c)?;
            Ok::<_, anyhow::Error>(true)
        })
    })
}

pub fn get(pool: &Pool, id: &str) -> anyhow::Result<Option<KeyRow>> {
    let sql = placeholders(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?"), pool.backend());
    let rows: Vec<KeyRow> = with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(id).load(c)?);
    Ok(rows.into_iter().next())
}

pub fn list_of(pool: &Pool, subscription_id: &str) -> anyhow::Result<Vec<KeyRow>> {
    let sql = placeholders(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE subscription_id = ? ORDER BY created_at, id"),
        pool.backend(),
    );
    with_conn!(pool, |c| Ok(diesel::sql_query(sql.as_str()).bind::<Text, _>(subscription_id).load(c)?))
}

/// Revokes a key now, recording `key.revoked`; `false` when it was already revoked.
pub fn revoke(pool: &Pool, key: &KeyRow, event: &NewEvent) -> anyhow::Result<bool> {
    let sql = placeholders("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", pool.backend());
    let ev = placeholders(INSERT_EVENT, pool.backend());
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            let n = diesel::sql_query(sql.as_str()).bind::<BigInt, _>(now).bind::<Text, _>(&key.id).execute(c)?;
            if n > 0 {
                event_insert!(ev.as_str(), &key.subscription_id, event, now).execute(c)?;
            }
            Ok::<_, anyhow::Error>(n > 0)
        })
    })
}

/// What the gateway needs to know about a presented key: the key, its subscription, and the
/// offering's plans (JSON) if the API is still offered.
#[derive(Debug, Clone, QueryableByName)]
pub struct GatewayKeyRow {
    #[diesel(sql_type = Text)]
    #[allow(dead_code, reason = "selected with the key; the gateway's answer does not name it")]
    pub key_id: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub expires_at: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub revoked_at: Option<i64>,
    #[diesel(embed)]
    pub subscription: SubscriptionRow,
    #[diesel(sql_type = Nullable<Text>)]
    pub plans: Option<String>,
}

pub fn gateway_key(pool: &Pool, hash: &str) -> anyhow::Result<Option<GatewayKeyRow>> {
    let sql = placeholders(
        "SELECT k.id AS key_id, k.expires_at, k.revoked_at, s.id, s.api, s.plan, s.consumer, s.team, s.status, s.origin, \
         s.closes_at, s.created_at, s.updated_at, o.plans \
         FROM api_keys k JOIN subscriptions s ON s.id = k.subscription_id LEFT JOIN offerings o ON o.api = s.api \
         WHERE k.key_hash = ?",
        pool.backend(),
    );
    let rows: Vec<GatewayKeyRow> =
        with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(hash).load(c)?);
    Ok(rows.into_iter().next())
}

/// Keys that expire before `before` and have not been noticed as expiring (`expiring = true`)
/// or as expired (`expiring = false`, `before` = now) yet; each is marked noticed as it is
/// returned, with its audit record, so every key is noticed once across instances.
pub fn notice_expiry(pool: &Pool, before: i64, expiring: bool) -> anyhow::Result<Vec<KeyRow>> {
    let column = if expiring { "expiring_noticed" } else { "expired_noticed" };
    let now = now_ms();
    let select = placeholders(
        &format!(
            "SELECT {COLUMNS} FROM api_keys WHERE {column} = 0 AND revoked_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at <= ? AND expires_at > ? ORDER BY expires_at LIMIT 500"
        ),
        pool.backend(),
    );
    let mark = placeholders(&format!("UPDATE api_keys SET {column} = 1 WHERE id = ? AND {column} = 0"), pool.backend());
    let ev = placeholders(INSERT_EVENT, pool.backend());
    let kind = if expiring { "key.expiring" } else { "key.expired" };
    let floor = if expiring { now } else { 0 };
    let due: Vec<KeyRow> = with_conn!(pool, |c| {
        diesel::sql_query(select.as_str()).bind::<BigInt, _>(before).bind::<BigInt, _>(floor).load(c)?
    });
    if due.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            let rows: Vec<KeyRow> =
                diesel::sql_query(select.as_str()).bind::<BigInt, _>(before).bind::<BigInt, _>(floor).load(c)?;
            let mut out = Vec::new();
            for k in rows {
                let n = diesel::sql_query(mark.as_str()).bind::<Text, _>(&k.id).execute(c)?;
                if n == 0 {
                    continue;
                }
                let e = NewEvent {
                    kind: kind.into(),
                    key_id: Some(k.id.clone()),
                    by: "portolan".into(),
                    reason: Some(format!("expires at {}", crate::db::rfc3339(k.expires_at.unwrap_or(0)))),
                    ..NewEvent::default()
                };
                event_insert!(ev.as_str(), &k.subscription_id, e, now).execute(c)?;
                out.push(k);
            }
            Ok::<_, anyhow::Error>(out)
        })
    })
}

/// The subscription of the key with this visible prefix.
pub fn subscription_of_prefix(pool: &Pool, prefix: &str) -> anyhow::Result<Option<SubscriptionRow>> {
    let sql = placeholders(
        "SELECT s.id, s.api, s.plan, s.consumer, s.team, s.status, s.origin, s.closes_at, s.created_at, s.updated_at \
         FROM api_keys k JOIN subscriptions s ON s.id = k.subscription_id WHERE k.prefix = ? LIMIT 1",
        pool.backend(),
    );
    let rows: Vec<SubscriptionRow> =
        with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(prefix).load(c)?);
    Ok(rows.into_iter().next())
}
