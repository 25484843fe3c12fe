//! The gateway's shared counters (`gateway_counters`, per consumer or team, API, kind and window)
//! and call counts (`gateway_usage`, per subscription).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{Pool, WriteTransaction, placeholders};
use crate::with_conn;

/// One counter: the calls of one kind (`quota` or `rate`) in one window of whoever it counts
/// for (a consumer and API, or a team and API: see [`crate::offerings::model::counter_scope`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    pub scope: String,
    pub kind: &'static str,
    pub window_start: i64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Adds each increment to its shared counter (in one transaction) and returns every counter's
/// total after the addition, in the same order. An increment of 0 just reads the total.
pub fn add(pool: &Pool, increments: &[(CounterKey, i64)]) -> anyhow::Result<Vec<i64>> {
    if increments.is_empty() {
        return Ok(Vec::new());
    }
    let upsert = placeholders(
        "INSERT INTO gateway_counters (scope, kind, window_start, count) VALUES (?, ?, ?, ?) \
         ON CONFLICT (scope, kind, window_start) DO UPDATE SET count = gateway_counters.count + excluded.count \
         RETURNING count",
        pool.backend(),
    );
    let read = placeholders(
        "SELECT count FROM gateway_counters WHERE scope = ? AND kind = ? AND window_start = ?",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let mut out = Vec::with_capacity(increments.len());
            for (k, n) in increments {
                let rows: Vec<CountRow> = if *n > 0 {
                    diesel::sql_query(upsert.as_str())
                        .bind::<Text, _>(&k.scope)
                        .bind::<Text, _>(k.kind)
                        .bind::<BigInt, _>(k.window_start)
                        .bind::<BigInt, _>(*n)
                        .load(c)?
                } else {
                    diesel::sql_query(read.as_str())
                        .bind::<Text, _>(&k.scope)
                        .bind::<Text, _>(k.kind)
                        .bind::<BigInt, _>(k.window_start)
                        .load(c)?
                };
                out.push(rows.first().map(|r| r.count).unwrap_or(0));
            }
            Ok::<_, anyhow::Error>(out)
        })
    })
}

/// Counts one call (plus `carry`, calls already admitted here and not yet written) on each
/// counter, in one transaction, only if every counter stays within its limit: `(true, totals)`.
/// Otherwise nothing but the carries is added and `(false, totals)` says where they stand.
pub fn add_within(pool: &Pool, items: &[(CounterKey, i64, i64)]) -> anyhow::Result<(bool, Vec<i64>)> {
    let upsert = placeholders(
        "INSERT INTO gateway_counters (scope, kind, window_start, count) VALUES (?, ?, ?, ?) \
         ON CONFLICT (scope, kind, window_start) DO UPDATE SET count = gateway_counters.count + excluded.count \
         WHERE gateway_counters.count + excluded.count <= ? RETURNING count",
        pool.backend(),
    );
    let counted: Result<Vec<i64>, diesel::result::Error> = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let mut out = Vec::with_capacity(items.len());
            for (k, carry, limit) in items {
                let rows: Vec<CountRow> = diesel::sql_query(upsert.as_str())
                    .bind::<Text, _>(&k.scope)
                    .bind::<Text, _>(k.kind)
                    .bind::<BigInt, _>(k.window_start)
                    .bind::<BigInt, _>(carry + 1)
                    .bind::<BigInt, _>(*limit)
                    .load(c)?;
                match rows.first() {
                    Some(r) if r.count <= *limit => out.push(r.count),
                    _ => return Err(diesel::result::Error::RollbackTransaction),
                }
            }
            Ok(out)
        })
    });
    match counted {
        Ok(totals) => Ok((true, totals)),
        Err(diesel::result::Error::RollbackTransaction) => {
            let carries: Vec<(CounterKey, i64)> = items.iter().map(|(k, carry, _)| (k.clone(), *carry)).collect();
            Ok((false, add(pool, &carries)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds allowed calls per subscription per minute.
pub fn add_usage(pool: &Pool, calls: &[(String, i64, i64)]) -> anyhow::Result<()> {
    if calls.is_empty() {
        return Ok(());
    }
    let upsert = placeholders(
        "INSERT INTO gateway_usage (subscription_id, minute, calls) VALUES (?, ?, ?) \
         ON CONFLICT (subscription_id, minute) DO UPDATE SET calls = gateway_usage.calls + excluded.calls",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            for (sub, minute, n) in calls {
                diesel::sql_query(upsert.as_str())
                    .bind::<Text, _>(sub)
                    .bind::<BigInt, _>(*minute)
                    .bind::<BigInt, _>(*n)
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Allowed calls of a subscription per minute, oldest first: `(minute start ms, calls)`.
pub fn usage_of(pool: &Pool, subscription_id: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        minute: i64,
        #[diesel(sql_type = BigInt)]
        calls: i64,
    }
    let sql = placeholders(
        "SELECT minute, calls FROM gateway_usage WHERE subscription_id = ? ORDER BY minute",
        pool.backend(),
    );
    let rows: Vec<Row> =
        with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(subscription_id).load(c)?);
    Ok(rows.into_iter().map(|r| (r.minute, r.calls)).collect())
}

/// Drops rate-limit counters of windows that started before `before` (quota windows are kept
/// for their period; they are few).
pub fn prune_rate_counters(pool: &Pool, before: i64) -> anyhow::Result<usize> {
    let sql = placeholders("DELETE FROM gateway_counters WHERE kind = 'rate' AND window_start < ?", pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            Ok::<_, anyhow::Error>(diesel::sql_query(sql.as_str()).bind::<BigInt, _>(before).execute(c)?)
        })
    })
}
