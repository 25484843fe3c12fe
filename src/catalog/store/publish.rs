//! Publishing one location's entity set in one transaction.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Incoming, OrphanStrategy, PublishOutcome};
use crate::catalog::search;
use crate::db::schema::{catalog_version, conflicts, entities, events, relations, search as search_t};
use crate::db::{Pool, WriteTransaction, now_ms};
use crate::with_conn;

fn hash_of(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// Entities per statement filling SQLite's full-text index.
const TEXT_CHUNK: usize = 250;

/// An entity's line in SQLite's full-text index (`entity_text`): its distinct non-empty search
/// values, one per line. Any value containing a term makes the line contain it, so the index
/// never misses a match; the query checks the search rows themselves afterwards.
fn entity_text(rows: &[(String, String, String, Option<String>)]) -> String {
    let mut seen: HashSet<&str> = HashSet::with_capacity(rows.len());
    let mut out = String::new();
    for (_, _, value, _) in rows {
        if !value.is_empty() && seen.insert(value.as_str()) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(value);
        }
    }
    out
}

/// `INSERT INTO entity_text` for `n` `(uid, text)` pairs, each row under its entity's rowid.
fn entity_text_insert(n: usize) -> String {
    let values = vec!["(?, ?)"; n].join(", ");
    format!(
        "INSERT INTO entity_text (rowid, terms) SELECT e.rowid, v.column2 FROM (VALUES {values}) AS v \
         JOIN entities e ON e.id = v.column1"
    )
}

/// A relation row: entity uid, source key, type, target ref, target key.
type RelationRow = (String, String, String, String, String);
/// A search row: entity uid, key, value, original value.
type SearchRow = (String, String, String, Option<String>);

/// Writing a location's derived rows, the fastest way each backend has.
trait DerivedRows {
    fn insert_relations(&mut self, rows: &[RelationRow]) -> QueryResult<()>;
    fn insert_search(&mut self, rows: &[SearchRow]) -> QueryResult<()>;
}

/// SQLite: one cached prepared statement per row (no statement re-parsing, no statement journal).
impl DerivedRows for diesel::SqliteConnection {
    fn insert_relations(&mut self, rows: &[RelationRow]) -> QueryResult<()> {
        for r in rows {
            diesel::insert_into(relations::table)
                .values((
                    relations::entity_id.eq(&r.0),
                    relations::source_key.eq(&r.1),
                    relations::kind.eq(&r.2),
                    relations::target_ref.eq(&r.3),
                    relations::target_key.eq(&r.4),
                ))
                .execute(self)?;
        }
        Ok(())
    }

    fn insert_search(&mut self, rows: &[SearchRow]) -> QueryResult<()> {
        for r in rows {
            diesel::insert_into(search_t::table)
                .values((
                    search_t::entity_id.eq(&r.0),
                    search_t::key.eq(&r.1),
                    search_t::value.eq(&r.2),
                    search_t::original_value.eq(&r.3),
                ))
                .execute(self)?;
        }
        Ok(())
    }
}

