//! The folder's transaction: one partition's records merged into the rollup levels and the
//! pairs, and deleted, in one commit; and the one-time build of the week level from the days.
//!
//! A partition is claimed by its `usage_fold_parts` row: `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL (instances fold different partitions side by side; every rollup row belongs to
//! exactly one partition, through its API), `BEGIN IMMEDIATE` on SQLite (one writer anyway).
//! Because the merge and the delete commit together, a crash between them leaves both undone:
//! the records are folded again by whoever claims the partition next, and counted once.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Text};

use super::{CHUNK, PairRow, RowKey, StoredRow};
use crate::db::{Backend, Pool, WriteTransaction, placeholders};
use crate::usage::model::{Counts, Level};
use crate::usage::record::{self, MinuteRow};
use crate::with_conn;

/// What the rows of some records add up to, per level, ready to merge.
#[derive(Default)]
pub struct Merge {
    pub rows: HashMap<(Level, RowKey), Counts>,
    /// (API, consumer) → (first call, last call).
    pub pairs: HashMap<(String, String), (i64, i64)>,
}

/// One fold, as committed.
#[derive(Debug, Default)]
pub struct Folded {
    /// The events of the records folded (a damaged record is dropped with an error logged).
    pub events: i64,
    /// A pair appeared, or came back after `silent_before`.
    pub new_pairs: bool,
}

/// How one fold runs.
pub struct FoldOptions<'a> {
    /// At most this many records per transaction.
    pub limit: i64,
    pub now: i64,
    /// A pair whose last call is older than this counts as new again when it calls.
    pub silent_before: i64,
    /// Only a partition with a record appended before this is taken (its younger records come
    /// along): records wait a little, so one fold merges many batches' repeated keys.
    pub appended_before: i64,
    /// Called between the merge and the delete (a test's crash point).
    pub between: &'a (dyn Fn() + Sync),
}

#[derive(QueryableByName)]
struct PartRow {
    #[diesel(sql_type = Integer)]
    part: i32,
}

#[derive(QueryableByName)]
struct RecordRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
    #[diesel(sql_type = Binary)]
    body: Vec<u8>,
}

#[derive(QueryableByName)]
struct Built {
    #[diesel(sql_type = BigInt)]
    weeks_built: i64,
}

/// Merges `rows` into the stored levels (read, add in memory, upsert, in key order).
macro_rules! merge_levels {
    ($c:expr, $rows:expr, $backend:expr) => {{
        let rows: &HashMap<(Level, RowKey), Counts> = $rows;
        for level in Level::ALL {
            let mut mine: Vec<(&RowKey, &Counts)> =
                rows.iter().filter(|((l, _), _)| *l == level).map(|((_, k), v)| (k, v)).collect();
            mine.sort_by(|a, b| a.0.cmp(b.0));
            let table = level.table();
            for chunk in mine.chunks(CHUNK) {
                // A join on the keys, not `(..) IN (VALUES ..)`: SQLite answers the latter with
                // a scan of the whole table, the join with primary-key lookups.
                let tuples = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                let sql = placeholders(
                    &format!(
                        "WITH k (api, consumer, subscription, t) AS (VALUES {tuples}) \
                         SELECT r.api, r.consumer, r.subscription, r.t, r.calls, r.errors, r.hist FROM k \
                         JOIN {table} r ON r.api = k.api AND r.consumer = k.consumer \
                         AND r.subscription = k.subscription AND r.t = k.t"
                    ),
                    $backend,
                );
                // Raw SQL: a CTE over a VALUES list of the keys (WITH k AS (VALUES ..)), which the DSL does not
                // write, on a table picked at run time.
                let mut q = diesel::sql_query(sql).into_boxed();
                for (k, _) in chunk {
                    q = q
                        .bind::<Text, _>(&k.api)
                        .bind::<Text, _>(&k.consumer)
                        .bind::<Text, _>(&k.subscription)
                        .bind::<BigInt, _>(k.t);
                }
                let existing: Vec<StoredRow> = q.load($c)?;
                let mut old: HashMap<RowKey, StoredRow> = existing
                    .into_iter()
                    .map(|r| {
                        let k = RowKey {
                            api: r.api.clone(),
                            consumer: r.consumer.clone(),
                            subscription: r.subscription.clone(),
                            t: r.t,
                        };
                        (k, r)
                    })
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
                    $backend,
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
                q.execute($c)?;
            }
        }
    }};
}

