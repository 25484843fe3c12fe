//! All SQL of the catalog: locations, entities with their relations and search rows, conflicts.
//!
//! Entity JSON is stored whole (with `metadata.uid` and `metadata.etag`), without relations:
//! relations are read from the relations table when an entity is served, so an entity always
//! shows the relations other entities emit towards it without being rewritten.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::EntityRef;
use super::relations::Relation;
use super::search;
use crate::db::schema::{
    catalog_version, conflicts, entities, events, locations, portal_state, read_cache, relations, search as search_t,
};
use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

/// Deletes entities and everything derived from them (works on either backend's connection).
macro_rules! delete_entities {
    ($c:expr, $ids:expr) => {{
        for chunk in $ids.chunks(500) {
            diesel::delete(relations::table.filter(relations::entity_id.eq_any(chunk))).execute($c)?;
            diesel::delete(search_t::table.filter(search_t::entity_id.eq_any(chunk))).execute($c)?;
            diesel::delete(entities::table.filter(entities::id.eq_any(chunk))).execute($c)?;
        }
    }};
}

/// Records changes in the feed: bumps the catalog generation first (on PostgreSQL that locks its
/// row until commit, so event ids commit in order), then appends one event per `(type, ref)`.
macro_rules! record_changes {
    ($c:expr, $changes:expr, $now:expr) => {{
        diesel::update(catalog_version::table.find(1))
            .set(catalog_version::generation.eq(catalog_version::generation + 1i64))
            .execute($c)?;
        for chunk in $changes.chunks(500) {
            let values: Vec<_> = chunk
                .iter()
                .map(|(kind, key): &(&str, String)| {
                    (events::kind.eq(*kind), events::entity_ref.eq(key.as_str()), events::at.eq($now))
                })
                .collect();
            diesel::insert_into(events::table).values(values).execute($c)?;
        }
    }};
}

/// Marks an entity orphaned: `backstage.io/orphan: "true"`, as Backstage does.
macro_rules! mark_orphan {
    ($c:expr, $id:expr) => {{
        let body: String = entities::table.find($id).select(entities::body).first($c)?;
        let mut value: Value = serde_json::from_str(&body)?;
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
            if let Some(a) = annotations.as_object_mut() {
                a.insert("backstage.io/orphan".into(), Value::String("true".into()));
            }
        }
        diesel::update(entities::table.find($id))
            .set((entities::body.eq(serde_json::to_string(&value)?), entities::hash.eq("orphan")))
            .execute($c)?;
    }};
}

/// A registered location as stored.
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct LocationRow {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub origin: String,
    pub created_at: i64,
    pub next_refresh_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// An entity produced by processing, ready to publish.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub entity_ref: EntityRef,
    /// Where the entity was read from: `file:/abs/path` or `url:https://...`.
    pub source: String,
    /// The 1-based line the entity's document starts on in its source, when known.
    pub line: Option<i64>,
    pub value: Value,
    pub relations: Vec<Relation>,
    /// The ref of the entity that emitted this one (the Location that named its file).
    pub parent: Option<String>,
}

/// What to do with an entity its location no longer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrphanStrategy {
    #[default]
    Delete,
    Keep,
}

/// What one publish changed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PublishOutcome {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub orphaned: usize,
    pub relations: usize,
    /// Refs this location emitted that another location owns.
    pub conflicts: Vec<String>,
    /// Refs added, rewritten, removed or orphaned: what governance must look at again.
    #[serde(skip)]
    pub changed: Vec<String>,
    /// Whether anything the catalog serves changed (entities, or their status): the change
    /// feed and the read caches follow.
    pub served_changed: bool,
}

const LOCATION_COLUMNS: (
    locations::id,
    locations::kind,
    locations::target,
    locations::origin,
    locations::created_at,
    locations::next_refresh_at,
    locations::lease_owner,
    locations::lease_expires_at,
    locations::last_success_at,
    locations::last_error,
    locations::last_error_at,
) = (
    locations::id,
    locations::kind,
    locations::target,
    locations::origin,
    locations::created_at,
    locations::next_refresh_at,
    locations::lease_owner,
    locations::lease_expires_at,
    locations::last_success_at,
    locations::last_error,
    locations::last_error_at,
);

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
                .select(LOCATION_COLUMNS)
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
        // Another instance may have registered the same target meanwhile: take its row.
        let created = inserted.is_ok();
        let row = find(c)?.context("location vanished right after it was registered")?;
        Ok((row, created))
    })
}

