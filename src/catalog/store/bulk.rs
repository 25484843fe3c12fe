//! A first load into an empty catalog writes its rows without the secondary indexes of the
//! search and relations tables, and builds them once at the end: one sort per index instead of
//! B-trees grown row by row (and, on PostgreSQL, a trigram GIN index updated per row).
//!
//! On SQLite the full-text index (`entity_text`) is filled the same way: a publish made while
//! the indexes are deferred writes no full-text row, and [`fill_fulltext`] fills the whole index
//! from the search rows afterwards, in one transaction (while the listeners rebuild). A catalog
//! whose entities have no full-text row at all (a load cut off before the fill) is filled
//! before the next load.
//!
//! Nothing reads the catalog meanwhile: the start-up load finishes before the server answers.
//! An index missing after a crash mid-load is built before the next load ([`prepare`]), so a
//! catalog is never left without them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::schema::entities;
use crate::db::{Backend, Pool};
use crate::with_conn;

/// The deferred indexes as the migrations create them (`catalog`, `fulltext_index`); the test
/// below holds these to the migrated schema.
const SQLITE_INDEXES: &[(&str, &str)] = &[
    ("search_key_value_idx", "ON search (key, value, original_value, entity_id)"),
    ("search_entity_idx", "ON search (entity_id)"),
    ("relations_source_idx", "ON relations (source_key)"),
    ("relations_entity_idx", "ON relations (entity_id)"),
];
const POSTGRES_INDEXES: &[(&str, &str)] = &[
    ("search_key_value_idx", "ON search (key, value, original_value, entity_id)"),
    ("search_value_trgm_idx", "ON search USING gin (value gin_trgm_ops)"),
    ("relations_entity_idx", "ON relations (entity_id)"),
];

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

fn present_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('search', 'relations')"
        }
        Backend::Postgres => {
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename IN ('search', 'relations')"
        }
    }
}

/// The index whose absence marks a load whose full-text rows are not written yet (SQLite).
const FULLTEXT_MARK: &str = "search_entity_idx";

/// Every entity's line of the full-text index, from its search rows: its distinct non-empty
/// values (comma-separated here, one per line when `publish` writes them: the index only picks
/// candidates, which a full-text query then checks against the search rows themselves).
const FULLTEXT_FILL: &str = "INSERT INTO entity_text (entity_text) VALUES ('delete-all'); \
    INSERT INTO entity_text (rowid, terms) SELECT e.rowid, t.terms FROM \
    (SELECT entity_id, group_concat(DISTINCT value) AS terms FROM search WHERE value <> '' GROUP BY entity_id) t \
    JOIN entities e ON e.id = t.entity_id ORDER BY e.rowid;";

/// Fills SQLite's full-text index from the search rows when the catalog has entities but the
/// index has no row (after a first load, or one cut off before its fill); true when it did.
/// Every entity has a non-empty value (its uid), so a filled index is never empty.
pub fn fill_fulltext(pool: &Pool) -> anyhow::Result<bool> {
    let Pool::Sqlite(p, _) = pool else { return Ok(false) };
    let mut c = p.get()?;
    let filled = c.immediate_transaction(|c| {
        let any: bool = diesel::select(diesel::dsl::exists(entities::table.select(entities::id))).get_result(c)?;
        // Raw SQL: the full-text table is FTS5's virtual table, not a declared one.
        let indexed: Option<i64> = diesel::sql_query("SELECT rowid FROM entity_text LIMIT 1")
            .load::<Rowid>(c)?
            .into_iter()
            .next()
            .map(|r| r.rowid);
        if !any || indexed.is_some() {
            return Ok::<_, anyhow::Error>(false);
        }
        // Raw SQL: FTS5's 'delete-all' command and an insert from a grouped select.
        c.batch_execute(FULLTEXT_FILL)?;
        Ok(true)
    })?;
    Ok(filled)
}

#[derive(QueryableByName)]
struct Rowid {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rowid: i64,
}

