//! What the views read. Each function reads in one snapshot the folded rows of a level and the
//! records not yet folded (so a batch shows as soon as it is answered, and a fold committing
//! meanwhile is seen either wholly or not at all), and adds the records' rows in.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Text};

use super::{RowKey, StoredRow};
use crate::db::{Pool, SnapshotTransaction, placeholders};
use crate::usage::model::{Counts, Level, WEEK_MS, week_of};
use crate::usage::record::{self, MinuteRow, part_of};
use crate::with_conn;

/// Which rows of a level: APIs (all when `None`), consumers (`None`: the per-API totals, the
/// rows with consumer `''`), and `[from, to)`.
pub struct Scope<'a> {
    pub apis: Option<&'a [String]>,
    pub consumers: Option<&'a [String]>,
    pub from: i64,
    pub to: i64,
}

/// A row of a level: folded, records not yet folded, or both added up.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: RowKey,
    pub counts: Counts,
}

fn marks(n: usize) -> String {
    if n == 0 { "NULL".to_owned() } else { vec!["?"; n].join(", ") }
}

#[derive(QueryableByName)]
struct Body {
    #[diesel(sql_type = Binary)]
    body: Vec<u8>,
}

/// The SQL reading the records of the partitions the APIs fall in (all without APIs).
fn pending_sql(apis: Option<&[String]>) -> (String, Vec<i32>) {
    match apis {
        None => ("SELECT body FROM usage_records".to_owned(), Vec::new()),
        Some(apis) => {
            let parts: Vec<i32> = apis.iter().map(|a| part_of(a)).collect::<HashSet<_>>().into_iter().collect();
            (format!("SELECT body FROM usage_records WHERE part IN ({})", marks(parts.len())), parts)
        }
    }
}

/// Loads the records not yet folded, inside the caller's snapshot.
macro_rules! load_pending {
    ($c:expr, $apis:expr, $backend:expr) => {{
        let apis: Option<&[String]> = $apis;
        let (sql, parts) = pending_sql(apis);
        let sql = placeholders(&sql, $backend);
        let mut q = diesel::sql_query(sql).into_boxed();
        for p in &parts {
            q = q.bind::<Integer, _>(*p);
        }
        let bodies: Vec<Body> = q.load($c)?;
        bodies
    }};
}

/// The records' rows of the APIs in scope (a damaged record is left out, with a warning; the
/// folder drops it).
fn rows_of(bodies: Vec<Body>, apis: Option<&[String]>) -> Vec<MinuteRow> {
    let wanted: Option<HashSet<&str>> = apis.map(|a| a.iter().map(String::as_str).collect());
    let mut out = Vec::new();
    for b in bodies {
        match record::decode(&b.body) {
            Ok(rows) => {
                out.extend(rows.into_iter().filter(|r| wanted.as_ref().is_none_or(|w| w.contains(r.api.as_str()))))
            }
            Err(reason) => tracing::warn!(reason, "A usage record could not be read; the views leave it out."),
        }
    }
    out
}