pub fn get_location(pool: &Pool, id: &str) -> anyhow::Result<Option<LocationRow>> {
    with_conn!(pool, |c| Ok(locations::table.find(id).select(LOCATION_COLUMNS).first(c).optional()?))
}

pub fn list_locations(pool: &Pool) -> anyhow::Result<Vec<LocationRow>> {
    with_conn!(pool, |c| Ok(locations::table.select(LOCATION_COLUMNS).order(locations::created_at.asc()).load(c)?))
}

/// Deletes a location; its entities, their relations and search rows go with it. Returns the
/// refs of the entities removed, or `None` when there was no such location.
pub fn delete_location(pool: &Pool, id: &str) -> anyhow::Result<Option<Vec<String>>> {
    let deleted = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let rows: Vec<(String, String)> = entities::table
                .filter(entities::location_id.eq(id))
                .select((entities::id, entities::entity_ref))
                .load(c)?;
            let (ids, refs): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
            delete_entities!(c, &ids);
            let n = diesel::delete(locations::table.find(id)).execute(c)?;
            if !refs.is_empty() {
                let changes: Vec<(&str, String)> = refs.iter().map(|key| ("entity.removed", key.clone())).collect();
                record_changes!(c, changes, now_ms());
            }
            Ok::<_, anyhow::Error>((n > 0).then_some(refs))
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
            .select(LOCATION_COLUMNS)
            .first(c)
            .optional()?)
    })
}

fn hash_of(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

type EntityRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<i64>,
);

