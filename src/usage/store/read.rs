//! What the views read: rollup rows of one level, sums per consumer, pairs.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::StoredRow;
use crate::db::{Pool, placeholders};
use crate::usage::model::Level;
use crate::with_conn;

/// Which rows of a level: APIs (all when `None`), consumers (`None`: the per-API totals, the
/// rows with consumer `''`), and `[from, to)`.
pub struct Scope<'a> {
    pub apis: Option<&'a [String]>,
    pub consumers: Option<&'a [String]>,
    pub from: i64,
    pub to: i64,
}

fn where_sql(s: &Scope, binds: &mut Vec<String>) -> String {
    let mut sql = String::from(" WHERE t >= ? AND t < ?");
    if let Some(apis) = s.apis {
        sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
        binds.extend(apis.iter().cloned());
    }
    match s.consumers {
        Some(list) => {
            sql.push_str(&format!(" AND consumer IN ({})", marks(list.len())));
            binds.extend(list.iter().cloned());
        }
        None => sql.push_str(" AND consumer = ''"),
    }
    sql
}

fn marks(n: usize) -> String {
    if n == 0 { "NULL".to_owned() } else { vec!["?"; n].join(", ") }
}

/// The rows of a level in scope.
pub fn rows(pool: &Pool, level: Level, s: &Scope) -> anyhow::Result<Vec<StoredRow>> {
    let mut binds = Vec::new();
    let sql = format!(
        "SELECT api, consumer, subscription, t, calls, errors, hist FROM {}{}",
        level.table(),
        where_sql(s, &mut binds)
    );
    let sql = placeholders(&sql, pool.backend());
    with_conn!(pool, |c| {
        // Raw SQL: the level's table is picked at run time (a diesel table is a type), and the filters follow the
        // scope.
        let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(s.from).bind::<BigInt, _>(s.to);
        for b in &binds {
            q = q.bind::<Text, _>(b);
        }
        Ok(q.load(c)?)
    })
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

/// Calls and errors per consumer over the APIs in scope (every consumer).
pub fn sums_by_consumer(
    pool: &Pool,
    level: Level,
    apis: Option<&[String]>,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<ConsumerSum>> {
    let mut sql = format!(
        "SELECT consumer, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors FROM {} \
         WHERE t >= ? AND t < ? AND consumer <> ''",
        level.table()
    );
    if let Some(apis) = apis {
        sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
    }
    sql.push_str(" GROUP BY consumer");
    let sql = placeholders(&sql, pool.backend());
    with_conn!(pool, |c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(from).bind::<BigInt, _>(to);
        for a in apis.unwrap_or_default() {
            q = q.bind::<Text, _>(a);
        }
        Ok(q.load(c)?)
    })
}

#[derive(QueryableByName)]
pub struct ConsumerDay {
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = BigInt)]
    pub t: i64,
}

/// The days (at or after `from`) each consumer called an API in scope.
pub fn active_days(pool: &Pool, apis: Option<&[String]>, from: i64) -> anyhow::Result<Vec<ConsumerDay>> {
    let mut sql =
        String::from("SELECT DISTINCT consumer, t FROM usage_days WHERE t >= ? AND consumer <> '' AND calls > 0");
    if let Some(apis) = apis {
        sql.push_str(&format!(" AND api IN ({})", marks(apis.len())));
    }
    let sql = placeholders(&sql, pool.backend());
    with_conn!(pool, |c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(from);
        for a in apis.unwrap_or_default() {
            q = q.bind::<Text, _>(a);
        }
        Ok(q.load(c)?)
    })
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
    let sql = placeholders(&sql, pool.backend());
    with_conn!(pool, |c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed();
        for a in apis.unwrap_or_default() {
            q = q.bind::<Text, _>(a);
        }
        Ok(q.load(c)?)
    })
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

/// Calls since `from` of these (API, consumer) pairs.
pub fn pair_calls(pool: &Pool, pairs: &[(String, String)], from: i64) -> anyhow::Result<Vec<PairSum>> {
    let mut out = Vec::new();
    for chunk in pairs.chunks(400) {
        let tuples = vec!["(?, ?)"; chunk.len()].join(", ");
        let sql = placeholders(
            &format!(
                "SELECT api, consumer, CAST(SUM(calls) AS BIGINT) AS calls FROM usage_days WHERE t >= ? \
                 AND (api, consumer) IN (VALUES {tuples}) GROUP BY api, consumer"
            ),
            pool.backend(),
        );
        let rows: Vec<PairSum> = with_conn!(pool, |c| {
            // Raw SQL: a row-value IN over a VALUES list ((api, consumer) IN (VALUES ..)), which the DSL does not
            // write.
            let mut q = diesel::sql_query(sql.as_str()).into_boxed().bind::<BigInt, _>(from);
            for (a, b) in chunk {
                q = q.bind::<Text, _>(a).bind::<Text, _>(b);
            }
            q.load(c)?
        });
        out.extend(rows);
    }
    Ok(out)
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

/// Calls and errors per API on the days at or after `from`.
pub fn api_sums(pool: &Pool, from: i64) -> anyhow::Result<Vec<ApiSum>> {
    let sql = placeholders(
        "SELECT api, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors FROM usage_days \
         WHERE t >= ? GROUP BY api",
        pool.backend(),
    );
    with_conn!(pool, |c| Ok(diesel::sql_query(sql.as_str()).bind::<BigInt, _>(from).load(c)?))
}
