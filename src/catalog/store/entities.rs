//! Entity reads: one or many entities as stored (body, relations, processing status), pages of
//! a query, facets, ancestry and relation lookups. Serving them (relations and status merged into
//! the body, plus the decorator's status items) is `catalog::read`'s work.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::sql::{QuerySql, predicate_sql};
use crate::catalog::query::Predicate;
use crate::catalog::seam::CatalogChange;
use crate::db::schema::{catalog_version, entities, events, relations, search as search_t};
use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::{with_conn, with_read};

#[derive(QueryableByName)]
struct EntityText {
    #[diesel(sql_type = Text)]
    entity_ref: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
}

/// An entity as stored: its ref key, its body (as its descriptor made it, with uid and etag), the
/// relations it is the source of (`(type, target ref)`), and its processing status JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntity {
    pub key: String,
    pub body: String,
    pub relations: Vec<(String, String)>,
    pub status: Option<String>,
}

/// One entity by its ref key (`kind:namespace/name`, lower-cased), with its relations.
pub fn get_entity(pool: &Pool, key: &str) -> anyhow::Result<Option<StoredEntity>> {
    with_conn!(pool, |c| {
        let row: Option<(String, Option<String>)> = entities::table
            .filter(entities::entity_ref.eq(key))
            .select((entities::body, entities::status))
            .first(c)
            .optional()?;
        let Some((body, status)) = row else { return Ok(None) };
        let relations: Vec<(String, String)> = relations::table
            .filter(relations::source_key.eq(key))
            .select((relations::kind, relations::target_ref))
            .load(c)?;
        Ok(Some(StoredEntity { key: key.to_owned(), body, relations, status }))
    })
}

/// How many entities the catalog holds, by kind (for metrics).
pub fn count_by_kind(pool: &Pool) -> anyhow::Result<Vec<(String, i64)>> {
    with_conn!(pool, |c| {
        Ok(entities::table.group_by(entities::kind).select((entities::kind, diesel::dsl::count_star())).load(c)?)
    })
}

