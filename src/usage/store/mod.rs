//! All SQL of the usage domain, on its own tables only (`usage_minutes`, `usage_hours`,
//! `usage_days`, `usage_pairs`, `usage_batches`, `usage_kpis`, `usage_state`).
//!
//! ```text
//! mod.rs     the intake's one transaction (rollup rows, pairs, the batch id) and retention
//! read.rs    what the views read: rows, sums per consumer, pairs
//! kpis.rs    product KPI values
//! ```
//!
//! Raw SQL (docs/ARCHITECTURE.md, "Tables and SQL"): this store was written before its tables were
//! declared in `db::schema`. Statements marked `Raw SQL:` say why the DSL cannot express them; the
//! others (plain selects, inserts, updates and upserts by key) the DSL can, and move to it when
//! their function next changes.

pub mod kpis;
pub mod read;

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};

use super::model::{Counts, Histogram, Level};
use crate::db::{Backend, Pool, WriteTransaction, placeholders};
use crate::with_conn;

/// The key of one rollup row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub api: String,
    pub consumer: String,
    /// `''` when the calls were not attributed to a subscription.
    pub subscription: String,
    pub t: i64,
}

#[derive(QueryableByName)]
pub struct StoredRow {
    #[diesel(sql_type = Text)]
    pub api: String,
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = Text)]
    pub subscription: String,
    #[diesel(sql_type = BigInt)]
    pub t: i64,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = Binary)]
    pub hist: Vec<u8>,
}

impl StoredRow {
    pub fn counts(&self) -> Counts {
        Counts { calls: self.calls, errors: self.errors, hist: Histogram::decode(&self.hist) }
    }
}

#[derive(QueryableByName)]
struct PairRow {
    #[diesel(sql_type = Text)]
    api: String,
    #[diesel(sql_type = Text)]
    consumer: String,
    #[diesel(sql_type = BigInt)]
    first_seen: i64,
    #[diesel(sql_type = BigInt)]
    last_seen: i64,
}

#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = BigInt)]
    accepted: i64,
    #[diesel(sql_type = Text)]
    rejected: String,
    #[diesel(sql_type = Nullable<Text>)]
    body_hash: Option<String>,
}

/// A batch id with its body's hash and its answer.
#[derive(Debug, Clone, Copy)]
pub struct BatchRecord<'a> {
    pub id: &'a str,
    pub body_hash: &'a str,
    pub accepted: i64,
    /// The rejections as JSON.
    pub rejected: &'a str,
}

/// What one intake transaction writes: rows per level (already added up per key), the pairs
/// seen with their first and last call, and the batch id with its answer.
pub struct Write<'a> {
    pub rows: &'a HashMap<(Level, RowKey), Counts>,
    pub pairs: &'a HashMap<(String, String), (i64, i64)>,
    pub batch: Option<BatchRecord<'a>>,
    pub now: i64,
    /// A pair whose last call is older than this counts as new again when it calls.
    pub silent_before: i64,
}

/// How the transaction ended.
#[derive(Debug)]
pub enum Committed {
    /// The batch id was already recorded: nothing was written; its answer and body hash as
    /// stored (no hash for batches recorded before hashes were kept).
    Duplicate { accepted: i64, rejected: String, body_hash: Option<String> },
    /// Written; `new_pairs` when a pair appeared or came back.
    Written { new_pairs: bool },
}

const CHUNK: usize = 400;
const LOCK: &str = "UPDATE usage_state SET seq = seq + 1 WHERE id = 1";