/// The rows of a level in scope.
pub fn rows(pool: &Pool, level: Level, s: &Scope) -> anyhow::Result<Vec<Row>> {
    let mut binds: Vec<String> = Vec::new();
    let mut sql = format!(
        "SELECT api, consumer, subscription, t, calls, errors, hist FROM {} WHERE t >= ? AND t < ?",
        level.table()
    );
    if let Some(apis) = s.apis {
        sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
        binds.extend(apis.iter().cloned());
    }
    match s.consumers {
        Some(list) => {
            sql.push_str(&format!(" AND consumer IN ({})", marks(list.len())));
            binds.extend(list.iter().cloned());
        }
        // The per-API total rows: consumer and subscription both '' (naming both lets the
        // primary key seek straight to them with the time range).
        None => sql.push_str(" AND consumer = '' AND subscription = ''"),
    }
    let backend = pool.backend();
    let sql = placeholders(&sql, backend);
    let (stored, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        // Raw SQL: the level's table is picked at run time (a diesel table is a type), and the filters follow the
        // scope.
        let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(s.from).bind::<BigInt, _>(s.to);
        for b in &binds {
            q = q.bind::<Text, _>(b);
        }
        let stored: Vec<StoredRow> = q.load(c)?;
        let bodies = load_pending!(c, s.apis, backend);
        Ok::<_, anyhow::Error>((stored, bodies))
    }))?;
    let mut out: HashMap<RowKey, Counts> = HashMap::with_capacity(stored.len());
    for r in stored {
        let counts = r.counts();
        out.insert(RowKey { api: r.api, consumer: r.consumer, subscription: r.subscription, t: r.t }, counts);
    }
    let consumers: Option<HashSet<&str>> = s.consumers.map(|l| l.iter().map(String::as_str).collect());
    for p in rows_of(bodies, s.apis) {
        let t = level.start(p.t);
        if t < s.from || t >= s.to {
            continue;
        }
        let (consumer, subscription) = match &consumers {
            None => (String::new(), String::new()),
            Some(list) if list.contains(p.consumer.as_str()) => (p.consumer, p.subscription),
            Some(_) => continue,
        };
        out.entry(RowKey { api: p.api, consumer, subscription, t }).or_default().add(&p.counts);
    }
    let mut out: Vec<Row> = out.into_iter().map(|(key, counts)| Row { key, counts }).collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[derive(QueryableByName)]
pub struct ConsumerSum {
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
}

/// The parts `[from, to)` is read from at `level`: at the day level, the whole weeks inside the
/// range from the week level and only the days at its edges from the day level.
pub fn spans(level: Level, from: i64, to: i64) -> Vec<(Level, i64, i64)> {
    if level != Level::Day {
        return vec![(level, from, to)];
    }
    let first = if week_of(from) == from { from } else { week_of(from) + WEEK_MS };
    let last = week_of(to);
    if first >= last {
        return vec![(Level::Day, from, to)];
    }
    [(Level::Day, from, first), (Level::Week, first, last), (Level::Day, last, to)]
        .into_iter()
        .filter(|(_, a, b)| a < b)
        .collect()
}

/// Calls and errors per consumer over the APIs in scope (every consumer), `[from, to)` on the
/// bucket starts of `level` (a day range reads whole weeks from the week level).
pub fn sums_by_consumer(
    pool: &Pool,
    level: Level,
    apis: Option<&[String]>,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<ConsumerSum>> {
    let backend = pool.backend();
    let statements: Vec<(String, i64, i64)> = spans(level, from, to)
        .into_iter()
        .map(|(l, a, b)| {
            let mut sql = format!(
                "SELECT consumer, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors FROM {} \
                 WHERE t >= ? AND t < ? AND consumer <> ''",
                l.table()
            );
            if let Some(apis) = apis {
                sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
            }
            sql.push_str(" GROUP BY consumer");
            (placeholders(&sql, backend), a, b)
        })
        .collect();
    let apis_bound: &[String] = apis.unwrap_or_default();
    let (parts, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        let mut parts: Vec<Vec<ConsumerSum>> = Vec::new();
        for (sql, a, b) in &statements {
            let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(*a).bind::<BigInt, _>(*b);
            for api in apis_bound {
                q = q.bind::<Text, _>(api);
            }
            parts.push(q.load(c)?);
        }
        let bodies = load_pending!(c, apis, backend);
        Ok::<_, anyhow::Error>((parts, bodies))
    }))?;
    let mut sums: HashMap<String, (i64, i64)> = HashMap::new();
    for s in parts.into_iter().flatten() {
        let e = sums.entry(s.consumer).or_default();
        e.0 = e.0.saturating_add(s.calls);
        e.1 = e.1.saturating_add(s.errors);
    }
    for p in rows_of(bodies, apis) {
        let t = level.start(p.t);
        if t >= from && t < to && !p.consumer.is_empty() {
            let e = sums.entry(p.consumer).or_default();
            e.0 = e.0.saturating_add(p.counts.calls);
            e.1 = e.1.saturating_add(p.counts.errors);
        }
    }
    Ok(sums.into_iter().map(|(consumer, (calls, errors))| ConsumerSum { consumer, calls, errors }).collect())
}

