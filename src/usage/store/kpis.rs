//! Product KPI values (`usage_kpis`): one value per product, KPI and time.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use crate::db::{Pool, WriteTransaction, placeholders};
use crate::with_conn;

#[derive(QueryableByName, Debug, Clone)]
pub struct KpiValue {
    #[diesel(sql_type = Text)]
    pub kpi: String,
    #[diesel(sql_type = BigInt)]
    pub t: i64,
    #[diesel(sql_type = Double)]
    pub value: f64,
}

/// Records values (`(kpi, time, value)`) of a product's KPIs; a value at the same time replaces
/// the one recorded before.
pub fn record(pool: &Pool, product: &str, values: &[(String, i64, f64)], now: i64) -> anyhow::Result<()> {
    let sql = placeholders(
        "INSERT INTO usage_kpis (product, kpi, t, value, recorded_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (product, kpi, t) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            for (kpi, t, value) in values {
                diesel::sql_query(sql.as_str())
                    .bind::<Text, _>(product)
                    .bind::<Text, _>(kpi)
                    .bind::<BigInt, _>(*t)
                    .bind::<Double, _>(*value)
                    .bind::<BigInt, _>(now)
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// A product's values, oldest first.
pub fn values_of(pool: &Pool, product: &str) -> anyhow::Result<Vec<KpiValue>> {
    let sql = placeholders("SELECT kpi, t, value FROM usage_kpis WHERE product = ? ORDER BY kpi, t", pool.backend());
    with_conn!(pool, |c| Ok(diesel::sql_query(sql.as_str()).bind::<Text, _>(product).load(c)?))
}

/// The latest time of any value, per product.
pub fn latest_per_product(pool: &Pool) -> anyhow::Result<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = Text)]
        product: String,
        #[diesel(sql_type = BigInt)]
        t: i64,
    }
    let sql = "SELECT product, MAX(t) AS t FROM usage_kpis GROUP BY product";
    let rows: Vec<P> = with_conn!(pool, |c| diesel::sql_query(sql).load(c)?);
    Ok(rows.into_iter().map(|p| (p.product, p.t)).collect())
}

/// Products with a value for a time at or after `since`.
pub fn reported_since(pool: &Pool, since: i64) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = Text)]
        product: String,
    }
    let sql = placeholders("SELECT DISTINCT product FROM usage_kpis WHERE t >= ?", pool.backend());
    let rows: Vec<P> = with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<BigInt, _>(since).load(c)?);
    Ok(rows.into_iter().map(|p| p.product).collect())
}
