//! Service tokens in the database (only hashes are stored), and the sign-in sessions logged out
//! (their refresh tokens are refused until they expire).
//!
//! Raw SQL (docs/ARCHITECTURE.md, "Tables and SQL"): this store was written before `service_tokens`
//! and `revoked_sessions` were declared in `db::schema`. Statements marked `Raw SQL:` say why the
//! DSL cannot express them; the others (plain selects, inserts, updates and upserts by key) the DSL
//! can, and move to it when their function next changes.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;

use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

#[derive(Debug, Clone, QueryableByName, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub scopes: String,
    #[diesel(sql_type = Text)]
    pub created_by: String,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub expires_at: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scopes, created_by, created_at, expires_at, revoked_at";

pub fn insert_token(pool: &Pool, row: &TokenRow, token_hash: &str) -> anyhow::Result<()> {
    let sql = placeholders(
        "INSERT INTO service_tokens (id, name, token_hash, scopes, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str())
                .bind::<Text, _>(row.id.clone())
                .bind::<Text, _>(row.name.clone())
                .bind::<Text, _>(token_hash.to_owned())
                .bind::<Text, _>(row.scopes.clone())
                .bind::<Text, _>(row.created_by.clone())
                .bind::<BigInt, _>(row.created_at)
                .bind::<Nullable<BigInt>, _>(row.expires_at)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// The live token with this hash (not revoked, not expired).
pub fn find_live_token(pool: &Pool, token_hash: &str) -> anyhow::Result<Option<TokenRow>> {
    let sql = placeholders(
        &format!(
            "SELECT {COLUMNS} FROM service_tokens WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
        ),
        pool.backend(),
    );
    with_conn!(pool, |c| {
        let rows: Vec<TokenRow> = diesel::sql_query(sql.as_str())
            .bind::<Text, _>(token_hash.to_owned())
            .bind::<BigInt, _>(now_ms())
            .load(c)?;
        Ok(rows.into_iter().next())
    })
}

pub fn list_tokens(pool: &Pool) -> anyhow::Result<Vec<TokenRow>> {
    let sql = format!("SELECT {COLUMNS} FROM service_tokens ORDER BY created_at, id");
    with_conn!(pool, |c| Ok(diesel::sql_query(sql.as_str()).load(c)?))
}

/// Revokes a token; false when there is no such token.
pub fn revoke_token(pool: &Pool, id: &str) -> anyhow::Result<bool> {
    let sql =
        placeholders("UPDATE service_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let n = diesel::sql_query(sql.as_str())
                .bind::<BigInt, _>(now_ms())
                .bind::<Text, _>(id.to_owned())
                .execute(c)?;
            Ok::<_, anyhow::Error>(n > 0)
        })
    })
}

/// Records a sign-in session as logged out until `expires_at` (epoch ms: when the last refresh
/// token it could have issued expires), and drops records past their own expiry.
pub fn revoke_session(pool: &Pool, sid: &str, expires_at: i64) -> anyhow::Result<()> {
    let insert = placeholders(
        "INSERT INTO revoked_sessions (sid, revoked_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (sid) DO NOTHING",
        pool.backend(),
    );
    let purge = placeholders("DELETE FROM revoked_sessions WHERE expires_at < ?", pool.backend());
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(purge.as_str()).bind::<BigInt, _>(now).execute(c)?;
            diesel::sql_query(insert.as_str())
                .bind::<Text, _>(sid.to_owned())
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(expires_at)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Was this sign-in session logged out?
pub fn session_revoked(pool: &Pool, sid: &str) -> anyhow::Result<bool> {
    let sql = placeholders("SELECT COUNT(*) AS n FROM revoked_sessions WHERE sid = ?", pool.backend());
    with_conn!(pool, |c| {
        let rows: Vec<Found> = diesel::sql_query(sql.as_str()).bind::<Text, _>(sid.to_owned()).load(c)?;
        Ok(rows.first().is_some_and(|r| r.n > 0))
    })
}