/// Publishes the entity set a location produced, in one transaction.
///
/// New refs are inserted with a fresh uid; changed ones are rewritten under their old uid with a
/// new etag; unchanged ones are not touched. Refs owned by another location are conflicts and
/// are left to their owner. Entities this location no longer emits are orphans: deleted, or kept
/// and marked, by `orphans` — except those read from a source in `keep_sources` (a source that
/// failed this time keeps its last good entities).
pub fn publish(
    pool: &Pool,
    location_id: &str,
    incoming: Vec<Incoming>,
    keep_sources: &HashSet<String>,
    orphans: OrphanStrategy,
    failing: &HashMap<String, Value>,
) -> anyhow::Result<PublishOutcome> {
    let mut prepared: Vec<(String, String, Incoming)> =
        incoming.into_iter().map(|i| (i.entity_ref.key(), hash_of(&i.value), i)).collect();
    // The first emission of a ref within one location wins, as across locations.
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    prepared.retain(|(key, _, _)| {
        let first = seen.insert(key.clone());
        if !first {
            duplicates.push(key.clone());
        }
        first
    });
    let now = now_ms();
    let sqlite = pool.backend() == crate::db::Backend::Sqlite;
    let outcome: PublishOutcome = with_conn!(pool, |c| {
        // Everything that does not need the write lock happens before taking it: the location
        // is leased, so its own rows cannot change meanwhile.
        let mut out = PublishOutcome::default();
        let existing: HashMap<String, (String, String, String, Option<i64>)> = entities::table
            .filter(entities::location_id.eq(location_id))
            .select((entities::entity_ref, entities::id, entities::hash, entities::source, entities::line))
            .load::<(String, String, String, String, Option<i64>)>(c)?
            .into_iter()
            .map(|(r, id, h, s, l)| (r, (id, h, s, l)))
            .collect();
        let mut new_rows: Vec<EntityRow> = Vec::new();
        let mut rel_rows = Vec::new();
        let mut search_rows = Vec::new();
        let mut rewritten: Vec<String> = Vec::new();
        let mut emitted = HashSet::new();
        let mut sources: HashMap<String, String> = HashMap::new();
        for (key, hash, inc) in prepared {
            emitted.insert(key.clone());
            let (uid, is_new) = match existing.get(&key) {
                Some((_, old_hash, old_source, old_line))
                    if *old_hash == hash && *old_source == inc.source && *old_line == inc.line =>
                {
                    out.unchanged += 1;
                    continue;
                }
                Some((id, _, _, _)) => (id.clone(), false),
                None => (uuid::Uuid::now_v7().to_string(), true),
            };
            let mut value = inc.value;
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("uid".into(), Value::String(uid.clone()));
                meta.insert("etag".into(), Value::String(hash.clone()));
            }
            for (k, v, original) in search::rows_with_original(&value) {
                search_rows.push((uid.clone(), k, v, original));
            }
            let mut seen_rels = HashSet::new();
            for r in inc.relations.iter().filter(|r| seen_rels.insert((r.source.key(), r.kind, r.target.key()))) {
                rel_rows.push((uid.clone(), r.source.key(), r.kind.to_owned(), r.target.to_string(), r.target.key()));
            }
            let body = serde_json::to_string(&value)?;
            if !is_new {
                rewritten.push(uid.clone());
            }
            sources.insert(key.clone(), inc.source.clone());
            new_rows.push((
                uid,
                key,
                inc.entity_ref.kind.to_ascii_lowercase(),
                inc.entity_ref.namespace.to_ascii_lowercase(),
                inc.entity_ref.name.to_ascii_lowercase(),
                Some(location_id.to_owned()),
                inc.source,
                hash.clone(),
                hash,
                body,
                None,
                now,
                now,
                inc.parent,
                inc.line,
            ));
        }
        c.write_transaction(|c| {
            // Refs new to this location may belong to another one: checked under the lock.
            let fresh: Vec<&String> = new_rows.iter().map(|r| &r.1).filter(|k| !existing.contains_key(*k)).collect();
            let mut taken: HashMap<String, Option<String>> = HashMap::new();
            for chunk in fresh.chunks(500) {
                let rows: Vec<(String, Option<String>)> = entities::table
                    .filter(entities::entity_ref.eq_any(chunk))
                    .select((entities::entity_ref, entities::location_id))
                    .load(c)?;
                taken.extend(rows);
            }
            let mut conflict_rows = Vec::new();
            if !taken.is_empty() {
                let lost: HashSet<String> =
                    new_rows.iter().filter(|r| taken.contains_key(&r.1)).map(|r| r.0.clone()).collect();
                for (key, owner) in &taken {
                    conflict_rows.push((key.clone(), owner.clone(), sources.get(key).cloned().unwrap_or_default()));
                    out.conflicts.push(key.clone());
                    emitted.remove(key);
                }
                new_rows.retain(|r| !lost.contains(&r.0));
                rel_rows.retain(|r| !lost.contains(&r.0));
                search_rows.retain(|r| !lost.contains(&r.0));
            }
            out.updated = rewritten.len();
            out.added = new_rows.len() - rewritten.len();
            out.changed = new_rows.iter().map(|r| r.1.clone()).collect();
            out.relations = rel_rows.len();
            let rewritten_set: HashSet<&String> = rewritten.iter().collect();
            let mut changes: Vec<(&str, String)> = new_rows
                .iter()
                .map(|r| (if rewritten_set.contains(&r.0) { "entity.updated" } else { "entity.added" }, r.1.clone()))
                .collect();

            // Rewritten entities: drop the old row and its derived rows, keep the uid.
            for chunk in rewritten.chunks(500) {
                diesel::delete(relations::table.filter(relations::entity_id.eq_any(chunk))).execute(c)?;
                diesel::delete(search_t::table.filter(search_t::entity_id.eq_any(chunk))).execute(c)?;
                diesel::delete(entities::table.filter(entities::id.eq_any(chunk))).execute(c)?;
            }
            for chunk in new_rows.chunks(500) {
                let values: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        (
                            entities::id.eq(&r.0),
                            entities::entity_ref.eq(&r.1),
                            entities::kind.eq(&r.2),
                            entities::namespace.eq(&r.3),
                            entities::name.eq(&r.4),
                            entities::location_id.eq(&r.5),
                            entities::source.eq(&r.6),
                            entities::hash.eq(&r.7),
                            entities::etag.eq(&r.8),
                            entities::body.eq(&r.9),
                            entities::status.eq(&r.10),
                            entities::created_at.eq(r.11),
                            entities::updated_at.eq(r.12),
                            entities::parent_ref.eq(&r.13),
                            entities::line.eq(r.14),
                        )
                    })
                    .collect();
                diesel::insert_into(entities::table).values(values).execute(c)?;
            }
            // SQLite: one cached prepared statement per row is the fastest path (no statement
            // re-parsing, no statement journal); PostgreSQL: multi-row statements save round trips.
            if sqlite {
                for r in &rel_rows {
                    diesel::insert_into(relations::table)
                        .values((
                            relations::entity_id.eq(&r.0),
                            relations::source_key.eq(&r.1),
                            relations::kind.eq(&r.2),
                            relations::target_ref.eq(&r.3),
                            relations::target_key.eq(&r.4),
                        ))
                        .execute(c)?;
                }
                for r in &search_rows {
                    diesel::insert_into(search_t::table)
                        .values((
                            search_t::entity_id.eq(&r.0),
                            search_t::key.eq(&r.1),
                            search_t::value.eq(&r.2),
                            search_t::original_value.eq(&r.3),
                        ))
                        .execute(c)?;
                }
            } else {
                for chunk in rel_rows.chunks(2000) {
                    let values: Vec<_> = chunk
                        .iter()
                        .map(|r| {
                            (
                                relations::entity_id.eq(&r.0),
                                relations::source_key.eq(&r.1),
                                relations::kind.eq(&r.2),
                                relations::target_ref.eq(&r.3),
                                relations::target_key.eq(&r.4),
                            )
                        })
                        .collect();
                    diesel::insert_into(relations::table).values(values).execute(c)?;
                }
                for chunk in search_rows.chunks(3000) {
                    let values: Vec<_> = chunk
                        .iter()
                        .map(|r| {
                            (
                                search_t::entity_id.eq(&r.0),
                                search_t::key.eq(&r.1),
                                search_t::value.eq(&r.2),
                                search_t::original_value.eq(&r.3),
                            )
                        })
                        .collect();
                    diesel::insert_into(search_t::table).values(values).execute(c)?;
                }
            }

            // Orphans: what this location owned and did not emit this time.
            let orphan_rows: Vec<(&String, &String, bool)> = existing
                .iter()
                .filter(|(key, (_, _, source, _))| !emitted.contains(*key) && !keep_sources.contains(source))
                .map(|(key, (id, hash, _, _))| (key, id, hash == "orphan"))
                .collect();
            out.changed.extend(orphan_rows.iter().map(|(key, _, _)| (*key).clone()));
            match orphans {
                OrphanStrategy::Delete => {
                    let ids: Vec<String> = orphan_rows.iter().map(|(_, id, _)| (*id).clone()).collect();
                    out.removed = ids.len();
                    delete_entities!(c, &ids);
                    changes.extend(orphan_rows.iter().map(|(key, _, _)| ("entity.removed", (*key).clone())));
                }
                OrphanStrategy::Keep => {
                    out.orphaned = orphan_rows.len();
                    // Marked once: an entity already marked is not rewritten on every refresh.
                    for (key, id, _) in orphan_rows.iter().filter(|(_, _, marked)| !marked) {
                        mark_orphan!(c, *id);
                        changes.push(("entity.updated", (*key).clone()));
                    }
                }
            }

            // Status items: processing errors of entities that kept their last good version.
            let mut status_changed = diesel::update(
                entities::table.filter(entities::location_id.eq(location_id)).filter(entities::status.is_not_null()),
            )
            .set(entities::status.eq(None::<String>))
            .execute(c)?;
            for (key, status) in failing {
                if existing.contains_key(key) && !emitted.contains(key) {
                    status_changed += diesel::update(
                        entities::table
                            .filter(entities::entity_ref.eq(key))
                            .filter(entities::location_id.eq(location_id)),
                    )
                    .set(entities::status.eq(Some(status.to_string())))
                    .execute(c)?;
                }
            }
            if !changes.is_empty() || status_changed > 0 {
                record_changes!(c, changes, now);
                out.served_changed = true;
            }

            // Conflicts: replace this location's list, keeping when each was first seen.
            let first_seen: HashMap<String, i64> = conflicts::table
                .filter(conflicts::location_id.eq(location_id))
                .select((conflicts::entity_ref, conflicts::first_seen_at))
                .load::<(String, i64)>(c)?
                .into_iter()
                .collect();
            diesel::delete(conflicts::table.filter(conflicts::location_id.eq(location_id))).execute(c)?;
            for (key, owner, source) in &conflict_rows {
                diesel::insert_into(conflicts::table)
                    .values((
                        conflicts::entity_ref.eq(key),
                        conflicts::location_id.eq(location_id),
                        conflicts::owner_location_id.eq(owner),
                        conflicts::source.eq(source),
                        conflicts::first_seen_at.eq(first_seen.get(key).copied().unwrap_or(now)),
                        conflicts::last_seen_at.eq(now),
                    ))
                    .execute(c)?;
            }
            out.conflicts.extend(duplicates);
            Ok::<_, anyhow::Error>(out)
        })
    })?;
    if outcome.served_changed {
        pool.note_change();
    }
    Ok(outcome)
}