/// True while a first load defers the indexes on SQLite: its publishes leave the full-text
/// rows to [`fill_fulltext`].
pub fn fulltext_deferred(pool: &Pool) -> anyhow::Result<bool> {
    let Pool::Sqlite(p, _) = pool else { return Ok(false) };
    // Raw SQL: the schema table is SQLite's own, not a declared table.
    let found = diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?")
        .bind::<diesel::sql_types::Text, _>(FULLTEXT_MARK)
        .load::<IndexName>(&mut p.get()?)?;
    Ok(found.is_empty())
}

/// Serialises index builds of instances starting together on one PostgreSQL database.
const BUILD_LOCK: i64 = 0x706f_7274_6f6c_0002;

fn indexes(backend: Backend) -> &'static [(&'static str, &'static str)] {
    match backend {
        Backend::Sqlite => SQLITE_INDEXES,
        Backend::Postgres => POSTGRES_INDEXES,
    }
}

/// Readies the catalog for a load: with `defer`, drops the deferred indexes if the catalog holds
/// no entity yet and answers true (the caller builds them after the load); otherwise builds any
/// index a load cut off earlier left missing, and answers false.
pub fn prepare(pool: &Pool, defer: bool) -> anyhow::Result<bool> {
    if defer && defer_indexes(pool)? {
        return Ok(true);
    }
    build_indexes(pool)?;
    fill_fulltext(pool)?;
    Ok(false)
}

/// Drops the deferred indexes when the catalog holds no entity yet; true when it did.
fn defer_indexes(pool: &Pool) -> anyhow::Result<bool> {
    let drops: String =
        indexes(pool.backend()).iter().map(|(name, _)| format!("DROP INDEX IF EXISTS {name};")).collect();
    let deferred = with_conn!(pool, |c| {
        c.transaction(|c| {
            let any: Option<String> = entities::table.select(entities::id).first(c).optional()?;
            if any.is_some() {
                return Ok::<_, anyhow::Error>(false);
            }
            // Raw SQL: DROP INDEX is DDL, which the DSL does not write.
            c.batch_execute(&drops)?;
            Ok(true)
        })
    })?;
    if deferred {
        tracing::info!("The catalog is empty: its search and relation indexes are built after the load.");
    }
    Ok(deferred)
}