#[derive(QueryableByName)]
pub struct ConsumerWeek {
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = BigInt)]
    pub t: i64,
}

/// The weeks (starting at or after `from`) each consumer called an API in scope.
pub fn active_weeks(pool: &Pool, apis: Option<&[String]>, from: i64) -> anyhow::Result<Vec<ConsumerWeek>> {
    let mut sql =
        String::from("SELECT DISTINCT consumer, t FROM usage_weeks WHERE t >= ? AND consumer <> '' AND calls > 0");
    if let Some(apis) = apis {
        sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
    }
    let backend = pool.backend();
    let sql = placeholders(&sql, backend);
    let apis_bound: &[String] = apis.unwrap_or_default();
    let (stored, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(from);
        for api in apis_bound {
            q = q.bind::<Text, _>(api);
        }
        let stored: Vec<ConsumerWeek> = q.load(c)?;
        let bodies = load_pending!(c, apis, backend);
        Ok::<_, anyhow::Error>((stored, bodies))
    }))?;
    let mut seen: HashSet<(String, i64)> = stored.into_iter().map(|w| (w.consumer, w.t)).collect();
    for p in rows_of(bodies, apis) {
        let t = week_of(p.t);
        if t >= from && p.counts.calls > 0 && !p.consumer.is_empty() {
            seen.insert((p.consumer, t));
        }
    }
    Ok(seen.into_iter().map(|(consumer, t)| ConsumerWeek { consumer, t }).collect())
}

/// One observed (API, consumer) pair.
#[derive(QueryableByName, Debug, Clone)]
pub struct Pair {
    #[diesel(sql_type = Text)]
    pub api: String,
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = BigInt)]
    pub first_seen: i64,
    #[diesel(sql_type = BigInt)]
    pub last_seen: i64,
}

/// Every observed pair of the APIs in scope.
pub fn pairs(pool: &Pool, apis: Option<&[String]>) -> anyhow::Result<Vec<Pair>> {
    let mut sql = String::from("SELECT api, consumer, first_seen, last_seen FROM usage_pairs");
    if let Some(apis) = apis {
        sql.push_str(&format!(" WHERE api IN ({})", marks(apis.len())));
    }
    let backend = pool.backend();
    let sql = placeholders(&sql, backend);
    let apis_bound: &[String] = apis.unwrap_or_default();
    let (stored, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed();
        for api in apis_bound {
            q = q.bind::<Text, _>(api);
        }
        let stored: Vec<Pair> = q.load(c)?;
        let bodies = load_pending!(c, apis, backend);
        Ok::<_, anyhow::Error>((stored, bodies))
    }))?;
    let mut out: HashMap<(String, String), (i64, i64)> =
        stored.into_iter().map(|p| ((p.api, p.consumer), (p.first_seen, p.last_seen))).collect();
    for p in rows_of(bodies, apis) {
        if p.consumer.is_empty() {
            continue;
        }
        let e = out.entry((p.api, p.consumer)).or_insert((p.t, p.t));
        e.0 = e.0.min(p.t);
        e.1 = e.1.max(p.t);
    }
    Ok(out
        .into_iter()
        .map(|((api, consumer), (first_seen, last_seen))| Pair { api, consumer, first_seen, last_seen })
        .collect())
}

#[derive(QueryableByName)]
pub struct PairSum {
    #[diesel(sql_type = Text)]
    pub api: String,
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
}

