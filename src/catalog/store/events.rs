//! The change feed (the `events` table, ids committed in order) and the catalog generation.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::catalog::seam::CatalogChange;
use crate::db::schema::{catalog_version, events, feed_cursors};
use crate::db::{Pool, WriteTransaction, now_ms};
use crate::with_conn;

/// One change of the feed.
#[derive(Debug, Clone, Queryable, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub entity_ref: String,
    pub at: i64,
}

/// A follower's cursor: the last event id it applied (0 before its first).
pub fn feed_cursor(pool: &Pool, name: &str) -> anyhow::Result<i64> {
    with_conn!(pool, |c| Ok(feed_cursors::table
        .find(name)
        .select(feed_cursors::event_id)
        .first::<i64>(c)
        .optional()?
        .unwrap_or(0)))
}

/// Moves a follower's cursor forward to `to` (never back: instances may race).
pub fn advance_feed_cursor(pool: &Pool, name: &str, to: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let moved = diesel::update(
                feed_cursors::table.filter(feed_cursors::name.eq(name)).filter(feed_cursors::event_id.lt(to)),
            )
            .set(feed_cursors::event_id.eq(to))
            .execute(c)?;
            if moved == 0 {
                diesel::insert_into(feed_cursors::table)
                    .values((feed_cursors::name.eq(name), feed_cursors::event_id.eq(to)))
                    .on_conflict_do_nothing()
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Up to `limit` events after id `after`, oldest first.
pub fn events_after(pool: &Pool, after: i64, limit: i64) -> anyhow::Result<Vec<EventRow>> {
    with_conn!(pool, |c| {
        Ok(events::table
            .filter(events::id.gt(after))
            .order(events::id.asc())
            .limit(limit)
            .select((events::id, events::kind, events::entity_ref, events::at))
            .load(c)?)
    })
}

/// The oldest event id still kept, if any.
pub fn first_event_id(pool: &Pool) -> anyhow::Result<Option<i64>> {
    with_conn!(pool, |c| Ok(events::table.select(diesel::dsl::min(events::id)).first::<Option<i64>>(c)?))
}

/// Deletes events older than `before` (ms), keeping the newest one so ids never restart.
pub fn prune_events(pool: &Pool, before: i64) -> anyhow::Result<usize> {
    with_conn!(pool, |c| {
        let newest: Option<i64> = events::table.select(diesel::dsl::max(events::id)).first(c)?;
        let Some(newest) = newest else { return Ok(0) };
        Ok(diesel::delete(events::table.filter(events::at.lt(before)).filter(events::id.lt(newest))).execute(c)?)
    })
}

/// The catalog generation: changes whenever what the catalog itself serves changes.
pub fn generation(pool: &Pool) -> anyhow::Result<i64> {
    with_conn!(pool, |c| Ok(catalog_version::table.find(1).select(catalog_version::generation).first(c)?))
}

/// The newest event id, if any: how far the change feed reaches.
pub fn last_event_id(pool: &Pool) -> anyhow::Result<Option<i64>> {
    with_conn!(pool, |c| Ok(events::table.select(diesel::dsl::max(events::id)).first::<Option<i64>>(c)?))
}

/// Appends events other domains announce to the feed, `(type, ref key)` each, in commit order
/// with the catalog's own. Their types are outside `entity.*` (the domain names them), so
/// [`changes_after`] leaves them out of the catalog's changes.
pub fn append_events(pool: &Pool, changes: &[(&str, String)]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            record_changes!(c, changes, now_ms());
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// What the events after `after` (up to `limit` of them) changed, as one [`CatalogChange`], and
/// the id of the last event read. A ref is reported once, as its last event says (an entity
/// added then removed is removed). Relation edges are not recorded in the feed, so
/// `relations_changed` is set whenever anything changed.
pub fn changes_after(pool: &Pool, after: i64, limit: i64) -> anyhow::Result<(CatalogChange, Option<i64>)> {
    let rows = events_after(pool, after, limit)?;
    let last = rows.last().map(|r| r.id);
    let mut latest: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in rows.into_iter().filter(|r| r.kind.starts_with("entity.")) {
        if latest.insert(r.entity_ref.clone(), r.kind).is_none() {
            order.push(r.entity_ref);
        }
    }
    let mut change = CatalogChange::default();
    for key in order {
        match latest.get(&key).map(String::as_str) {
            Some("entity.added") => change.added.push(key),
            Some("entity.removed") => change.removed.push(key),
            _ => change.updated.push(key),
        }
    }
    change.relations_changed = !change.is_empty();
    Ok((change, last))
}
