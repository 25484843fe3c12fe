//! Registered locations, the conflicts between them, and the ETag cache of URL reads.

use anyhow::Context;
use diesel::prelude::*;
use serde::Serialize;

use super::LocationRow;
use crate::catalog::seam::CatalogChange;
use crate::db::schema::{
    catalog_version, conflicts, entities, events, locations, read_cache, relations, search as search_t,
};
use crate::db::{Pool, WriteTransaction, now_ms};
use crate::with_conn;

/// Finds the location with this type and target, or registers it. Returns it and whether it
/// was created now.
pub fn find_or_create_location(
    pool: &Pool,
    kind: &str,
    target: &str,
    origin: &str,
) -> anyhow::Result<(LocationRow, bool)> {
    with_conn!(pool, |c| {
        let find = |c: &mut _| {
            locations::table
                .filter(locations::kind.eq(kind))
                .filter(locations::target.eq(target))
                .select(LocationRow::as_select())
                .first::<LocationRow>(c)
                .optional()
        };
        if let Some(row) = find(c)? {
            return Ok((row, false));
        }
        let inserted = diesel::insert_into(locations::table)
            .values((
                locations::id.eq(uuid::Uuid::new_v4().to_string()),
                locations::kind.eq(kind),
                locations::target.eq(target),
                locations::origin.eq(origin),
                locations::created_at.eq(now_ms()),
                locations::next_refresh_at.eq(0i64),
            ))
            .execute(c);
        // Another instance may have registered the same target meanwhile: take its row. Any
        // other failure (a full disk, a lost connection) is the caller's error, as it is.
        let created = match inserted {
            Ok(_) => true,
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => false,
            Err(e) => return Err(anyhow::Error::new(e).context("registering the location")),
        };
        let row = find(c)?.context("location vanished right after it was registered")?;
        Ok((row, created))
    })
}

pub fn get_location(pool: &Pool, id: &str) -> anyhow::Result<Option<LocationRow>> {
    with_conn!(pool, |c| Ok(locations::table.find(id).select(LocationRow::as_select()).first(c).optional()?))
}

pub fn list_locations(pool: &Pool) -> anyhow::Result<Vec<LocationRow>> {
    with_conn!(pool, |c| Ok(locations::table
        .select(LocationRow::as_select())
        .order(locations::created_at.asc())
        .load(c)?))
}

/// Deletes a location; its entities, their relations and search rows go with it. Returns what
/// that changed, or `None` when there was no such location.
pub fn delete_location(pool: &Pool, id: &str) -> anyhow::Result<Option<CatalogChange>> {
    let postgres = pool.backend() == crate::db::Backend::Postgres;
    let deleted = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            lock_catalog!(c, postgres);
            let rows: Vec<(String, String)> = entities::table
                .filter(entities::location_id.eq(id))
                .select((entities::id, entities::entity_ref))
                .load(c)?;
            let (ids, refs): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
            let relation_rows = delete_entities!(c, &ids);
            let n = diesel::delete(locations::table.find(id)).execute(c)?;
            if !refs.is_empty() {
                let changes: Vec<(&str, String)> = refs.iter().map(|key| ("entity.removed", key.clone())).collect();
                record_changes!(c, changes, now_ms());
            }
            let change = CatalogChange { removed: refs, relations_changed: relation_rows > 0, ..Default::default() };
            Ok::<_, anyhow::Error>((n > 0).then_some(change))
        })
    })?;
    pool.note_change();
    Ok(deleted)
}

/// Records the outcome of processing a location: its current errors (or none), and whether the
/// target itself was read (a success, even when some documents in it were invalid).
pub fn record_location_result(pool: &Pool, id: &str, errors: Option<&str>, read_ok: bool) -> anyhow::Result<()> {
    let now = now_ms();
    with_conn!(pool, |c| {
        diesel::update(locations::table.find(id))
            .set((locations::last_error.eq(errors), locations::last_error_at.eq(errors.map(|_| now))))
            .execute(c)?;
        if read_ok {
            diesel::update(locations::table.find(id)).set(locations::last_success_at.eq(Some(now))).execute(c)?;
        }
        Ok(())
    })
}