/// Merges the pairs; true when one appeared or came back after `silent_before`.
macro_rules! merge_pairs {
    ($c:expr, $pairs:expr, $silent_before:expr, $backend:expr) => {{
        let pairs_in: &HashMap<(String, String), (i64, i64)> = $pairs;
        let silent_before: i64 = $silent_before;
        let mut new_pairs = false;
        let mut pairs: Vec<(&(String, String), &(i64, i64))> = pairs_in.iter().collect();
        pairs.sort();
        for chunk in pairs.chunks(CHUNK) {
            let tuples = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = placeholders(
                &format!(
                    "WITH k (api, consumer) AS (VALUES {tuples}) SELECT p.api, p.consumer, p.first_seen, p.last_seen \
                     FROM k JOIN usage_pairs p ON p.api = k.api AND p.consumer = k.consumer"
                ),
                $backend,
            );
            // Raw SQL: a CTE over a VALUES list of the pairs, which the DSL does not write.
            let mut q = diesel::sql_query(sql).into_boxed();
            for ((api, consumer), _) in chunk {
                q = q.bind::<Text, _>(api).bind::<Text, _>(consumer);
            }
            let existing: Vec<PairRow> = q.load($c)?;
            let old: HashMap<(String, String), (i64, i64)> =
                existing.into_iter().map(|p| ((p.api, p.consumer), (p.first_seen, p.last_seen))).collect();
            let merged: Vec<(&(String, String), i64, i64)> = chunk
                .iter()
                .map(|(k, (first, last))| match old.get(*k) {
                    Some((f, l)) => {
                        if *l < silent_before && *last >= silent_before {
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
                $backend,
            );
            let mut q = diesel::sql_query(sql).into_boxed();
            for ((api, consumer), first, last) in &merged {
                q = q.bind::<Text, _>(api).bind::<Text, _>(consumer).bind::<BigInt, _>(*first).bind::<BigInt, _>(*last);
            }
            q.execute($c)?;
        }
        if new_pairs {
            diesel::sql_query("UPDATE usage_state SET pairs_version = pairs_version + 1 WHERE id = 1").execute($c)?;
        }
        new_pairs
    }};
}

macro_rules! fold_part {
    ($c:expr, $o:expr, $expand:expr, $backend:expr) => {{
        let o: &FoldOptions = $o;
        let backend: Backend = $backend;
        $c.write_transaction(|c| {
            // The partition with the oldest fold among those with records, not held by another.
            let claim = "SELECT part FROM usage_fold_parts p WHERE EXISTS \
                         (SELECT 1 FROM usage_records r WHERE r.part = p.part AND r.at < ?) ORDER BY folded_at, part LIMIT 1";
            let claim = match backend {
                Backend::Postgres => placeholders(&format!("{claim} FOR UPDATE SKIP LOCKED"), backend),
                Backend::Sqlite => claim.to_owned(),
            };
            // Raw SQL: FOR UPDATE SKIP LOCKED with a correlated EXISTS.
            let claimed: Vec<PartRow> = diesel::sql_query(claim).bind::<BigInt, _>(o.appended_before).load(c)?;
            let Some(part) = claimed.into_iter().next().map(|p| p.part) else {
                return Ok::<_, anyhow::Error>(None);
            };
            let sql = placeholders("SELECT id, events, body FROM usage_records WHERE part = ? ORDER BY id LIMIT ?", backend);
            let records: Vec<RecordRow> =
                diesel::sql_query(sql.as_str()).bind::<Integer, _>(part).bind::<BigInt, _>(o.limit).load(c)?;
            let mut folded = Folded::default();
            let mut rows: Vec<MinuteRow> = Vec::new();
            for r in &records {
                match record::decode(&r.body) {
                    Ok(mut got) => {
                        folded.events += r.events;
                        rows.append(&mut got);
                    }
                    Err(reason) => {
                        tracing::error!(usage.record = r.id, reason, "A usage record could not be read; it is dropped.");
                    }
                }
            }
            let merge: Merge = ($expand)(&rows);
            merge_levels!(c, &merge.rows, backend);
            folded.new_pairs = merge_pairs!(c, &merge.pairs, o.silent_before, backend);
            (o.between)();
            for chunk in records.chunks(CHUNK) {
                let sql = placeholders(
                    &format!("DELETE FROM usage_records WHERE id IN ({})", vec!["?"; chunk.len()].join(", ")),
                    backend,
                );
                let mut q = diesel::sql_query(sql).into_boxed();
                for r in chunk {
                    q = q.bind::<BigInt, _>(r.id);
                }
                q.execute(c)?;
            }
            let sql = placeholders("UPDATE usage_fold_parts SET folded_at = ? WHERE part = ?", backend);
            diesel::sql_query(sql.as_str()).bind::<BigInt, _>(o.now).bind::<Integer, _>(part).execute(c)?;
            Ok(Some(folded))
        })
    }};
}

/// Folds one partition's oldest records (at most `limit`), if any partition has records that
/// no other folder holds: `expand` turns their rows into what each level and the pairs get.
/// `None` when there was nothing to take.
pub fn fold_one(
    pool: &Pool,
    o: &FoldOptions,
    expand: &dyn Fn(&[MinuteRow]) -> Merge,
) -> anyhow::Result<Option<Folded>> {
    let backend = pool.backend();
    with_conn!(pool, |c| fold_part!(c, o, expand, backend))
}

/// Builds the week level from the day rows, once (the first folder to run after the week level
/// was added does it, holding every partition). True when the weeks are there.
pub fn build_weeks(
    pool: &Pool,
    weeks_of: &dyn Fn(Vec<StoredRow>) -> HashMap<(Level, RowKey), Counts>,
) -> anyhow::Result<bool> {
    let backend = pool.backend();
    with_conn!(pool, |c| c.write_transaction(|c| {
        if backend == Backend::Postgres {
            diesel::sql_query("SELECT part FROM usage_fold_parts ORDER BY part FOR UPDATE").load::<PartRow>(c)?;
        }
        let built: Vec<Built> = diesel::sql_query("SELECT weeks_built FROM usage_state WHERE id = 1").load(c)?;
        if built.first().is_some_and(|b| b.weeks_built != 0) {
            return Ok::<_, anyhow::Error>(true);
        }
        let days: Vec<StoredRow> =
            diesel::sql_query("SELECT api, consumer, subscription, t, calls, errors, hist FROM usage_days").load(c)?;
        let weeks = weeks_of(days);
        merge_levels!(c, &weeks, backend);
        diesel::sql_query("UPDATE usage_state SET weeks_built = 1 WHERE id = 1").execute(c)?;
        Ok(true)
    }))
}

/// Whether any record was appended before `appended_before` (a plain read, so an idle folder
/// never takes SQLite's write lock just to find nothing).
pub fn due(pool: &Pool, appended_before: i64) -> anyhow::Result<bool> {
    use crate::db::schema::usage_records;
    let waiting = usage_records::table.filter(usage_records::at.lt(appended_before));
    Ok(with_conn!(pool, |c| diesel::select(diesel::dsl::exists(waiting)).get_result::<bool>(c)?))
}

/// How many records wait to be folded, and their events.
pub fn backlog(pool: &Pool) -> anyhow::Result<(i64, i64)> {
    #[derive(QueryableByName)]
    struct B {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = BigInt)]
        events: i64,
    }
    let rows: Vec<B> = with_conn!(pool, |c| {
        diesel::sql_query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(events), 0) AS BIGINT) AS events FROM usage_records"
    )
    .load(c)?
    });
    Ok(rows.first().map(|b| (b.n, b.events)).unwrap_or((0, 0)))
}
