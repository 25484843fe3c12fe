//! All SQL of the delivery office, with the diesel DSL over `db::schema`: status updates of
//! roadmap items (`plan_updates`) and the value reports stored per period (`value_reports`).

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::{plan_updates, value_reports};
use crate::db::{Pool, WriteTransaction};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = plan_updates)]
pub struct UpdateRow {
    pub id: i64,
    pub entity_ref: String,
    pub item_id: String,
    pub health: String,
    pub note: String,
    pub progress: Option<i32>,
    pub author: String,
    pub created_at: i64,
}

/// A status update to record.
pub struct NewUpdate<'a> {
    pub entity_ref: &'a str,
    pub item_id: &'a str,
    pub health: &'a str,
    pub note: &'a str,
    pub progress: Option<i32>,
    pub author: &'a str,
    pub at: i64,
}

/// Records an update and answers it as stored.
pub fn insert_update(pool: &Pool, u: &NewUpdate) -> anyhow::Result<UpdateRow> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::insert_into(plan_updates::table)
                .values((
                    plan_updates::entity_ref.eq(u.entity_ref),
                    plan_updates::item_id.eq(u.item_id),
                    plan_updates::health.eq(u.health),
                    plan_updates::note.eq(u.note),
                    plan_updates::progress.eq(u.progress),
                    plan_updates::author.eq(u.author),
                    plan_updates::created_at.eq(u.at),
                ))
                .execute(c)?;
            Ok::<_, anyhow::Error>(
                plan_updates::table
                    .filter(plan_updates::entity_ref.eq(u.entity_ref))
                    .filter(plan_updates::item_id.eq(u.item_id))
                    .order(plan_updates::id.desc())
                    .select(UpdateRow::as_select())
                    .first(c)?,
            )
        })
    })
}

/// An item's updates, newest first.
pub fn updates_of(pool: &Pool, entity_ref: &str, item_id: &str) -> anyhow::Result<Vec<UpdateRow>> {
    with_conn!(pool, |c| {
        Ok(plan_updates::table
            .filter(plan_updates::entity_ref.eq(entity_ref))
            .filter(plan_updates::item_id.eq(item_id))
            .order((plan_updates::created_at.desc(), plan_updates::id.desc()))
            .select(UpdateRow::as_select())
            .load(c)?)
    })
}

/// The last update of every item that has one, by (entity ref key, item id).
pub fn last_updates(pool: &Pool) -> anyhow::Result<HashMap<(String, String), UpdateRow>> {
    let rows: Vec<UpdateRow> = with_conn!(pool, |c| {
        plan_updates::table
            .order((plan_updates::created_at.asc(), plan_updates::id.asc()))
            .select(UpdateRow::as_select())
            .load(c)?
    });
    Ok(rows.into_iter().map(|r| ((r.entity_ref.clone(), r.item_id.clone()), r)).collect())
}

/// What the findings depend on among the updates: how many there are and the latest time.
pub fn updates_version(pool: &Pool) -> anyhow::Result<(i64, Option<i64>)> {
    use diesel::dsl::{count_star, max};
    with_conn!(pool, |c| {
        Ok(plan_updates::table.select((count_star(), max(plan_updates::created_at))).first::<(i64, Option<i64>)>(c)?)
    })
}

/// Stores a period's report unless one is stored already; answers whether this call stored it.
pub fn store_report(pool: &Pool, period: &str, generated_at: i64, body: &str) -> anyhow::Result<bool> {
    let n = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            Ok::<_, anyhow::Error>(
                diesel::insert_into(value_reports::table)
                    .values((
                        value_reports::period.eq(period),
                        value_reports::generated_at.eq(generated_at),
                        value_reports::body.eq(body),
                    ))
                    .on_conflict(value_reports::period)
                    .do_nothing()
                    .execute(c)?,
            )
        })
    })?;
    Ok(n > 0)
}

/// A stored report's body.
pub fn report(pool: &Pool, period: &str) -> anyhow::Result<Option<String>> {
    with_conn!(pool, |c| {
        Ok(value_reports::table
            .filter(value_reports::period.eq(period))
            .select(value_reports::body)
            .first::<String>(c)
            .optional()?)
    })
}

/// Every stored report, oldest period first: (period, body).
pub fn reports(pool: &Pool) -> anyhow::Result<Vec<(String, String)>> {
    with_conn!(pool, |c| {
        Ok(value_reports::table
            .order(value_reports::period.asc())
            .select((value_reports::period, value_reports::body))
            .load::<(String, String)>(c)?)
    })
}