macro_rules! write_batch {
    ($c:expr, $w:expr, $backend:expr) => {{
        let c = $c;
        let w: &Write = $w;
        let backend: Backend = $backend;
        c.write_transaction(|c| {
            // Serialises intake transactions (SQLite's BEGIN IMMEDIATE already does): histograms
            // are merged in memory, so no two may read the same row at once.
            diesel::sql_query(LOCK).execute(c)?;
            if let Some(b) = w.batch {
                let sql = placeholders("SELECT accepted, rejected, body_hash FROM usage_batches WHERE id = ?", backend);
                let found: Vec<BatchRow> = diesel::sql_query(sql.as_str()).bind::<Text, _>(b.id).load(c)?;
                if let Some(b) = found.into_iter().next() {
                    return Ok::<_, anyhow::Error>(Committed::Duplicate {
                        accepted: b.accepted,
                        rejected: b.rejected,
                        body_hash: b.body_hash,
                    });
                }
            }
            for level in Level::ALL {
                let mut rows: Vec<(&RowKey, &Counts)> =
                    w.rows.iter().filter(|((l, _), _)| *l == level).map(|((_, k), v)| (k, v)).collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                let table = level.table();
                for chunk in rows.chunks(CHUNK) {
                    // A join on the keys, not `(..) IN (VALUES ..)`: SQLite answers the latter
                    // with a scan of the whole table, the join with primary-key lookups.
                    let tuples = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                    let sql = placeholders(
                        &format!(
                            "WITH k (api, consumer, subscription, t) AS (VALUES {tuples}) \
                             SELECT r.api, r.consumer, r.subscription, r.t, r.calls, r.errors, r.hist FROM k \
                             JOIN {table} r ON r.api = k.api AND r.consumer = k.consumer \
                             AND r.subscription = k.subscription AND r.t = k.t"
                        ),
                        backend,
                    );
                    // Raw SQL: a CTE over a VALUES list of the batch's keys (WITH k AS (VALUES ..)), which the DSL
                    // does not write.
                    let mut q = diesel::sql_query(sql).into_boxed();
                    for (k, _) in chunk {
                        q = q.bind::<Text, _>(&k.api).bind::<Text, _>(&k.consumer).bind::<Text, _>(&k.subscription).bind::<BigInt, _>(k.t);
                    }
                    let existing: Vec<StoredRow> = q.load(c)?;
                    let mut old: HashMap<RowKey, StoredRow> = existing
                        .into_iter()
                        .map(|r| (RowKey { api: r.api.clone(), consumer: r.consumer.clone(), subscription: r.subscription.clone(), t: r.t }, r))
                        .collect();
                    let merged: Vec<(&RowKey, i64, i64, Vec<u8>)> = chunk
                        .iter()
                        .map(|(k, v)| match old.remove(*k) {
                            Some(o) => {
                                let mut m = o.counts();
                                m.add(v);
                                (*k, m.calls, m.errors, m.hist.encode())
                            }
                            None => (*k, v.calls, v.errors, v.hist.encode()),
                        })
                        .collect();
                    let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; merged.len()].join(", ");
                    let sql = placeholders(
                        &format!(
                            "INSERT INTO {table} (api, consumer, subscription, t, calls, errors, hist) VALUES {values} \
                             ON CONFLICT (api, consumer, subscription, t) DO UPDATE SET calls = excluded.calls, \
                             errors = excluded.errors, hist = excluded.hist"
                        ),
                        backend,
                    );
                    let mut q = diesel::sql_query(sql).into_boxed();
                    for (k, calls, errors, hist) in &merged {
                        q = q
                            .bind::<Text, _>(&k.api)
                            .bind::<Text, _>(&k.consumer)
                            .bind::<Text, _>(&k.subscription)
                            .bind::<BigInt, _>(k.t)
                            .bind::<BigInt, _>(*calls)
                            .bind::<BigInt, _>(*errors)
                            .bind::<Binary, _>(hist.as_slice());
                    }
                    q.execute(c)?;
                }
            }
            let mut new_pairs = false;
            let mut pairs: Vec<(&(String, String), &(i64, i64))> = w.pairs.iter().collect();
            pairs.sort();
            for chunk in pairs.chunks(CHUNK) {
                let tuples = vec!["(?, ?)"; chunk.len()].join(", ");
                let sql = placeholders(
                    &format!(
                        "WITH k (api, consumer) AS (VALUES {tuples}) SELECT p.api, p.consumer, p.first_seen, p.last_seen \
                         FROM k JOIN usage_pairs p ON p.api = k.api AND p.consumer = k.consumer"
                    ),
                    backend,
                );
                // Raw SQL: a CTE over a VALUES list of the batch's pairs, which the DSL does not write.
                let mut q = diesel::sql_query(sql).into_boxed();
                for ((api, consumer), _) in chunk {
                    q = q.bind::<Text, _>(api).bind::<Text, _>(consumer);
                }
                let existing: Vec<PairRow> = q.load(c)?;
                let old: HashMap<(String, String), (i64, i64)> =
                    existing.into_iter().map(|p| ((p.api, p.consumer), (p.first_seen, p.last_seen))).collect();
                let merged: Vec<(&(String, String), i64, i64)> = chunk
                    .iter()
                    .map(|(k, (first, last))| match old.get(*k) {
                        Some((f, l)) => {
                            if *l < w.silent_before && *last >= w.silent_before {
                                new_pairs = true;
                            }
                            (*k, (*f).min(*first), (*l).max(*last))
                        }
                        None => {
                            new_pairs = true;
                            (*k, *first, *last)
                        }
                    })
                    .collect();
                let values = vec!["(?, ?, ?, ?)"; merged.len()].join(", ");
                let sql = placeholders(
                    &format!(
                        "INSERT INTO usage_pairs (api, consumer, first_seen, last_seen) VALUES {values} \
                         ON CONFLICT (api, consumer) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen"
                    ),
                    backend,
                );
                let mut q = diesel::sql_query(sql).into_boxed();
                for ((api, consumer), first, last) in &merged {
                    q = q.bind::<Text, _>(api).bind::<Text, _>(consumer).bind::<BigInt, _>(*first).bind::<BigInt, _>(*last);
                }
                q.execute(c)?;
            }
            if new_pairs {
                diesel::sql_query("UPDATE usage_state SET pairs_version = pairs_version + 1 WHERE id = 1").execute(c)?;
            }
            // A batch that counted nothing leaves its id unused.
            if let Some(b) = w.batch.filter(|b| b.accepted > 0) {
                let sql = placeholders(
                    "INSERT INTO usage_batches (id, at, accepted, rejected, body_hash) VALUES (?, ?, ?, ?, ?)",
                    backend,
                );
                diesel::sql_query(sql.as_str())
                    .bind::<Text, _>(b.id)
                    .bind::<BigInt, _>(w.now)
                    .bind::<BigInt, _>(b.accepted)
                    .bind::<Text, _>(b.rejected)
                    .bind::<Text, _>(b.body_hash)
                    .execute(c)?;
            }
            Ok(Committed::Written { new_pairs })
        })
    }};
}