/// Creates whichever deferred index is missing. On PostgreSQL each index builds on a connection
/// of its own, at the same time (building different indexes of one table does not conflict), and
/// under a lock of its own, so two instances starting together never create the same one twice.
pub fn build_indexes(pool: &Pool) -> anyhow::Result<()> {
    let create = |name: &str, def: &str| format!("CREATE INDEX IF NOT EXISTS {name} {def};");
    // Looked up first: even a CREATE INDEX that finds its index takes the table's share lock,
    // which would make a starting instance wait for (and hold up) another one's writes.
    // Raw SQL: the index catalog (pg_indexes, sqlite_master) is the backend's own, not a declared table.
    let present: Vec<String> = with_conn!(pool, |c| diesel::sql_query(present_sql(pool.backend()))
        .load::<IndexName>(c))?
    .into_iter()
    .map(|r| r.name)
    .collect();
    let missing: Vec<(usize, &(&str, &str))> = indexes(pool.backend())
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| !present.iter().any(|p| p == name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    match pool {
        Pool::Sqlite(p, _) => {
            let all: String = missing.iter().map(|(_, (name, def))| create(name, def)).collect();
            // Raw SQL: CREATE INDEX is DDL, which the DSL does not write.
            p.get()?.transaction(|c| c.batch_execute(&all))?;
        }
        Pool::Postgres(p, _) => std::thread::scope(|s| {
            let builds: Vec<_> = missing
                .iter()
                .map(|&(i, (name, def))| {
                    // A GIN index builds faster with more than the default 64 MB of sort memory.
                    let sql = format!(
                        "SELECT pg_advisory_xact_lock({}); SET LOCAL maintenance_work_mem = '256MB'; {}",
                        BUILD_LOCK + i as i64,
                        create(name, def)
                    );
                    s.spawn(move || -> anyhow::Result<()> {
                        // Raw SQL: an advisory lock, SET LOCAL and CREATE INDEX: PostgreSQL statements the DSL
                        // does not write.
                        p.get()?.transaction(|c| c.batch_execute(&sql))?;
                        Ok(())
                    })
                })
                .collect();
            builds.into_iter().try_for_each(|b| b.join().map_err(|_| anyhow::anyhow!("an index build panicked"))?)
        })?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Sql {
        #[diesel(sql_type = Text)]
        sql: String,
    }

    /// The definitions here are those the migrations create, and a drop and build restore them.
    #[test]
    fn deferred_indexes_are_the_migrated_ones_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("p.db").display()), 2).unwrap();
        let read = |pool: &Pool| -> Vec<String> {
            let Pool::Sqlite(p, _) = pool else { unreachable!() };
            let mut c = p.get().unwrap();
            let mut out: Vec<String> = diesel::sql_query(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('search', 'relations') \
                 AND sql IS NOT NULL ORDER BY name",
            )
            .load::<Sql>(&mut c)
            .unwrap()
            .into_iter()
            .map(|r| r.sql)
            .collect();
            out.sort();
            out
        };
        let migrated = read(&pool);
        let mut ours: Vec<String> =
            SQLITE_INDEXES.iter().map(|(name, def)| format!("CREATE INDEX {name} {def}")).collect();
        ours.sort();
        assert_eq!(migrated, ours);
        assert!(!fulltext_deferred(&pool).unwrap());
        assert!(defer_indexes(&pool).unwrap());
        assert!(read(&pool).is_empty());
        assert!(fulltext_deferred(&pool).unwrap());
        build_indexes(&pool).unwrap();
        assert_eq!(read(&pool).len(), ours.len());
        assert!(!fulltext_deferred(&pool).unwrap());
    }

    /// Rows written while the indexes were deferred are found by full text once the index is
    /// filled; an index with rows is left alone.
    #[test]
    fn a_deferred_load_fills_the_full_text_index_at_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("p.db").display()), 2).unwrap();
        let Pool::Sqlite(p, _) = &pool else { unreachable!() };
        assert!(defer_indexes(&pool).unwrap());
        let mut c = p.get().unwrap();
        c.batch_execute(
            "INSERT INTO entities (id, entity_ref, kind, namespace, name, source, hash, etag, body, created_at, updated_at) \
             VALUES ('u1', 'component:default/alpha', 'component', 'default', 'alpha', 's', 'h', 'h', '{}', 0, 0), \
                    ('u2', 'component:default/beta', 'component', 'default', 'beta', 's', 'h', 'h', '{}', 0, 0); \
             INSERT INTO search (entity_id, key, value) VALUES ('u1', 'metadata.name', 'alpha'), \
                    ('u1', 'spec.owner', 'payments'), ('u1', 'spec.team', 'payments'), ('u2', 'metadata.name', 'beta'), \
                    ('u2', 'spec.owner', '');",
        )
        .unwrap();
        build_indexes(&pool).unwrap();
        assert!(fill_fulltext(&pool).unwrap());
        assert!(!fill_fulltext(&pool).unwrap());
        let matching = |c: &mut diesel::SqliteConnection, term: &str| -> Vec<i64> {
            diesel::sql_query("SELECT rowid FROM entity_text WHERE entity_text MATCH ? ORDER BY rowid")
                .bind::<Text, _>(format!("\"{term}\""))
                .load::<Rowid>(c)
                .unwrap()
                .into_iter()
                .map(|r| r.rowid)
                .collect()
        };
        assert_eq!(matching(&mut c, "ayme").len(), 1);
        assert_eq!(matching(&mut c, "eta").len(), 1);
        assert!(matching(&mut c, "gamma").is_empty());
        assert_ne!(matching(&mut c, "ayme"), matching(&mut c, "eta"));
    }
}