/// The entities a location owns, in ref order.
pub fn entities_of_location(pool: &Pool, location_id: &str) -> anyhow::Result<Vec<StoredEntity>> {
    let (rows, rels) = with_conn!(pool, |c| {
        let rows: Vec<(String, String, Option<String>)> = entities::table
            .filter(entities::location_id.eq(location_id))
            .select((entities::entity_ref, entities::body, entities::status))
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
    let mut by_source = group_relations(rels);
    Ok(rows
        .into_iter()
        .map(|(key, body, status)| StoredEntity {
            relations: by_source.remove(&key).unwrap_or_default(),
            key,
            body,
            status,
        })
        .collect())
}

fn group_relations(rels: Vec<(String, String, String)>) -> HashMap<String, Vec<(String, String)>> {
    let mut by_source: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (s, k, t) in rels {
        by_source.entry(s).or_default().push((k, t));
    }
    by_source
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Runs `SELECT e.entity_ref, e.body, e.status ...` and gives each row its relations, in the
/// order the statement returned them.
fn load_stored(pool: &Pool, sql: &str, binds: &[String]) -> anyhow::Result<Vec<StoredEntity>> {
    let sql = placeholders(sql, pool.backend());
    let (rows, rels) = with_conn!(pool, |c| {
        // Raw SQL: the statement is compiled at run time from the query values (catalog/store/sql.rs).
        let mut q = diesel::sql_query(sql).into_boxed::<Db>();
        for b in binds {
            q = q.bind::<Text, _>(b.clone());
        }
        let rows: Vec<EntityText> = q.load(c)?;
        let mut rels: Vec<(String, String, String)> = Vec::new();
        let keys: Vec<&String> = rows.iter().map(|r| &r.entity_ref).collect();
        for chunk in keys.chunks(KEY_CHUNK) {
            rels.extend(
                relations::table
                    .filter(relations::source_key.eq_any(chunk))
                    .select((relations::source_key, relations::kind, relations::target_ref))
                    .load::<(String, String, String)>(c)?,
            );
        }
        Ok::<_, anyhow::Error>((rows, rels))
    })?;
    let mut by_source = group_relations(rels);
    Ok(rows
        .into_iter()
        .map(|r| StoredEntity {
            relations: by_source.remove(&r.entity_ref).unwrap_or_default(),
            key: r.entity_ref,
            body: r.body,
            status: r.status,
        })
        .collect())
}

/// Value counts of one facet.
pub type Facet = (String, Vec<(String, i64)>);

/// One page of entities for a query (see [`QuerySql`]), as stored,
/// and the number of entities the whole query matches when `count` is set.
pub fn query_entities(
    pool: &Pool,
    sql: &QuerySql,
    limit: Option<u64>,
    offset: u64,
    count: bool,
) -> anyhow::Result<(Vec<StoredEntity>, Option<u64>)> {
    #[derive(QueryableByName)]
    struct KeyRow {
        #[diesel(sql_type = Text)]
        entity_ref: String,
    }
    // The page's keys first (sorting short keys, not whole bodies), then the bodies by key. The
    // statements the query shapes (page and count) run under the read timeout.
    let (page_sql, page_binds) = sql.page_sql("e.entity_ref", limit, offset);
    let page_sql = (limit != Some(0)).then(|| placeholders(&page_sql, pool.backend()));
    let (count_sql, count_binds) = sql.count_sql();
    let count_sql = count.then(|| placeholders(&count_sql, pool.backend()));
    let (keys, total) = with_read!(pool, |c| {
        let mut keys: Vec<String> = Vec::new();
        if let Some(page_sql) = page_sql {
            // Raw SQL: the page is compiled at run time from the query values (filters, full text, order, seek).
            let mut q = diesel::sql_query(page_sql).into_boxed::<Db>();
            for b in &page_binds {
                q = q.bind::<Text, _>(b.clone());
            }
            keys = q.load::<KeyRow>(c)?.into_iter().map(|r| r.entity_ref).collect();
        }
        let mut total = None;
        if let Some(count_sql) = count_sql {
            // Raw SQL: the count is compiled at run time from the query values.
            let mut q = diesel::sql_query(count_sql).into_boxed::<Db>();
            for b in &count_binds {
                q = q.bind::<Text, _>(b.clone());
            }
            total = Some(q.get_result::<CountRow>(c)?.count.max(0) as u64);
        }
        (keys, total)
    });
    let mut bodies = entities_by_keys(pool, &keys)?;
    // An entity removed between the two reads is left out.
    let rows = keys.into_iter().filter_map(|k| bodies.remove(&k)).collect();
    Ok((rows, total))
}

/// Which of these ref keys name entities that match `predicate` (a chunk of keys per statement,
/// under the read timeout): what a filter leaves of a by-refs request.
pub fn keys_matching(pool: &Pool, keys: &[String], predicate: &Predicate) -> anyhow::Result<HashSet<String>> {
    let (filter, filter_binds) = predicate_sql(predicate);
    let statements: Vec<(String, Vec<String>)> = keys
        .chunks(KEY_CHUNK)
        .map(|chunk| {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT e.entity_ref FROM entities e WHERE e.entity_ref IN ({marks}) AND ({filter})");
            let binds = chunk.iter().chain(&filter_binds).cloned().collect();
            (placeholders(&sql, pool.backend()), binds)
        })
        .collect();
    #[derive(QueryableByName)]
    struct KeyRow {
        #[diesel(sql_type = Text)]
        entity_ref: String,
    }
    Ok(with_read!(pool, |c| {
        let mut found = HashSet::new();
        for (sql, binds) in &statements {
            // Raw SQL: the predicate is compiled at run time into SQL (catalog/store/sql.rs).
            let mut q = diesel::sql_query(sql.as_str()).into_boxed::<Db>();
            for b in binds {
                q = q.bind::<Text, _>(b.clone());
            }
            found.extend(q.load::<KeyRow>(c)?.into_iter().map(|r| r.entity_ref));
        }
        found
    }))
}

/// Keys per statement in lookups by many keys: SQLite binds at most 32,766 values in one.
const KEY_CHUNK: usize = 500;

/// Runs `load` on the keys a chunk at a time and gathers the rows.
fn by_key_chunks<T>(
    keys: &[String],
    mut load: impl FnMut(&[String]) -> anyhow::Result<Vec<T>>,
) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(KEY_CHUNK) {
        out.extend(load(chunk)?);
    }
    Ok(out)
}

/// The stored entities with these ref keys (missing ones are absent from the map).
pub fn entities_by_keys(pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, StoredEntity>> {
    let found = by_key_chunks(keys, |chunk| {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT e.entity_ref, e.body, e.status FROM entities e WHERE e.entity_ref IN ({marks})");
        load_stored(pool, &sql, chunk)
    })?;
    Ok(found.into_iter().map(|e| (e.key.clone(), e)).collect())
}

/// The stored entity with this uid.
pub fn entity_by_uid(pool: &Pool, uid: &str) -> anyhow::Result<Option<StoredEntity>> {
    let sql = "SELECT e.entity_ref, e.body, e.status FROM entities e WHERE e.id = ?";
    Ok(load_stored(pool, sql, &[uid.to_owned()])?.into_iter().next())
}

/// Deletes one entity by uid (its location may emit it again on its next refresh). Returns what
/// that changed, or `None` when there was no such entity.
pub fn delete_entity_by_uid(pool: &Pool, uid: &str) -> anyhow::Result<Option<CatalogChange>> {
    let postgres = pool.backend() == crate::db::Backend::Postgres;
    let deleted = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            lock_catalog!(c, postgres);
            let key: Option<String> = entities::table.find(uid).select(entities::entity_ref).first(c).optional()?;
            let Some(key) = key else { return Ok::<_, anyhow::Error>(None) };
            let relation_rows = delete_entities!(c, [uid.to_owned()]);
            record_changes!(c, [("entity.removed", key.clone())], now_ms());
            Ok(Some(CatalogChange { removed: vec![key], relations_changed: relation_rows > 0, ..Default::default() }))
        })
    })?;
    pool.note_change();
    Ok(deleted)
}

