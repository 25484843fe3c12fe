//! Service tokens in the database (only hashes are stored), and the sign-in sessions logged out
//! (their refresh tokens are refused until they expire).
//!
//! Written with the diesel DSL over `db::schema`; the one raw statement says why.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use crate::db::schema::{revoked_sessions, service_tokens};
use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = service_tokens)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn insert_token(pool: &Pool, row: &TokenRow, token_hash: &str) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::insert_into(service_tokens::table)
                .values((
                    service_tokens::id.eq(&row.id),
                    service_tokens::name.eq(&row.name),
                    service_tokens::token_hash.eq(token_hash),
                    service_tokens::scopes.eq(&row.scopes),
                    service_tokens::created_by.eq(&row.created_by),
                    service_tokens::created_at.eq(row.created_at),
                    service_tokens::expires_at.eq(row.expires_at),
                ))
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// The live token with this hash (not revoked, not expired).
pub fn find_live_token(pool: &Pool, token_hash: &str) -> anyhow::Result<Option<TokenRow>> {
    let now = now_ms();
    with_conn!(pool, |c| {
        Ok(service_tokens::table
            .filter(service_tokens::token_hash.eq(token_hash))
            .filter(service_tokens::revoked_at.is_null())
            .filter(service_tokens::expires_at.is_null().or(service_tokens::expires_at.gt(now)))
            .select(TokenRow::as_select())
            .first(c)
            .optional()?)
    })
}

pub fn list_tokens(pool: &Pool) -> anyhow::Result<Vec<TokenRow>> {
    with_conn!(pool, |c| {
        Ok(service_tokens::table
            .order((service_tokens::created_at.asc(), service_tokens::id.asc()))
            .select(TokenRow::as_select())
            .load(c)?)
    })
}

/// Revokes a token; false when there is no such token.
pub fn revoke_token(pool: &Pool, id: &str) -> anyhow::Result<bool> {
    let sql =
        placeholders("UPDATE service_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            // Raw SQL: `COALESCE` (keep the first revocation time) is no diesel function.
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
    let now = now_ms();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::delete(revoked_sessions::table.filter(revoked_sessions::expires_at.lt(now))).execute(c)?;
            diesel::insert_into(revoked_sessions::table)
                .values((
                    revoked_sessions::sid.eq(sid),
                    revoked_sessions::revoked_at.eq(now),
                    revoked_sessions::expires_at.eq(expires_at),
                ))
                .on_conflict(revoked_sessions::sid)
                .do_nothing()
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Was this sign-in session logged out?
pub fn session_revoked(pool: &Pool, sid: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        let n: i64 =
            revoked_sessions::table.filter(revoked_sessions::sid.eq(sid)).select(diesel::dsl::count_star()).first(c)?;
        Ok(n > 0)
    })
}