/// PostgreSQL: one binary `COPY` per table, with no statement to parse or plan however many rows.
impl DerivedRows for diesel::PgConnection {
    fn insert_relations(&mut self, rows: &[RelationRow]) -> QueryResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let values: Vec<_> = rows
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
        diesel::copy_from(relations::table).from_insertable(values).execute(self)?;
        Ok(())
    }

    fn insert_search(&mut self, rows: &[SearchRow]) -> QueryResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let values: Vec<_> = rows
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
        diesel::copy_from(search_t::table).from_insertable(values).execute(self)?;
        Ok(())
    }
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
    forbidden: &HashSet<String>,
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
    // During a first load the full-text index is filled once at the end (`bulk::fill_fulltext`).
    let fulltext = sqlite && !super::bulk::fulltext_deferred(pool)?;
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
        // SQLite's full-text index: each entity's distinct non-empty values, one per line.
        let mut texts: Vec<(String, String)> = Vec::new();
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
            let first_row = search_rows.len();
            for (k, v, original) in search::rows_with_original(&value) {
                search_rows.push((uid.clone(), k, v, original));
            }
            if fulltext {
                texts.push((uid.clone(), entity_text(&search_rows[first_row..])));
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
            if !fresh.is_empty() {
                lock_catalog!(c, !sqlite);
            }
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
                texts.retain(|r| !lost.contains(&r.0));
            }
            out.updated = rewritten.len();
            out.added = new_rows.len() - rewritten.len();
            out.relations = rel_rows.len();
            let rewritten_set: HashSet<&String> = rewritten.iter().collect();
            let mut changes: Vec<(&str, String)> = Vec::with_capacity(new_rows.len());
            for r in &new_rows {
                if rewritten_set.contains(&r.0) {
                    out.change.updated.push(r.1.clone());
                    changes.push(("entity.updated", r.1.clone()));
                } else {
                    out.change.added.push(r.1.clone());
                    changes.push(("entity.added", r.1.clone()));
                }
            }

            // Rewritten entities: drop the old row and its derived rows, keep the uid. The old
            // relation rows come back from the delete, to tell whether any edge moved.
            let mut before: HashSet<(String, String, String, String)> = HashSet::new();
            for chunk in rewritten.chunks(500) {
                let old: Vec<(String, String, String, String)> =
                    diesel::delete(relations::table.filter(relations::entity_id.eq_any(chunk)))
                        .returning((
                            relations::entity_id,
                            relations::source_key,
                            relations::kind,
                            relations::target_key,
                        ))
                        .get_results(c)?;
                before.extend(old);
                diesel::delete(search_t::table.filter(search_t::entity_id.eq_any(chunk))).execute(c)?;
                diesel::delete(entities::table.filter(entities::id.eq_any(chunk))).execute(c)?;
            }
            // Did any relation edge move? New entities' edges appear; a rewritten entity's move
            // when its set of edges differs from the stored one.
            let added_ids: HashSet<&String> =
                new_rows.iter().map(|r| &r.0).filter(|id| !rewritten_set.contains(id)).collect();
            let after: HashSet<(String, String, String, String)> = rel_rows
                .iter()
                .filter(|r| rewritten_set.contains(&r.0))
                .map(|r| (r.0.clone(), r.1.clone(), r.2.clone(), r.4.clone()))
                .collect();
            out.change.relations_changed = rel_rows.iter().any(|r| added_ids.contains(&r.0)) || before != after;
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
            c.insert_relations(&rel_rows)?;
            c.insert_search(&search_rows)?;
            // The full-text rows take the rowid of their entity row (inserted above).
            for chunk in texts.chunks(TEXT_CHUNK) {
                // Raw SQL: FTS5's entity_text takes each entity's rowid, joined from a multi-row VALUES list
                // (SQLite only).
                let mut q = diesel::sql_query(entity_text_insert(chunk.len())).into_boxed::<Db>();
                for (uid, text) in chunk {
                    q = q.bind::<diesel::sql_types::Text, _>(uid).bind::<diesel::sql_types::Text, _>(text);
                }
                q.execute(c)?;
            }

            // Entities a catalog rule now forbids here go, whatever the orphan strategy and
            // even when their file failed for another reason.
            let dropped: Vec<(&String, &String)> = existing
                .iter()
                .filter(|(key, _)| forbidden.contains(*key) && !emitted.contains(*key))
                .map(|(key, (id, _, _, _))| (key, id))
                .collect();
            if !dropped.is_empty() {
                let ids: Vec<String> = dropped.iter().map(|(_, id)| (*id).clone()).collect();
                out.removed += ids.len();
                out.change.removed.extend(dropped.iter().map(|(key, _)| (*key).clone()));
                let relation_rows = delete_entities!(c, &ids);
                out.change.relations_changed |= relation_rows > 0;
                changes.extend(dropped.iter().map(|(key, _)| ("entity.removed", (*key).clone())));
            }
            // Orphans: what this location owned and did not emit this time.
            let orphan_rows: Vec<(&String, &String, bool)> = existing
                .iter()
                .filter(|(key, (_, _, source, _))| {
                    !emitted.contains(*key) && !keep_sources.contains(source) && !forbidden.contains(*key)
                })
                .map(|(key, (id, hash, _, _))| (key, id, hash == "orphan"))
                .collect();
            match orphans {
                OrphanStrategy::Delete => {
                    let ids: Vec<String> = orphan_rows.iter().map(|(_, id, _)| (*id).clone()).collect();
                    out.removed += ids.len();
                    out.change.removed.extend(orphan_rows.iter().map(|(key, _, _)| (*key).clone()));
                    let relation_rows = delete_entities!(c, &ids);
                    out.change.relations_changed |= relation_rows > 0;
                    changes.extend(orphan_rows.iter().map(|(key, _, _)| ("entity.removed", (*key).clone())));
                }
                OrphanStrategy::Keep => {
                    out.orphaned = orphan_rows.len();
                    // Marked once: an entity already marked is not rewritten on every refresh.
                    for (key, id, _) in orphan_rows.iter().filter(|(_, _, marked)| !marked) {
                        mark_orphan!(c, *id);
                        changes.push(("entity.updated", (*key).clone()));
                        out.change.updated.push((*key).clone());
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