/// The intake's one transaction: every level's rows merged into what is stored, the pairs, and
/// the batch id (a batch id already recorded writes nothing and answers `Duplicate`; a batch
/// that counted nothing leaves its id unrecorded).
pub fn commit(pool: &Pool, w: &Write) -> anyhow::Result<Committed> {
    let backend = pool.backend();
    with_conn!(pool, |c| write_batch!(c, w, backend))
}

/// How often pairs appeared (governance looks again when it moves).
pub fn pairs_version(pool: &Pool) -> anyhow::Result<i64> {
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = BigInt)]
        pairs_version: i64,
    }
    let rows: Vec<V> =
        with_conn!(pool, |c| diesel::sql_query("SELECT pairs_version FROM usage_state WHERE id = 1").load(c)?);
    Ok(rows.first().map(|v| v.pairs_version).unwrap_or(0))
}

/// Drops rows past their retention: minutes before `minutes_before`, hours before
/// `hours_before`, batch ids recorded before `batches_before`. Idempotent. Returns rows dropped.
pub fn prune(pool: &Pool, minutes_before: i64, hours_before: i64, batches_before: i64) -> anyhow::Result<usize> {
    let b = pool.backend();
    let statements = [
        (placeholders("DELETE FROM usage_minutes WHERE t < ?", b), minutes_before),
        (placeholders("DELETE FROM usage_hours WHERE t < ?", b), hours_before),
        (placeholders("DELETE FROM usage_batches WHERE at < ?", b), batches_before),
    ];
    let mut n = 0;
    for (sql, before) in &statements {
        n += with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<BigInt, _>(*before).execute(c)?);
    }
    Ok(n)
}