/// One condition of a filter: a key that must exist, or one of several values it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Lower-cased dotted key, such as `kind`, `spec.owner` or `relations.ownedby`.
    pub key: String,
    /// Lower-cased values; `None` means the key must merely exist.
    pub values: Option<Vec<String>>,
}

/// Conditions that must all hold (AND); a filter is a list of sets, any of which may match (OR).
pub type FilterSet = Vec<Condition>;

#[derive(QueryableByName)]
struct EntityText {
    #[diesel(sql_type = Text)]
    entity_ref: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    findings: Option<String>,
}

/// One entity by its ref key (`kind:namespace/name`, lower-cased), with relations.
pub fn get_entity(pool: &Pool, key: &str) -> anyhow::Result<Option<String>> {
    with_conn!(pool, |c| {
        let row: Option<(String, Option<String>, Option<String>)> = entities::table
            .filter(entities::entity_ref.eq(key))
            .select((entities::body, entities::status, entities::findings))
            .first(c)
            .optional()?;
        let Some((body, status, findings)) = row else { return Ok(None) };
        let rels: Vec<(String, String)> = relations::table
            .filter(relations::source_key.eq(key))
            .select((relations::kind, relations::target_ref))
            .load(c)?;
        Ok(Some(assemble(&body, rels, status.as_deref(), findings.as_deref())))
    })
}

