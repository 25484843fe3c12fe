//! Leases on rows: at most one instance works on a row at a time (a location to refresh, a
//! provider to run), coordinated through the database, never through memory.
//!
//! A leased table has `id TEXT`, `lease_owner TEXT NULL`, `lease_expires_at BIGINT NULL` and a
//! due column (`BIGINT`, when the row wants work next). The domain that owns the table declares
//! its [`Leases`]; this module only runs the statements. On PostgreSQL the most overdue row is
//! picked with `FOR UPDATE SKIP LOCKED`, so instances never claim the same one; SQLite has one
//! writer, which gives the same guarantee. An expired lease is claimable again, and so is the
//! lease of an instance that stopped beating (`db::instances`): a crashed holder's work is taken
//! over within seconds.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::instances::{LEASE_FREE, STALE_MS, instance_of};
use super::{Backend, Pool, WriteTransaction, placeholders};
use crate::with_conn;

/// The lease columns of one table, and which column says when a row is due.
#[derive(Debug, Clone, Copy)]
pub struct Leases {
    table: &'static str,
    due: &'static str,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

impl Leases {
    /// Leases on `table`, whose rows are due once `due` (milliseconds) has passed.
    pub const fn new(table: &'static str, due: &'static str) -> Self {
        Self { table, due }
    }

    /// Claims the most overdue row whose lease is free, until `lease_until`; returns its id.
    pub fn claim_due(&self, pool: &Pool, owner: &str, now: i64, lease_until: i64) -> anyhow::Result<Option<String>> {
        let backend = pool.backend();
        let lock = if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let (table, due) = (self.table, self.due);
        let sql = placeholders(
            &format!(
                "UPDATE {table} SET lease_owner = ?, lease_expires_at = ? WHERE id = (SELECT id FROM {table} \
                 WHERE {due} <= ? AND {LEASE_FREE} ORDER BY {due} LIMIT 1{lock}) AND {LEASE_FREE} RETURNING id"
            ),
            backend,
        );
        let (stale, me) = (now - STALE_MS, instance_of(owner).to_owned());
        let rows: Vec<IdRow> = with_conn!(pool, |c| {
            c.write_transaction(|c| {
                diesel::sql_query(sql.as_str())
                    .into_boxed::<Db>()
                    .bind::<Text, _>(owner.to_owned())
                    .bind::<BigInt, _>(lease_until)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(stale)
                    .bind::<Text, _>(me.clone())
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(stale)
                    .bind::<Text, _>(me.clone())
                    .load(c)
            })?
        });
        Ok(rows.into_iter().next().map(|r| r.id))
    }

    /// Claims one row now, or extends this owner's own lease. False when another owner holds a
    /// live lease (or there is no such row).
    pub fn claim(&self, pool: &Pool, id: &str, owner: &str, now: i64, lease_until: i64) -> anyhow::Result<bool> {
        let sql = placeholders(
            &format!(
                "UPDATE {} SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND ({LEASE_FREE} OR lease_owner = ?)",
                self.table
            ),
            pool.backend(),
        );
        let me = instance_of(owner).to_owned();
        let n = with_conn!(pool, |c| {
            diesel::sql_query(sql.as_str())
                .into_boxed::<Db>()
                .bind::<Text, _>(owner.to_owned())
                .bind::<BigInt, _>(lease_until)
                .bind::<Text, _>(id.to_owned())
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(now - STALE_MS)
                .bind::<Text, _>(me.clone())
                .bind::<Text, _>(owner.to_owned())
                .execute(c)?
        });
        Ok(n == 1)
    }

    /// Gives this owner's lease back; with `next_due`, also says when the row is due again.
    pub fn release(&self, pool: &Pool, id: &str, owner: &str, next_due: Option<i64>) -> anyhow::Result<()> {
        let sql = placeholders(
            &format!(
                "UPDATE {} SET lease_owner = NULL, lease_expires_at = NULL, {due} = COALESCE(?, {due}) \
                 WHERE id = ? AND lease_owner = ?",
                self.table,
                due = self.due
            ),
            pool.backend(),
        );
        with_conn!(pool, |c| {
            diesel::sql_query(sql.as_str())
                .into_boxed::<Db>()
                .bind::<Nullable<BigInt>, _>(next_due)
                .bind::<Text, _>(id.to_owned())
                .bind::<Text, _>(owner.to_owned())
                .execute(c)?;
            Ok(())
        })
    }
}