/// The ref that emitted each of these entities (`None` for a root), by ref key.
pub fn parents_of(pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Option<String>>> {
    let rows = by_key_chunks(keys, |chunk| {
        with_conn!(pool, |c| Ok(entities::table
            .filter(entities::entity_ref.eq_any(chunk))
            .select((entities::entity_ref, entities::parent_ref))
            .load(c)?))
    })?;
    Ok(rows.into_iter().collect())
}

/// For each facet key, its values (as written) and how many entities matching `filter` have them.
pub fn facets(pool: &Pool, facets: &[String], predicate: &Predicate) -> anyhow::Result<Vec<Facet>> {
    let filter = &predicate_sql(predicate);
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
    let unfiltered = filter.0 == "1 = 1";
    // Every facet's statement, with the key it binds first; they run together under the read
    // timeout.
    let mut statements: Vec<(String, String)> = Vec::with_capacity(facets.len());
    for facet in facets {
        let key = facet.to_lowercase();
        // Relations are facets too (`relations.ownedBy`), read from the relations table.
        // Without a filter, the count comes from the index alone; grouping follows the index
        // order (key, value, original_value), so no sort is needed.
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
        let bind_key = key.strip_prefix("relations.").map(str::to_owned).unwrap_or(key.clone());
        statements.push((placeholders(&sql, backend), bind_key));
    }
    let results: Vec<Vec<FacetRow>> = with_read!(pool, |c| {
        let mut results = Vec::with_capacity(statements.len());
        for (sql, bind_key) in &statements {
            // Raw SQL: each facet's statement is compiled at run time from the predicate and the facet's key.
            let mut q = diesel::sql_query(sql.as_str()).into_boxed::<Db>();
            q = q.bind::<Text, _>(bind_key.clone());
            if !unfiltered {
                for b in &filter.1 {
                    q = q.bind::<Text, _>(b.clone());
                }
            }
            results.push(q.load::<FacetRow>(c)?);
        }
        results
    });
    let mut out = Vec::new();
    for (facet, rows) in facets.iter().zip(results) {
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

/// `(source key, target key)` of every relation of this type from these entities (for
/// ownership: `ownedBy`, `memberOf`, `childOf`).
pub fn relation_targets(pool: &Pool, keys: &[String], kind: &str) -> anyhow::Result<Vec<(String, String)>> {
    by_key_chunks(keys, |chunk| {
        with_conn!(pool, |c| Ok(relations::table
            .filter(relations::source_key.eq_any(chunk))
            .filter(relations::kind.eq(kind))
            .select((relations::source_key, relations::target_key))
            .load(c)?))
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

/// Where an entity came from: its location's origin, type and target, and the file it was read
/// from. What the catalog rules judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityProvenance {
    pub entity_ref: String,
    pub origin: String,
    pub location_kind: String,
    pub location_target: String,
    pub source: String,
}

/// The provenance of each of these entities (missing ones, and entities without a location,
/// are left out).
pub fn provenance_of(pool: &Pool, keys: &[String]) -> anyhow::Result<Vec<EntityProvenance>> {
    use crate::db::schema::locations;
    let rows = by_key_chunks(keys, |chunk| {
        with_conn!(pool, |c| Ok(entities::table
            .inner_join(locations::table)
            .filter(entities::entity_ref.eq_any(chunk))
            .select((entities::entity_ref, locations::origin, locations::kind, locations::target, entities::source))
            .load::<(String, String, String, String, String)>(c)?))
    })?;
    Ok(rows
        .into_iter()
        .map(|(entity_ref, origin, location_kind, location_target, source)| EntityProvenance {
            entity_ref,
            origin,
            location_kind,
            location_target,
            source,
        })
        .collect())
}

/// Whether an entity with this ref key exists.
pub fn entity_exists(pool: &Pool, key: &str) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        let found: Option<String> =
            entities::table.filter(entities::entity_ref.eq(key)).select(entities::id).first(c).optional()?;
        Ok(found.is_some())
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
    by_key_chunks(keys, |chunk| {
        with_conn!(pool, |c| Ok(entities::table
            .filter(entities::entity_ref.eq_any(chunk))
            .select((entities::entity_ref, entities::body))
            .load(c)?))
    })
}

/// Every entity (or those with these ref keys) as `(body, source, line)`: what a domain that
/// models the whole catalog (governance) reads.
pub fn entity_sources(pool: &Pool, keys: Option<&[String]>) -> anyhow::Result<Vec<(String, String, Option<i64>)>> {
    let columns = (entities::body, entities::source, entities::line);
    match keys {
        None => with_conn!(pool, |c| Ok(entities::table.select(columns).load(c)?)),
        Some(keys) => by_key_chunks(keys, |chunk| {
            with_conn!(pool, |c| Ok(entities::table
                .filter(entities::entity_ref.eq_any(chunk))
                .select(columns)
                .load(c)?))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100k catalog asks for the owners and parents of every component at start-up: more keys
    /// than SQLite binds in one statement (32,766) must still be one answer.
    #[test]
    fn lookups_by_many_keys_stay_under_the_bind_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("p.db").display()), 2).unwrap();
        let keys: Vec<String> = (0..40_000).map(|i| format!("component:default/c-{i}")).collect();
        assert!(relation_targets(&pool, &keys, "ownedBy").unwrap().is_empty());
        assert!(parents_of(&pool, &keys).unwrap().is_empty());
        assert!(bodies_by_keys(&pool, &keys).unwrap().is_empty());
    }
}
