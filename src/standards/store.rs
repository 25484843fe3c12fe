//! All SQL of standards as code: `scorecard_results` (how each entity stands against each
//! scorecard) and `scorecard_versions` (which version of a scorecard its rows were judged by).

use diesel::prelude::*;

use crate::db::schema::{scorecard_results as r, scorecard_versions as v};
use crate::db::{Pool, WriteTransaction};
use crate::with_conn;

/// One stored judgement.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = r)]
pub struct ResultRow {
    pub scorecard_ref: String,
    pub entity_ref: String,
    pub owner_ref: Option<String>,
    pub level: Option<String>,
    pub score: f64,
    pub checks: String,
    pub evaluated_at: i64,
}

/// What one evaluation writes.
#[derive(Debug, Default)]
pub struct Writes {
    /// Scorecards judged whole: their rows are replaced by `rows`' rows of them.
    pub whole: Vec<String>,
    /// (scorecard, entity) pairs judged again: each replaced by its row in `rows`, or deleted.
    pub pairs: Vec<(String, String)>,
    pub rows: Vec<ResultRow>,
    /// Scorecards gone from the catalog.
    pub gone: Vec<String>,
    /// (scorecard, body hash) of the scorecards judged whole.
    pub versions: Vec<(String, String)>,
    pub at: i64,
}

const CHUNK: usize = 500;

/// Commits one evaluation.
pub fn write(pool: &Pool, w: &Writes) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            for s in w.whole.iter().chain(&w.gone) {
                diesel::delete(r::table.filter(r::scorecard_ref.eq(s))).execute(c)?;
            }
            for s in &w.gone {
                diesel::delete(v::table.filter(v::scorecard_ref.eq(s))).execute(c)?;
            }
            for (s, e) in &w.pairs {
                diesel::delete(r::table.filter(r::scorecard_ref.eq(s)).filter(r::entity_ref.eq(e))).execute(c)?;
            }
            for chunk in w.rows.chunks(CHUNK) {
                diesel::insert_into(r::table).values(chunk).execute(c)?;
            }
            for (s, hash) in &w.versions {
                diesel::delete(v::table.filter(v::scorecard_ref.eq(s))).execute(c)?;
                diesel::insert_into(v::table)
                    .values((v::scorecard_ref.eq(s), v::body_hash.eq(hash), v::evaluated_at.eq(w.at)))
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// The body hash each scorecard was last judged whole by.
pub fn versions(pool: &Pool) -> anyhow::Result<Vec<(String, String)>> {
    with_conn!(pool, |c| Ok(v::table.select((v::scorecard_ref, v::body_hash)).load(c)?))
}

/// Every row of a scorecard, by entity.
pub fn results_of(pool: &Pool, scorecard: &str) -> anyhow::Result<Vec<ResultRow>> {
    with_conn!(pool, |c| {
        Ok(r::table.filter(r::scorecard_ref.eq(scorecard)).order(r::entity_ref.asc()).load::<ResultRow>(c)?)
    })
}

/// Every row of every scorecard.
pub fn all_results(pool: &Pool) -> anyhow::Result<Vec<ResultRow>> {
    with_conn!(pool, |c| Ok(r::table.order((r::scorecard_ref.asc(), r::entity_ref.asc())).load::<ResultRow>(c)?))
}
