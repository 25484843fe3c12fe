//! All SQL of the usage domain, on its own tables only (`usage_records`, `usage_fold_parts`,
//! `usage_minutes`, `usage_hours`, `usage_days`, `usage_weeks`, `usage_pairs`, `usage_batches`,
//! `usage_kpis`, `usage_state`).
//!
//! ```text
//! mod.rs     the intake's one transaction (the batch id, its records) and retention
//! fold.rs    the folder's transaction: one partition's records into the levels and pairs
//! read.rs    what the views read, in one snapshot: rows, sums per consumer, pairs, plus the
//!            records not yet folded
//! kpis.rs    product KPI values
//! ```
//!
//! Raw SQL (docs/ARCHITECTURE.md, "Tables and SQL"): this store was written before its tables were
//! declared in `db::schema`. Statements marked `Raw SQL:` say why the DSL cannot express them; the
//! others (plain selects, inserts, updates and upserts by key) the DSL can, and move to it when
//! their function next changes.

pub mod fold;
pub mod kpis;
pub mod read;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};

use super::model::{Counts, Histogram};
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

/// One record to append: its partition, how many events it holds, its bytes (`record.rs`).
pub struct NewRecord {
    pub part: i32,
    pub events: i64,
    pub body: Vec<u8>,
}

/// What one intake transaction appends: some batches (each with its id and answer, or none for
/// the gateway check's calls) and the records of those not already recorded.
pub struct Append<'a> {
    pub batches: &'a [Option<BatchRecord<'a>>],
    /// The records of the batches counted: `counted[i]` is false for
    /// a batch whose id was already recorded.
    pub records: &'a dyn Fn(&[bool]) -> Vec<NewRecord>,
    pub now: i64,
}

/// How a batch of the transaction ended.
#[derive(Debug)]
pub enum Committed {
    /// The batch id was already recorded: nothing was written; its answer and body hash as
    /// stored (no hash for batches recorded before hashes were kept).
    Duplicate { accepted: i64, rejected: String, body_hash: Option<String> },
    /// Appended.
    Written,
}

const CHUNK: usize = 400;

macro_rules! append_batches {
    ($c:expr, $a:expr, $backend:expr) => {{
        let c = $c;
        let a: &Append = $a;
        let backend: Backend = $backend;
        c.write_transaction(|c| {
            let find = placeholders("SELECT accepted, rejected, body_hash FROM usage_batches WHERE id = ?", backend);
            let insert = placeholders(
                "INSERT INTO usage_batches (id, at, accepted, rejected, body_hash) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
                backend,
            );
            let mut out = Vec::with_capacity(a.batches.len());
            for batch in a.batches {
                let found: Vec<BatchRow> = match batch {
                    // The id first: a concurrent intake of the same id waits here for the other's
                    // commit, then finds it (no lock serialises the intake).
                    Some(b) if b.accepted > 0 => {
                        let inserted = diesel::sql_query(insert.as_str())
                            .bind::<Text, _>(b.id)
                            .bind::<BigInt, _>(a.now)
                            .bind::<BigInt, _>(b.accepted)
                            .bind::<Text, _>(b.rejected)
                            .bind::<Text, _>(b.body_hash)
                            .execute(c)?;
                        if inserted == 0 {
                            diesel::sql_query(find.as_str()).bind::<Text, _>(b.id).load(c)?
                        } else {
                            Vec::new()
                        }
                    }
                    // A batch that counted nothing leaves its id unused, but answers as recorded.
                    Some(b) => diesel::sql_query(find.as_str()).bind::<Text, _>(b.id).load(c)?,
                    None => Vec::new(),
                };
                out.push(match found.into_iter().next() {
                    Some(b) => {
                        Committed::Duplicate { accepted: b.accepted, rejected: b.rejected, body_hash: b.body_hash }
                    }
                    None => Committed::Written,
                });
            }
            let counted: Vec<bool> = out.iter().map(|o| matches!(o, Committed::Written)).collect();
            let records = (a.records)(&counted);
            for chunk in records.chunks(CHUNK) {
                let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                let sql = placeholders(
                    &format!("INSERT INTO usage_records (part, at, events, body) VALUES {values}"),
                    backend,
                );
                let mut q = diesel::sql_query(sql).into_boxed();
                for r in chunk {
                    q = q
                        .bind::<diesel::sql_types::Integer, _>(r.part)
                        .bind::<BigInt, _>(a.now)
                        .bind::<BigInt, _>(r.events)
                        .bind::<Binary, _>(r.body.as_slice());
                }
                q.execute(c)?;
            }
            Ok::<_, anyhow::Error>(out)
        })
    }};
}

/// The intake's one transaction: each batch's id (an id already recorded writes nothing for
/// that batch and answers `Duplicate`; a batch that counted nothing leaves its id unrecorded),
/// then the records of the batches counted: one insert per partition, whatever their size.
pub fn append(pool: &Pool, a: &Append) -> anyhow::Result<Vec<Committed>> {
    let backend = pool.backend();
    with_conn!(pool, |c| append_batches!(c, a, backend))
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