/// Calls on the days at or after `from` of these (API, consumer) pairs.
pub fn pair_calls(pool: &Pool, pairs: &[(String, String)], from: i64) -> anyhow::Result<Vec<PairSum>> {
    let backend = pool.backend();
    let apis: Vec<String> = pairs.iter().map(|(a, _)| a.clone()).collect::<HashSet<_>>().into_iter().collect();
    let (stored, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        let mut stored: Vec<PairSum> = Vec::new();
        for chunk in pairs.chunks(400) {
            let tuples = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = placeholders(
                &format!(
                    "SELECT api, consumer, CAST(SUM(calls) AS BIGINT) AS calls FROM usage_days WHERE t >= ? \
                     AND (api, consumer) IN (VALUES {tuples}) GROUP BY api, consumer"
                ),
                backend,
            );
            // Raw SQL: a row-value IN over a VALUES list ((api, consumer) IN (VALUES ..)), which the DSL does not
            // write.
            let mut q = diesel::sql_query(sql).into_boxed().bind::<BigInt, _>(from);
            for (a, b) in chunk {
                q = q.bind::<Text, _>(a).bind::<Text, _>(b);
            }
            stored.extend(q.load::<PairSum>(c)?);
        }
        let bodies = load_pending!(c, Some(apis.as_slice()), backend);
        Ok::<_, anyhow::Error>((stored, bodies))
    }))?;
    let wanted: HashSet<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut out: HashMap<(String, String), i64> = stored.into_iter().map(|s| ((s.api, s.consumer), s.calls)).collect();
    for p in rows_of(bodies, Some(apis.as_slice())) {
        if Level::Day.start(p.t) >= from && wanted.contains(&(p.api.as_str(), p.consumer.as_str())) {
            *out.entry((p.api, p.consumer)).or_default() += p.counts.calls;
        }
    }
    Ok(out.into_iter().map(|((api, consumer), calls)| PairSum { api, consumer, calls }).collect())
}

#[derive(QueryableByName)]
pub struct ApiSum {
    #[diesel(sql_type = Text)]
    pub api: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
}

/// Calls and errors per API on the days at or after `from` (the per-API total rows).
pub fn api_sums(pool: &Pool, from: i64) -> anyhow::Result<Vec<ApiSum>> {
    let backend = pool.backend();
    let sql = placeholders(
        "SELECT api, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors FROM usage_days \
         WHERE t >= ? AND consumer = '' GROUP BY api",
        backend,
    );
    let (stored, bodies) = with_conn!(pool, |c| c.snapshot(|c| {
        let stored: Vec<ApiSum> = diesel::sql_query(sql.as_str()).bind::<BigInt, _>(from).load(c)?;
        let bodies = load_pending!(c, None, backend);
        Ok::<_, anyhow::Error>((stored, bodies))
    }))?;
    let mut out: HashMap<String, (i64, i64)> = stored.into_iter().map(|s| (s.api, (s.calls, s.errors))).collect();
    for p in rows_of(bodies, None) {
        if Level::Day.start(p.t) >= from {
            let e = out.entry(p.api).or_default();
            e.0 += p.counts.calls;
            e.1 += p.counts.errors;
        }
    }
    Ok(out.into_iter().map(|(api, (calls, errors))| ApiSum { api, calls, errors }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::model::DAY_MS;

    #[test]
    fn a_day_range_reads_whole_weeks_from_the_week_level() {
        // 2026-12-07 is a Monday.
        let monday = 1_796_601_600_000;
        assert_eq!(week_of(monday), monday);
        let from = monday - 3 * DAY_MS;
        let to = monday + 2 * WEEK_MS + 2 * DAY_MS;
        assert_eq!(
            spans(Level::Day, from, to),
            vec![
                (Level::Day, from, monday),
                (Level::Week, monday, monday + 2 * WEEK_MS),
                (Level::Day, monday + 2 * WEEK_MS, to)
            ]
        );
        assert_eq!(spans(Level::Day, monday, monday + 5 * DAY_MS), vec![(Level::Day, monday, monday + 5 * DAY_MS)]);
        assert_eq!(spans(Level::Day, monday, monday + WEEK_MS), vec![(Level::Week, monday, monday + WEEK_MS)]);
        assert_eq!(spans(Level::Hour, from, to), vec![(Level::Hour, from, to)]);
    }
}