/// Adds the relations (sorted, without duplicates) and status to a stored body. Governance
/// findings (a JSON array of status items) follow the processing errors in `status.items`.
fn assemble(body: &str, mut rels: Vec<(String, String)>, status: Option<&str>, findings: Option<&str>) -> String {
    let merged;
    let status = match findings {
        None => status,
        Some(items) => {
            let mut all: Vec<Value> = status
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|v| v.get("items").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            all.extend(serde_json::from_str::<Vec<Value>>(items).unwrap_or_default());
            merged = serde_json::json!({ "items": all }).to_string();
            Some(merged.as_str())
        }
    };
    rels.sort();
    rels.dedup();
    let mut out = String::with_capacity(body.len() + rels.len() * 64 + 32);
    let trimmed = body.trim_end();
    out.push_str(trimmed.strip_suffix('}').unwrap_or(trimmed));
    out.push_str(",\"relations\":[");
    for (i, (kind, target)) in rels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::json!({"type": kind, "targetRef": target}).to_string());
    }
    out.push(']');
    if let Some(status) = status {
        out.push_str(",\"status\":");
        out.push_str(status);
    }
    out.push('}');
    out
}

/// How many entities the catalog holds, by kind (for metrics).
pub fn count_by_kind(pool: &Pool) -> anyhow::Result<Vec<(String, i64)>> {
    with_conn!(pool, |c| {
        Ok(entities::table.group_by(entities::kind).select((entities::kind, diesel::dsl::count_star())).load(c)?)
    })
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Claims the location most overdue for refresh, if any, with a lease until `lease_until`.
///
/// On PostgreSQL the candidate row is locked with `FOR UPDATE SKIP LOCKED`, so instances sharing
/// the database never claim the same location; on SQLite the single writer gives the same
/// guarantee. An expired lease (a crashed instance) is claimable again.
pub fn claim_due(pool: &Pool, owner: &str, now: i64, lease_until: i64) -> anyhow::Result<Option<LocationRow>> {
    let backend = pool.backend();
    let lock = if backend == crate::db::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = placeholders(
        &format!(
            "UPDATE locations SET lease_owner = ?, lease_expires_at = ? WHERE id = (SELECT id FROM locations \
             WHERE next_refresh_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at < ?) \
             ORDER BY next_refresh_at LIMIT 1{lock}) AND (lease_expires_at IS NULL OR lease_expires_at < ?) RETURNING id"
        ),
        backend,
    );
    let claimed: Vec<IdRow> = with_conn!(pool, |c| {
        diesel::sql_query(sql)
            .into_boxed::<Db>()
            .bind::<Text, _>(owner.to_owned())
            .bind::<diesel::sql_types::BigInt, _>(lease_until)
            .bind::<diesel::sql_types::BigInt, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(now)
            .load(c)?
    });
    match claimed.into_iter().next() {
        Some(row) => get_location(pool, &row.id),
        None => Ok(None),
    }
}

/// Claims one location for processing now. False when another instance holds a live lease.
pub fn claim(pool: &Pool, id: &str, owner: &str, now: i64, lease_until: i64) -> anyhow::Result<bool> {
    let n = with_conn!(pool, |c| {
        diesel::update(
            locations::table.find(id).filter(
                locations::lease_expires_at
                    .is_null()
                    .or(locations::lease_expires_at.lt(now))
                    .or(locations::lease_owner.eq(owner)),
            ),
        )
        .set((locations::lease_owner.eq(owner), locations::lease_expires_at.eq(lease_until)))
        .execute(c)?
    });
    Ok(n == 1)
}

/// Gives a lease back and schedules the next refresh.
pub fn release(pool: &Pool, id: &str, owner: &str, next_refresh_at: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::update(locations::table.find(id).filter(locations::lease_owner.eq(owner)))
            .set((
                locations::lease_owner.eq(None::<String>),
                locations::lease_expires_at.eq(None::<i64>),
                locations::next_refresh_at.eq(next_refresh_at),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// Changes a location's type and target (its entities are re-read at the next processing).
pub fn update_location(pool: &Pool, id: &str, kind: &str, target: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        let n = diesel::update(locations::table.find(id))
            .set((locations::kind.eq(kind), locations::target.eq(target), locations::next_refresh_at.eq(0i64)))
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

/// The entities a location owns, as served.
pub fn entities_of_location(pool: &Pool, location_id: &str) -> anyhow::Result<Vec<String>> {
    let (rows, rels) = with_conn!(pool, |c| {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = entities::table
            .filter(entities::location_id.eq(location_id))
            .select((entities::entity_ref, entities::body, entities::status, entities::findings))
            .order(entities::entity_ref.asc())
            .load(c)?;
        let rels: Vec<(String, String, String)> = relations::table
            .filter(
                relations::source_key
                    .eq_any(entities::table.filter(entities::location_id.eq(location_id)).select(entities::entity_ref)),
            )
            .select((relations::source_key, relations::kind, relations::target_ref))
            .load(c)?;
        Ok::<_, anyhow::Error>((rows, rels))
    })?;
    let mut by_source: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (s, k, t) in rels {
        by_source.entry(s).or_default().push((k, t));
    }
    Ok(rows
        .into_iter()
        .map(|(r, b, st, f)| assemble(&b, by_source.remove(&r).unwrap_or_default(), st.as_deref(), f.as_deref()))
        .collect())
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

// ---------------------------------------------------------------------------------------------
// Entity queries: pages, refs, uids, facets, ancestry, and the change feed
// ---------------------------------------------------------------------------------------------

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Runs `SELECT e.entity_ref, e.body, e.status ...` and serves each row with its relations, in
/// the order the statement returned them.
fn load_assembled(pool: &Pool, sql: &str, binds: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let sql = placeholders(sql, pool.backend());
    let (rows, rels) = with_conn!(pool, |c| {
        let mut q = diesel::sql_query(sql).into_boxed::<Db>();
        for b in binds {
            q = q.bind::<Text, _>(b.clone());
        }
        let rows: Vec<EntityText> = q.load(c)?;
        let mut rels: Vec<(String, String, String)> = Vec::new();
        let keys: Vec<&String> = rows.iter().map(|r| &r.entity_ref).collect();
        for chunk in keys.chunks(500) {
            rels.extend(
                relations::table
                    .filter(relations::source_key.eq_any(chunk))
                    .select((relations::source_key, relations::kind, relations::target_ref))
                    .load::<(String, String, String)>(c)?,
            );
        }
        Ok::<_, anyhow::Error>((rows, rels))
    })?;
    let mut by_source: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (s, k, t) in rels {
        by_source.entry(s).or_default().push((k, t));
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let rels = by_source.remove(&row.entity_ref).unwrap_or_default();
            let body = assemble(&row.body, rels, row.status.as_deref(), row.findings.as_deref());
            (row.entity_ref, body)
        })
        .collect())
}

/// A served entity: its ref key and its JSON.
pub type Served = (String, String);

/// Value counts of one facet.
pub type Facet = (String, Vec<(String, i64)>);

/// One page of entities for a query (see `query::QuerySql`), each as `(ref key, served JSON)`,
/// and the number of entities the whole query matches when `count` is set.
pub fn query_entities(
    pool: &Pool,
    sql: &super::query::QuerySql,
    limit: Option<u64>,
    offset: u64,
    count: bool,
) -> anyhow::Result<(Vec<Served>, Option<u64>)> {
    #[derive(QueryableByName)]
    struct KeyRow {
        #[diesel(sql_type = Text)]
        entity_ref: String,
    }
    // The page's keys first (sorting short keys, not whole bodies), then the bodies by key.
    let (page_sql, binds) = sql.page_sql("e.entity_ref", limit, offset);
    let page_sql = placeholders(&page_sql, pool.backend());
    let keys: Vec<String> = if limit == Some(0) {
        Vec::new()
    } else {
        with_conn!(pool, |c| {
            let mut q = diesel::sql_query(page_sql).into_boxed::<Db>();
            for b in &binds {
                q = q.bind::<Text, _>(b.clone());
            }
            q.load::<KeyRow>(c)?.into_iter().map(|r| r.entity_ref).collect::<Vec<_>>()
        })
    };
    let mut bodies = entities_by_keys(pool, &keys)?;
    // An entity removed between the two reads is left out.
    let rows = keys.into_iter().filter_map(|k| bodies.remove(&k).map(|b| (k, b))).collect();
    let total = if count {
        let (count_sql, binds) = sql.count_sql();
        let count_sql = placeholders(&count_sql, pool.backend());
        let n: CountRow = with_conn!(pool, |c| {
            let mut q = diesel::sql_query(count_sql).into_boxed::<Db>();
            for b in &binds {
                q = q.bind::<Text, _>(b.clone());
            }
            q.get_result(c)?
        });
        Some(n.count.max(0) as u64)
    } else {
        None
    };
    Ok((rows, total))
}

/// The served entities with these ref keys (missing ones are absent from the map).
pub fn entities_by_keys(pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT e.entity_ref, e.body, e.status, e.findings FROM entities e WHERE e.entity_ref IN ({marks})"
        );
        out.extend(load_assembled(pool, &sql, chunk)?);
    }
    Ok(out)
}

/// The served entity with this uid, and its ref key.
pub fn entity_by_uid(pool: &Pool, uid: &str) -> anyhow::Result<Option<(String, String)>> {
    let sql = "SELECT e.entity_ref, e.body, e.status, e.findings FROM entities e WHERE e.id = ?";
    Ok(load_assembled(pool, sql, &[uid.to_owned()])?.into_iter().next())
}

/// Deletes one entity by uid (its location may emit it again on its next refresh). Returns
/// whether it existed.
pub fn delete_entity_by_uid(pool: &Pool, uid: &str) -> anyhow::Result<bool> {
    let deleted = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let key: Option<String> = entities::table.find(uid).select(entities::entity_ref).first(c).optional()?;
            let Some(key) = key else { return Ok::<_, anyhow::Error>(false) };
            delete_entities!(c, [uid.to_owned()]);
            record_changes!(c, [("entity.removed", key)], now_ms());
            Ok(true)
        })
    })?;
    pool.note_change();
    Ok(deleted)
}

