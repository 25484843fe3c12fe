//! All SQL of standards as code: `scorecard_results` (how each entity stands against each
//! scorecard), `scorecard_versions` (which version of a scorecard its rows were judged by),
//! `standards_state` (a counter moved by every write of results), and the history tables.

use diesel::prelude::*;

use crate::db::schema::{scorecard_results as r, scorecard_versions as v, standards_state as st};
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
    /// (scorecard, entity) pairs judged again: each replaced by its row in `rows`, or deleted.
    pub pairs: Vec<(String, String)>,
    pub rows: Vec<ResultRow>,
    /// Scorecards gone from the catalog.
    pub gone: Vec<String>,
    /// (scorecard, body hash) of the scorecards judged whole: their rows are replaced by
    /// `rows`' rows of them.
    pub versions: Vec<(String, String)>,
    pub at: i64,
}

const CHUNK: usize = 500;

/// Commits one evaluation.
pub fn write(pool: &Pool, w: &Writes) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            for s in w.versions.iter().map(|(s, _)| s).chain(&w.gone) {
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
            diesel::update(st::table.filter(st::id.eq(1))).set(st::generation.eq(st::generation + 1)).execute(c)?;
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

/// The counter every write of results moves.
pub fn generation(pool: &Pool) -> anyhow::Result<i64> {
    with_conn!(pool, |c| Ok(st::table
        .filter(st::id.eq(1))
        .select(st::generation)
        .first::<i64>(c)
        .optional()?
        .unwrap_or(0)))
}

/// The rows of these entities, every scorecard's.
pub fn results_for(pool: &Pool, entities: &[String]) -> anyhow::Result<Vec<ResultRow>> {
    if entities.len() > 2000 {
        // Past a few thousand keys one scan beats many lookups.
        let wanted: std::collections::HashSet<&String> = entities.iter().collect();
        return Ok(all_results(pool)?.into_iter().filter(|row| wanted.contains(&row.entity_ref)).collect());
    }
    let mut out = Vec::new();
    for chunk in entities.chunks(CHUNK) {
        let found: Vec<ResultRow> = with_conn!(pool, |c| r::table
            .filter(r::entity_ref.eq_any(chunk))
            .order((r::entity_ref.asc(), r::scorecard_ref.asc()))
            .load::<ResultRow>(c)?);
        out.extend(found);
    }
    Ok(out)
}

/// Every row of every scorecard.
pub fn all_results(pool: &Pool) -> anyhow::Result<Vec<ResultRow>> {
    with_conn!(pool, |c| Ok(r::table.order((r::scorecard_ref.asc(), r::entity_ref.asc())).load::<ResultRow>(c)?))
}

/// One day of a scorecard.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = crate::db::schema::scorecard_days)]
pub struct DayRow {
    pub scorecard_ref: String,
    pub day: String,
    pub entities: i32,
    pub unranked: i32,
    pub levels: String,
    pub checks: String,
}

/// One day of an entity against a scorecard.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = crate::db::schema::entity_scores)]
pub struct ScoreRow {
    pub scorecard_ref: String,
    pub day: String,
    pub entity_ref: String,
    pub level: Option<String>,
    pub score: f64,
}

/// One day of a campaign.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = crate::db::schema::campaign_days)]
pub struct CampaignDay {
    pub campaign_ref: String,
    pub day: String,
    pub in_scope: i32,
    pub done: i32,
}

/// Records a day (replacing what that day held) and drops entity scores older than
/// `keep_scores_from` (a day, `YYYY-MM-DD`).
pub fn record_day(
    pool: &Pool,
    day: &str,
    days: &[DayRow],
    scores: &[ScoreRow],
    campaigns: &[CampaignDay],
    keep_scores_from: &str,
) -> anyhow::Result<()> {
    use crate::db::schema::{campaign_days as cd, entity_scores as es, scorecard_days as sd};
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::delete(sd::table.filter(sd::day.eq(day))).execute(c)?;
            diesel::delete(es::table.filter(es::day.eq(day))).execute(c)?;
            diesel::delete(cd::table.filter(cd::day.eq(day))).execute(c)?;
            diesel::delete(es::table.filter(es::day.lt(keep_scores_from))).execute(c)?;
            for chunk in days.chunks(CHUNK) {
                diesel::insert_into(sd::table).values(chunk).execute(c)?;
            }
            for chunk in scores.chunks(CHUNK) {
                diesel::insert_into(es::table).values(chunk).execute(c)?;
            }
            for chunk in campaigns.chunks(CHUNK) {
                diesel::insert_into(cd::table).values(chunk).execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Whether a day is recorded already.
pub fn day_recorded(pool: &Pool, day: &str) -> anyhow::Result<bool> {
    use crate::db::schema::scorecard_days as sd;
    with_conn!(pool, |c| Ok(sd::table.filter(sd::day.eq(day)).select(sd::day).first::<String>(c).optional()?.is_some()))
}

/// A scorecard's days in `[from, to]`, oldest first.
pub fn days_of(pool: &Pool, scorecard: &str, from: &str, to: &str) -> anyhow::Result<Vec<DayRow>> {
    use crate::db::schema::scorecard_days as sd;
    with_conn!(pool, |c| Ok(sd::table
        .filter(sd::scorecard_ref.eq(scorecard))
        .filter(sd::day.ge(from).and(sd::day.le(to)))
        .order(sd::day.asc())
        .load::<DayRow>(c)?))
}

/// A campaign's days, oldest first.
pub fn campaign_days_of(pool: &Pool, campaign: &str) -> anyhow::Result<Vec<CampaignDay>> {
    use crate::db::schema::campaign_days as cd;
    with_conn!(pool, |c| Ok(cd::table
        .filter(cd::campaign_ref.eq(campaign))
        .order(cd::day.asc())
        .load::<CampaignDay>(c)?))
}