/// Finds a location by type and target.
pub fn find_location(pool: &Pool, kind: &str, target: &str) -> anyhow::Result<Option<LocationRow>> {
    with_conn!(pool, |c| {
        Ok(locations::table
            .filter(locations::kind.eq(kind))
            .filter(locations::target.eq(target))
            .select(LocationRow::as_select())
            .first(c)
            .optional()?)
    })
}

/// Changes a location's type and target (its entities are re-read at the next processing).
pub fn update_location(pool: &Pool, id: &str, kind: &str, target: &str, origin: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        let n = diesel::update(locations::table.find(id))
            .set((
                locations::kind.eq(kind),
                locations::target.eq(target),
                locations::origin.eq(origin),
                locations::next_refresh_at.eq(0i64),
            ))
            .execute(c)?;
        Ok(n == 1)
    })
}

/// The location that owns an entity.
pub fn location_of_entity(pool: &Pool, key: &str) -> anyhow::Result<Option<LocationRow>> {
    let id: Option<Option<String>> = with_conn!(pool, |c| {
        entities::table.filter(entities::entity_ref.eq(key)).select(entities::location_id).first(c).optional()?
    });
    match id.flatten() {
        Some(id) => get_location(pool, &id),
        None => Ok(None),
    }
}

/// A ref that a location emitted while another location owned it.
#[derive(Debug, Clone, Queryable, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictRow {
    pub entity_ref: String,
    pub location_id: String,
    pub owner_location_id: Option<String>,
    pub source: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

pub fn list_conflicts(pool: &Pool) -> anyhow::Result<Vec<ConflictRow>> {
    with_conn!(pool, |c| {
        Ok(conflicts::table
            .select((
                conflicts::entity_ref,
                conflicts::location_id,
                conflicts::owner_location_id,
                conflicts::source,
                conflicts::first_seen_at,
                conflicts::last_seen_at,
            ))
            .order((conflicts::entity_ref.asc(), conflicts::first_seen_at.asc()))
            .load(c)?)
    })
}

/// The cached ETag of a URL read for a location, with the nested targets it named.
pub fn cached_read(pool: &Pool, location_id: &str, url: &str) -> anyhow::Result<Option<(String, Vec<String>)>> {
    let row: Option<(String, String)> = with_conn!(pool, |c| {
        read_cache::table.find((location_id, url)).select((read_cache::etag, read_cache::nested)).first(c).optional()?
    });
    Ok(row.map(|(etag, nested)| (etag, serde_json::from_str(&nested).unwrap_or_default())))
}

/// Remembers (or, with `None`, forgets) the ETag of a URL read.
pub fn store_read(pool: &Pool, location_id: &str, url: &str, entry: Option<(&str, &[String])>) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::delete(read_cache::table.find((location_id, url))).execute(c)?;
            if let Some((etag, nested)) = entry {
                diesel::insert_into(read_cache::table)
                    .values((
                        read_cache::location_id.eq(location_id),
                        read_cache::url.eq(url),
                        read_cache::etag.eq(etag),
                        read_cache::nested.eq(serde_json::to_string(nested)?),
                        read_cache::updated_at.eq(now_ms()),
                    ))
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// The ref keys of the entities a location owns.
pub fn entity_keys_of_location(pool: &Pool, location_id: &str) -> anyhow::Result<Vec<String>> {
    with_conn!(pool, |c| {
        Ok(entities::table.filter(entities::location_id.eq(location_id)).select(entities::entity_ref).load(c)?)
    })
}

/// The locations that own entities read from any of these sources (`url:https://...`): the
/// locations whose trees a push to those files touched.
pub fn locations_reading(pool: &Pool, sources: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for chunk in sources.chunks(500) {
        let ids: Vec<Option<String>> = with_conn!(pool, |c| {
            entities::table.filter(entities::source.eq_any(chunk)).select(entities::location_id).distinct().load(c)?
        });
        out.extend(ids.into_iter().flatten());
    }
    out.sort();
    out.dedup();
    Ok(out)
}