/// The ref that emitted each of these entities (`None` for a root), by ref key.
pub fn parents_of(pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Option<String>>> {
    with_conn!(pool, |c| {
        let rows: Vec<(String, Option<String>)> = entities::table
            .filter(entities::entity_ref.eq_any(keys))
            .select((entities::entity_ref, entities::parent_ref))
            .load(c)?;
        Ok(rows.into_iter().collect())
    })
}

/// For each facet key, its values (as written) and how many entities matching `filter` have them.
pub fn facets(pool: &Pool, facets: &[String], filter: &(String, Vec<String>)) -> anyhow::Result<Vec<Facet>> {
    #[derive(QueryableByName)]
    struct FacetRow {
        #[diesel(sql_type = Text)]
        value: String,
        #[diesel(sql_type = Nullable<Text>)]
        original: Option<String>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let backend = pool.backend();
    let mut out = Vec::new();
    for facet in facets {
        let key = facet.to_lowercase();
        // Relations are facets too (`relations.ownedBy`), read from the relations table.
        // Without a filter, the count comes from the index alone; grouping follows the index
        // order (key, value, original_value), so no sort is needed.
        let unfiltered = filter.0 == "1 = 1";
        let sql = match (key.starts_with("relations."), unfiltered) {
            (true, true) => "SELECT r.target_ref AS value, NULL AS original, COUNT(*) AS count FROM relations r \
                 WHERE LOWER(r.type) = ? GROUP BY r.target_ref"
                .to_owned(),
            (true, false) => format!(
                "SELECT r.target_ref AS value, NULL AS original, COUNT(*) AS count FROM relations r \
                 JOIN entities e ON e.entity_ref = r.source_key WHERE LOWER(r.type) = ? AND ({}) GROUP BY r.target_ref",
                filter.0
            ),
            // Search rows are unique per entity, key and value: COUNT(*) counts entities.
            (false, true) => "SELECT s.value AS value, s.original_value AS original, COUNT(*) AS count FROM search s \
                 WHERE s.key = ? AND s.value <> '' GROUP BY s.value, s.original_value"
                .to_owned(),
            (false, false) => format!(
                "SELECT s.value AS value, s.original_value AS original, COUNT(*) AS count FROM search s \
                 JOIN entities e ON e.id = s.entity_id WHERE s.key = ? AND s.value <> '' AND ({}) \
                 GROUP BY s.value, s.original_value",
                filter.0
            ),
        };
        let sql = placeholders(&sql, backend);
        let bind_key = key.strip_prefix("relations.").map(str::to_owned).unwrap_or(key.clone());
        let rows: Vec<FacetRow> = with_conn!(pool, |c| {
            let mut q = diesel::sql_query(sql).into_boxed::<Db>();
            q = q.bind::<Text, _>(bind_key.clone());
            if !unfiltered {
                for b in &filter.1 {
                    q = q.bind::<Text, _>(b.clone());
                }
            }
            q.load(c)?
        });
        // One entry per value as matched (lower-cased), shown as most often written.
        let mut merged: HashMap<String, (i64, String, i64)> = HashMap::new();
        for r in rows {
            let shown = r.original.unwrap_or_else(|| r.value.clone());
            let slot = merged.entry(r.value).or_insert((0, shown.clone(), 0));
            slot.0 += r.count;
            if r.count > slot.2 {
                slot.1 = shown;
                slot.2 = r.count;
            }
        }
        let mut values: Vec<(String, i64)> = merged.into_values().map(|(n, shown, _)| (shown, n)).collect();
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.push((facet.clone(), values));
    }
    Ok(out)
}

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

/// The catalog generation: changes whenever what the catalog serves changes.
pub fn generation(pool: &Pool) -> anyhow::Result<i64> {
    // The catalog's own changes, plus governance's (findings are served in `status.items`).
    with_conn!(pool, |c| {
        let catalog: i64 = catalog_version::table.find(1).select(catalog_version::generation).first(c)?;
        let portal: i64 = portal_state::table.find(1).select(portal_state::generation).first(c)?;
        Ok(catalog.wrapping_add(portal))
    })
}

/// `(source key, target key)` of every relation of this type from these entities (for
/// ownership: `ownedBy`, `memberOf`, `childOf`).
pub fn relation_targets(pool: &Pool, keys: &[String], kind: &str) -> anyhow::Result<Vec<(String, String)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(pool, |c| {
        Ok(relations::table
            .filter(relations::source_key.eq_any(keys))
            .filter(relations::kind.eq(kind))
            .select((relations::source_key, relations::target_key))
            .load(c)?)
    })
}

/// The ref keys of the entities of a kind whose search leaf `key` equals `value` (lower-cased),
/// e.g. Users by `spec.profile.email`.
pub fn entities_by_leaf(pool: &Pool, kind: &str, key: &str, value: &str) -> anyhow::Result<Vec<String>> {
    let value = value.to_lowercase();
    with_conn!(pool, |c| {
        Ok(search_t::table
            .inner_join(entities::table.on(entities::id.eq(search_t::entity_id)))
            .filter(search_t::key.eq(key))
            .filter(search_t::value.eq(value))
            .filter(entities::kind.eq(kind.to_ascii_lowercase()))
            .select(entities::entity_ref)
            .order(entities::entity_ref.asc())
            .load(c)?)
    })
}

/// Whether an entity with this ref key exists.
pub fn entity_exists(pool: &Pool, key: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        let found: Option<String> =
            entities::table.filter(entities::entity_ref.eq(key)).select(entities::id).first(c).optional()?;
        Ok(found.is_some())
    })
}

/// The ref keys of the entities a location owns.
pub fn entity_keys_of_location(pool: &Pool, location_id: &str) -> anyhow::Result<Vec<String>> {
    with_conn!(pool, |c| {
        Ok(entities::table.filter(entities::location_id.eq(location_id)).select(entities::entity_ref).load(c)?)
    })
}

/// The stored bodies (as their descriptors made them: no relations, no status) of every entity
/// of a kind, by ref key, in ref order. For domains that derive state from the catalog.
pub fn bodies_of_kind(pool: &Pool, kind: &str) -> anyhow::Result<Vec<(String, String)>> {
    with_conn!(pool, |c| {
        Ok(entities::table
            .filter(entities::kind.eq(kind.to_ascii_lowercase()))
            .select((entities::entity_ref, entities::body))
            .order(entities::entity_ref.asc())
            .load(c)?)
    })
}

/// The stored bodies of the entities with these ref keys (missing ones are left out).
pub fn bodies_by_keys(pool: &Pool, keys: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<(String, String)> = with_conn!(pool, |c| {
            entities::table
                .filter(entities::entity_ref.eq_any(chunk))
                .select((entities::entity_ref, entities::body))
                .load(c)?
        });
        out.extend(rows);
    }
    Ok(out)
}
