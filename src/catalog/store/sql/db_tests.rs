//! The query SQL against real databases (SQLite always, PostgreSQL when
//! `PORTOLAN_TEST_POSTGRES_URL` names a server), seeded through the store's publish.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

use super::super::{Incoming, OrphanStrategy};
use super::*;
use crate::catalog::model::EntityRef;
use crate::catalog::query::testing::strs;
use crate::catalog::query::*;
use crate::catalog::relations::Relation;
use crate::catalog::store;
use crate::db::{Pool, placeholders};
use crate::with_conn;

#[derive(QueryableByName)]
struct RefRow {
    #[diesel(sql_type = Text)]
    entity_ref: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// A fresh database with the real migrations; PostgreSQL ones are dropped afterwards.
struct TestDb {
    pool: Option<Pool>,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.pool.take();
        if let Some((base, name)) = &self.postgres
            && let Ok(mut admin) = diesel::pg::PgConnection::establish(base)
        {
            use diesel::connection::SimpleConnection;
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// SQLite always; PostgreSQL too when `PORTOLAN_TEST_POSTGRES_URL` names a server.
fn databases() -> Vec<TestDb> {
    let mut out = Vec::new();
    let dir = tempfile::Builder::new().prefix("portolan-query").tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    out.push(TestDb { pool: Some(Pool::connect(&url, 2).unwrap()), _dir: dir, postgres: None });
    if let Ok(base) = std::env::var("PORTOLAN_TEST_POSTGRES_URL")
        && !base.is_empty()
    {
        use diesel::connection::SimpleConnection;
        let name = format!("portolan_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::pg::PgConnection::establish(&base).expect("connect to PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let pool = Pool::connect(&format!("{prefix}/{name}"), 2).unwrap();
        let dir = tempfile::tempdir().unwrap();
        out.push(TestDb { pool: Some(pool), _dir: dir, postgres: Some((base, name)) });
    }
    out
}

fn ref_key(entity: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("default").to_ascii_lowercase();
    format!("{}:{}/{}", s(&entity["kind"]), s(&entity["metadata"]["namespace"]), s(&entity["metadata"]["name"]))
}

fn insert(pool: &Pool, entity: &Value, relations: &[(&'static str, &str)]) {
    // Seeded through the store's own publish, one location per entity, as ingestion does.
    let key = ref_key(entity);
    let entity_ref = EntityRef::parse(&key, None, "default").unwrap();
    let mut rels = Vec::new();
    for (kind, target) in relations {
        let target_ref = EntityRef::parse(target, None, "default").unwrap();
        rels.push(Relation { source: entity_ref.clone(), kind, target: target_ref.clone() });
        // Every relation is stored with its inverse, as validation derives them.
        let inverse = crate::catalog::relations::inverse_of(kind).unwrap_or(kind);
        rels.push(Relation { source: target_ref, kind: inverse, target: entity_ref.clone() });
    }
    let (location, _) = store::find_or_create_location(pool, "file", &format!("/test/{key}"), "test").unwrap();
    let incoming = Incoming {
        entity_ref,
        source: "test".into(),
        line: None,
        value: entity.clone(),
        relations: rels,
        parent: None,
    };
    store::publish(
        pool,
        &location.id,
        vec![incoming],
        &HashSet::new(),
        &HashSet::new(),
        OrphanStrategy::Delete,
        &HashMap::new(),
    )
    .unwrap();
}

fn refs(pool: &Pool, sql: &str, binds: &[String]) -> Vec<String> {
    let sql = placeholders(sql, pool.backend());
    let run = || -> anyhow::Result<Vec<String>> {
        with_conn!(pool, |c| {
            let mut q = diesel::sql_query(sql.clone()).into_boxed::<Db>();
            for b in binds {
                q = q.bind::<Text, _>(b.clone());
            }
            let rows: Vec<RefRow> = q.load(c)?;
            Ok(rows.into_iter().map(|r| r.entity_ref).collect())
        })
    };
    run().unwrap_or_else(|e| panic!("{e}: {sql}"))
}

fn count(pool: &Pool, sql: &str, binds: &[String]) -> i64 {
    let sql = placeholders(sql, pool.backend());
    let run = || -> anyhow::Result<i64> {
        with_conn!(pool, |c| {
            let mut q = diesel::sql_query(sql.clone()).into_boxed::<Db>();
            for b in binds {
                q = q.bind::<Text, _>(b.clone());
            }
            let row: CountRow = q.get_result(c)?;
            Ok(row.count)
        })
    };
    run().unwrap()
}

fn entity(kind: &str, name: &str, metadata: Value, spec: Value) -> Value {
    let mut m = metadata;
    m["name"] = json!(name);
    json!({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": m, "spec": spec})
}

fn seed(pool: &Pool) {
    let team_a = [("ownedBy", "group:default/team-a")];
    let team_b = [("ownedBy", "group:default/team-b")];
    insert(
        pool,
        &entity(
            "Component",
            "alpha",
            json!({"title": "Alpha Service", "tags": ["java", "web"]}),
            json!({"type": "service", "owner": "team-a", "lifecycle": "production"}),
        ),
        &team_a,
    );
    insert(
        pool,
        &entity(
            "Component",
            "beta",
            json!({"title": "beta site", "description": "version 2.0 site", "tags": ["python"]}),
            json!({"type": "website", "owner": "team-b", "lifecycle": "experimental"}),
        ),
        &team_b,
    );
    insert(
        pool,
        &entity(
            "Component",
            "gamma_1",
            json!({}),
            json!({"type": "service", "owner": "team-c", "lifecycle": "production"}),
        ),
        &[("ownedBy", "group:default/team-c")],
    );
    insert(
        pool,
        &entity(
            "Component",
            "gammax1",
            json!({"title": "Gamma X", "tags": ["go"]}),
            json!({"type": "library", "owner": "team-a"}),
        ),
        &team_a,
    );
    insert(
        pool,
        &entity("API", "payments", json!({"tags": ["web"]}), json!({"type": "openapi", "owner": "Team-A"})),
        &team_a,
    );
    insert(
        pool,
        &entity("Group", "team-a", json!({}), json!({"type": "team"})),
        &[("ownerOf", "component:default/alpha"), ("ownerOf", "api:default/payments")],
    );
    insert(pool, &entity("System", "shop", json!({"description": "100% uptime"}), json!({"owner": "team-b"})), &team_b);
}

fn matching(pool: &Pool, (cond, binds): (String, Vec<String>)) -> Vec<String> {
    refs(pool, &format!("SELECT e.entity_ref FROM entities e WHERE {cond} ORDER BY e.entity_ref"), &binds)
}

fn query(pool: &Pool, q: Value) -> Vec<String> {
    matching(pool, predicate_sql(&parse_predicate(&q).unwrap()))
}

#[test]
fn predicates_select_the_right_entities() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        assert_eq!(
            query(pool, json!({"kind": "COMPONENT", "spec.owner": "Team-A"})),
            strs(&["component:default/alpha", "component:default/gammax1"])
        );
        assert_eq!(
            query(pool, json!({"spec.type": {"$in": ["website", "OpenAPI"]}})),
            strs(&["api:default/payments", "component:default/beta"])
        );
        assert_eq!(
            query(pool, json!({"kind": "component", "spec.lifecycle": {"$exists": false}})),
            strs(&["component:default/gammax1"])
        );
        assert_eq!(
            query(pool, json!({"$all": [{"kind": "component"}, {"$not": {"metadata.tags": "web"}}]})),
            strs(&["component:default/beta", "component:default/gamma_1", "component:default/gammax1"])
        );
        assert_eq!(
            query(pool, json!({"$any": [{"kind": "system"}, {"metadata.tags.go": true}]})),
            strs(&["component:default/gammax1", "system:default/shop"])
        );
        assert!(query(pool, json!({"$any": []})).is_empty());
        assert_eq!(query(pool, json!({"$all": []})).len(), 7);
    }
}

#[test]
fn has_prefix_treats_wildcards_literally() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        assert_eq!(
            query(pool, json!({"metadata.name": {"$hasPrefix": "GAMMA_"}})),
            strs(&["component:default/gamma_1"])
        );
        assert_eq!(
            query(pool, json!({"metadata.name": {"$hasPrefix": "gamma"}})),
            strs(&["component:default/gamma_1", "component:default/gammax1"])
        );
        assert!(query(pool, json!({"metadata.name": {"$hasPrefix": "%"}})).is_empty());
        assert_eq!(
            query(pool, json!({"metadata.description": {"$hasPrefix": "100%"}})),
            strs(&["system:default/shop"])
        );
    }
}

#[test]
fn relation_predicates_read_the_relations_table() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        assert_eq!(
            query(pool, json!({"relations.ownedBy": "Group:Default/Team-A"})),
            strs(&["api:default/payments", "component:default/alpha", "component:default/gammax1"])
        );
        assert_eq!(query(pool, json!({"relations.ownerof": {"$hasPrefix": "api:"}})), strs(&["group:default/team-a"]));
        assert_eq!(query(pool, json!({"relations.ownedby": {"$exists": false}})), strs(&["group:default/team-a"]));
        assert!(query(pool, json!({"relations.lovedby": "x"})).is_empty());
        assert_eq!(query(pool, json!({"relations.lovedby": {"$exists": false}})).len(), 7);
    }
}

#[test]
fn filter_parameters_and_predicates_agree() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        let sets = crate::catalog::filter::parse(&strs(&[
            "kind=component,spec.type=service,spec.type=library",
            "kind=system,spec.owner",
        ]))
        .unwrap();
        let from_filter = matching(pool, predicate_sql(&filter_sets_to_predicate(&sets)));
        let from_query = query(
            pool,
            json!({"$any": [{"kind": "component", "spec.type": {"$in": ["service", "library"]}},
                            {"kind": "system", "spec.owner": {"$exists": true}}]}),
        );
        assert_eq!(from_filter, from_query);
        assert_eq!(from_filter.len(), 4);
    }
}

#[test]
fn full_text_matches_substrings_case_insensitively() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        assert_eq!(
            matching(pool, fulltext_sql(" TEAM-a ", &[], pool.backend())),
            strs(&[
                "api:default/payments",
                "component:default/alpha",
                "component:default/gammax1",
                "group:default/team-a"
            ])
        );
        assert_eq!(
            matching(pool, fulltext_sql("GAMMA", &strs(&["metadata.name"]), pool.backend())),
            strs(&["component:default/gamma_1", "component:default/gammax1"])
        );
        // Escaped wildcards: "a_1" must not match "gammax1", "0%" must not match "2.0 site".
        assert_eq!(
            matching(pool, fulltext_sql("a_1", &strs(&["metadata.name"]), pool.backend())),
            strs(&["component:default/gamma_1"])
        );
        assert_eq!(matching(pool, fulltext_sql("0%", &[], pool.backend())), strs(&["system:default/shop"]));
        assert_eq!(
            matching(pool, fulltext_sql("team-b", &strs(&["relations.ownedBy"]), pool.backend())),
            strs(&["component:default/beta", "system:default/shop"])
        );
    }
}

fn ordered(pool: &Pool, order: &[OrderField]) -> Vec<String> {
    let (joins, order_by, binds) = order_sql(order);
    refs(pool, &format!("SELECT e.entity_ref FROM entities e{joins} ORDER BY {order_by}"), &binds)
}

#[test]
fn ordering_puts_entities_without_the_field_last_in_both_directions() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        let nulls =
            ["api:default/payments", "component:default/gamma_1", "group:default/team-a", "system:default/shop"];
        let mut asc = strs(&["component:default/alpha", "component:default/beta", "component:default/gammax1"]);
        asc.extend(strs(&nulls));
        assert_eq!(ordered(pool, &[OrderField::asc("metadata.title")]), asc);
        let mut desc = strs(&["component:default/gammax1", "component:default/beta", "component:default/alpha"]);
        desc.extend(strs(&nulls));
        assert_eq!(ordered(pool, &[OrderField::desc("METADATA.TITLE")]), desc);
    }
}

#[test]
fn ordering_by_several_fields_and_by_relations_works() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        assert_eq!(
            ordered(pool, &[OrderField::desc("kind"), OrderField::asc("metadata.name")])[..3],
            strs(&["system:default/shop", "group:default/team-a", "component:default/alpha"])
        );
        assert_eq!(
            ordered(pool, &[OrderField::desc("relations.ownedby")])[..2],
            strs(&["component:default/gamma_1", "component:default/beta"])
        );
        // Multi-valued fields sort by their smallest value ascending, as sort_values says.
        let rows = ordered(pool, &[OrderField::asc("metadata.tags")]);
        assert_eq!(
            rows[..4],
            strs(&[
                "component:default/gammax1",
                "component:default/alpha",
                "component:default/beta",
                "api:default/payments"
            ])
        );
    }
}

fn all_rows(pool: &Pool) -> Vec<(String, Value)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        entity_ref: String,
        #[diesel(sql_type = Text)]
        body: String,
    }
    let run = || -> anyhow::Result<Vec<(String, Value)>> {
        with_conn!(pool, |c| {
            let rows: Vec<Row> = diesel::sql_query("SELECT entity_ref, body FROM entities").load(c)?;
            Ok(rows.into_iter().map(|r| (r.entity_ref, serde_json::from_str(&r.body).unwrap())).collect())
        })
    };
    run().unwrap()
}

/// Runs one page of `cursor` and returns its refs and cursors, as a handler would.
fn page(pool: &Pool, cursor: &Cursor, limit: u64) -> Page<String> {
    let bodies: std::collections::HashMap<String, Value> = all_rows(pool).into_iter().collect();
    let q = cursor.sql(pool.backend());
    let total = match cursor.total_items {
        Some(t) => t,
        None => {
            let (sql, binds) = q.count_sql();
            count(pool, &sql, &binds) as u64
        }
    };
    let (sql, binds) = q.page_sql("e.entity_ref", Some(limit), 0);
    let rows = refs(pool, &sql, &binds);
    paginate(cursor, total, rows, limit, |r| Position {
        values: sort_values(&bodies[r], &cursor.order_fields),
        entity_ref: r.clone(),
    })
}

#[test]
fn cursor_pages_walk_the_whole_order_forward_and_back() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        for order in [
            vec![OrderField::asc("metadata.title")],
            vec![OrderField::desc("metadata.title")],
            vec![OrderField::desc("metadata.tags"), OrderField::asc("spec.lifecycle")],
            vec![],
        ] {
            let expected = ordered(pool, &order);
            let start = Cursor { order_fields: order.clone(), ..Cursor::default() };
            let mut pages = vec![page(pool, &start, 2)];
            while let Some(next) = pages.last().unwrap().next_cursor.clone() {
                let decoded = decode(&encode(&next)).unwrap();
                assert_eq!(decoded.total_items, Some(7));
                pages.push(page(pool, &decoded, 2));
            }
            let forward: Vec<String> = pages.iter().flat_map(|p| p.items.clone()).collect();
            assert_eq!(forward, expected, "forward, order {order:?}");
            assert_eq!(pages.len(), 4);
            // Back from the last page through the previous cursors.
            let mut back = vec![pages.last().unwrap().items.clone()];
            let mut prev = pages.last().unwrap().prev_cursor.clone();
            while let Some(c) = prev {
                let p = page(pool, &decode(&encode(&c)).unwrap(), 2);
                back.push(p.items.clone());
                assert!(p.next_cursor.is_some());
                prev = p.prev_cursor;
            }
            back.reverse();
            let expected_pages: Vec<Vec<String>> = pages.iter().map(|p| p.items.clone()).collect();
            assert_eq!(back, expected_pages, "backward, order {order:?}");
        }
    }
}

#[test]
fn cursor_pages_stay_stable_when_entities_are_added_before_the_position() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        let start = Cursor { order_fields: vec![OrderField::asc("metadata.title")], ..Cursor::default() };
        let first = page(pool, &start, 2);
        assert_eq!(first.items, strs(&["component:default/alpha", "component:default/beta"]));
        insert(pool, &entity("Component", "aardvark", json!({"title": "Aardvark"}), json!({})), &[]);
        let second = page(pool, first.next_cursor.as_ref().unwrap(), 2);
        assert_eq!(second.items, strs(&["component:default/gammax1", "api:default/payments"]));
        // totalItems was counted once, on the first page.
        assert_eq!(second.next_cursor.unwrap().total_items, Some(7));
    }
}

#[test]
fn the_count_and_page_follow_filters_and_full_text() {
    for db in databases() {
        let pool = db.pool();
        seed(pool);
        let start = Cursor {
            filter: Some(filter_sets_to_predicate(&crate::catalog::filter::parse(&strs(&["kind=component"])).unwrap())),
            full_text_filter: FullTextFilter::new("A", &strs(&["metadata.name"])),
            order_fields: vec![OrderField::desc("metadata.name")],
            ..Cursor::default()
        };
        let p = page(pool, &start, 2);
        assert_eq!(p.items, strs(&["component:default/gammax1", "component:default/gamma_1"]));
        assert_eq!(p.next_cursor.as_ref().unwrap().total_items, Some(4));
        let p = page(pool, p.next_cursor.as_ref().unwrap(), 2);
        assert_eq!(p.items, strs(&["component:default/beta", "component:default/alpha"]));
        assert!(p.next_cursor.is_none());
        let (sql, binds) = start.sql(pool.backend()).page_sql("e.entity_ref", Some(1), 3);
        assert_eq!(refs(pool, &sql, &binds), strs(&["component:default/alpha"]));
    }
}

#[path = "../../../../examples/gencatalog/generate.rs"]
mod gencatalog;

/// Loads the synthetic catalog of `examples/gencatalog` (`n` entities, 250 per file) through the
/// real ingestion path, as `serve --catalog` does.
fn load_generated(pool: &Pool, n: usize, dir: &std::path::Path) {
    let (files, _) = gencatalog::generate(n, 250);
    for (i, body) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("catalog-{i:03}.yaml")), body).unwrap();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::catalog::validate::init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let settings = crate::settings::Settings::default();
        let mut ing = crate::startup::ingestor(&settings, pool.clone(), Default::default()).unwrap();
        ing.bulk = true;
        let mut rows = Vec::new();
        for f in crate::startup::descriptor_files(dir).unwrap() {
            let target = crate::catalog::ingest::absolute(&f).display().to_string();
            rows.push(store::find_or_create_location(pool, "file", &target, "test").unwrap().0);
        }
        for (_, r) in ing.process_all(rows).await {
            r.unwrap();
        }
    });
}

#[derive(QueryableByName)]
struct Leaf {
    #[diesel(sql_type = Text)]
    entity_ref: String,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    value: String,
}

/// Every search row and relation row as `(ref, key, value)`, relations as `relations.<type>`.
fn leaves(pool: &Pool) -> Vec<Leaf> {
    (|| -> anyhow::Result<Vec<Leaf>> {
        with_conn!(pool, |c| {
            let mut rows: Vec<Leaf> = diesel::sql_query(
                "SELECT e.entity_ref, s.key, s.value FROM search s JOIN entities e ON e.id = s.entity_id",
            )
            .load(c)?;
            rows.extend(
                diesel::sql_query(
                    "SELECT source_key AS entity_ref, 'relations.' || LOWER(type) AS key, target_key AS value FROM relations",
                )
                .load::<Leaf>(c)?,
            );
            Ok(rows)
        })
    })()
    .unwrap()
}

/// Today's substring semantics, computed without SQL from [`leaves`]: the entities (by ref) some
/// value of the named fields (any field when none) contains the trimmed, lower-cased term;
/// `relations.<type>` fields by target ref.
fn substring_oracle(leaves: &[Leaf], term: &str, fields: &[String]) -> Vec<String> {
    let term = term.trim().to_lowercase();
    let fields = normalize_fields(fields);
    let wanted = |key: &str| {
        if fields.is_empty() {
            return !key.starts_with("relations.");
        }
        fields.iter().any(|f| match f.strip_prefix("relations.") {
            Some(t) => canonical_type(t).is_some_and(|t| key == format!("relations.{}", t.to_lowercase())),
            None => f == key,
        })
    };
    let mut out: Vec<String> = leaves
        .iter()
        .filter(|l| wanted(&l.key) && l.value.contains(&term))
        .map(|l| l.entity_ref.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    out.sort();
    out
}

/// The terms the equality test asks for: substrings of 1 to 8 characters at several offsets of a
/// spread of the stored values, the values whole, and terms chosen to trip an index up (LIKE
/// wildcards, FTS5 syntax, quotes, the line separator of the index, non-ASCII text, misses).
fn probe_terms(pool: &Pool) -> Vec<String> {
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let values: Vec<String> = (|| -> anyhow::Result<Vec<String>> {
        with_conn!(pool, |c| {
            let rows: Vec<V> =
                diesel::sql_query("SELECT DISTINCT value FROM search WHERE value <> '' ORDER BY value").load(c)?;
            Ok(rows.into_iter().map(|v| v.value).collect())
        })
    })()
    .unwrap();
    let mut terms: Vec<String> = Vec::new();
    let step = (values.len() / 16).max(1);
    for v in values.iter().step_by(step) {
        let chars: Vec<char> = v.chars().collect();
        terms.push(v.clone());
        for len in 1..=8usize.min(chars.len()) {
            for start in [0, chars.len().saturating_sub(len) / 2, chars.len() - len] {
                terms.push(chars[start..start + len].iter().collect());
            }
        }
    }
    for t in [
        "comp-0001",
        "COMP-00010",
        "team-0000",
        "api-00001",
        "tru",
        "true",
        "dir:.",
        "rust",
        "java",
        "bench",
        "component 1",
        "production",
        "group:default/team-000001",
        "%",
        "_",
        "\\",
        "0%",
        "a_1",
        "%_%",
        "\"",
        "\"\"x",
        "e\"x",
        "NEAR(a b)",
        "a OR b",
        "*",
        "^comp",
        "comp*",
        "o'brien",
        "straße",
        "STRASSE",
        "ürün",
        "日本語",
        "本語",
        "line\none",
        "e\nl",
        "zzzqqq",
        "  spaced term  ",
    ] {
        terms.push(t.to_owned());
    }
    // A blank term filters nothing (not a substring question).
    terms.retain(|t| !t.trim().is_empty());
    terms.sort();
    terms.dedup();
    terms
}

#[test]
fn indexed_full_text_equals_the_substring_scan_on_a_generated_catalog() {
    for db in databases() {
        let pool = db.pool();
        let dir = tempfile::tempdir().unwrap();
        load_generated(pool, 1_200, dir.path());
        // Values the generated catalog lacks: non-ASCII, quotes, a line break, one over-long value
        // (not searchable), and one entity rewritten and one deleted (the index follows both).
        let odd =
            json!({"title": "Straße ÜRÜN 日本語", "description": "O'Brien said \"hi\"\nline one", "tags": ["e-x"]});
        insert(pool, &entity("Component", "odd-one", odd, json!({"type": "service", "owner": "team-000001"})), &[]);
        let long = "a".repeat(300) + " needle-in-long";
        insert(pool, &entity("Component", "long-one", json!({ "description": long }), json!({"type": "x"})), &[]);
        insert(pool, &entity("Component", "gone-one", json!({"title": "vanishing"}), json!({"type": "x"})), &[]);
        let renamed = json!({"title": "Renamed Title"});
        insert(pool, &entity("Component", "odd-one", renamed, json!({"type": "service"})), &[]);
        let gone = store::get_entity(pool, "component:default/gone-one").unwrap().unwrap();
        let uid: Value = serde_json::from_str(&gone.body).unwrap();
        store::delete_entity_by_uid(pool, uid["metadata"]["uid"].as_str().unwrap()).unwrap();

        let field_sets =
            [strs(&[]), strs(&["metadata.name"]), strs(&["metadata.description", "spec.owner", "relations.ownedBy"])];
        let terms = probe_terms(pool);
        let leaves = leaves(pool);
        assert!(terms.len() > 150, "{} terms", terms.len());
        let (mut empty, mut some, mut many) = (0, 0, 0);
        for term in &terms {
            for fields in &field_sets {
                let expected = substring_oracle(&leaves, term, fields);
                let got = matching(pool, fulltext_sql(term, fields, pool.backend()));
                assert_eq!(got, expected, "term {term:?}, fields {fields:?}, on {:?}", pool.backend());
                match expected.len() {
                    0 => empty += 1,
                    1..=20 => some += 1,
                    _ => many += 1,
                }
            }
        }
        // The probes cover misses, selective terms and broad ones.
        assert!(empty > 20 && some > 100 && many > 100, "{empty} empty, {some} selective, {many} broad");
        assert!(substring_oracle(&leaves, "vanishing", &[]).is_empty());
        assert_eq!(
            matching(pool, fulltext_sql("renamed title", &[], pool.backend())),
            strs(&["component:default/odd-one"])
        );
        assert!(matching(pool, fulltext_sql("straße", &[], pool.backend())).is_empty());
        assert!(matching(pool, fulltext_sql("needle-in-long", &[], pool.backend())).is_empty());

        // Whole pages in Backstage's order too, the first one and the next, sorted both ways.
        for order in [vec![], vec![OrderField::desc("metadata.name")], vec![OrderField::asc("spec.type")]] {
            for term in ["comp-0001", "team", "api-00001", "e"] {
                let ft = FullTextFilter::new(term, &[]);
                let cursor = Cursor { full_text_filter: ft, order_fields: order.clone(), ..Cursor::default() };
                let first = page(pool, &cursor, 7);
                let mut all = substring_oracle(&leaves, term, &[]);
                all.sort();
                assert_eq!(first.items.len(), 7.min(all.len()), "{term}");
                let scan = cursor.sql(Backend::Postgres);
                let (sql, binds) = scan.page_sql("e.entity_ref", Some(6), 0);
                let plain = refs(pool, &sql, &binds);
                assert_eq!(first.items, plain, "{term} {order:?}");
                if let Some(next) = &first.next_cursor {
                    let second = page(pool, next, 7);
                    assert!(second.items.iter().all(|k| all.binary_search(k).is_ok() && !first.items.contains(k)));
                }
            }
        }

        // And the index is what answers a term of 3 characters or more.
        let (cond, binds) = fulltext_sql("comp-0001", &[], pool.backend());
        let plan = explain(pool, &format!("SELECT e.entity_ref FROM entities e WHERE {cond}"), &binds);
        let index = if pool.backend() == Backend::Sqlite { "VIRTUAL TABLE INDEX" } else { "search_value_trgm_idx" };
        assert!(plan.contains(index), "{plan}");
    }
}

/// The query plan of a statement, as text.
fn explain(pool: &Pool, sql: &str, binds: &[String]) -> String {
    #[derive(QueryableByName)]
    struct SqlitePlan {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    #[derive(QueryableByName)]
    struct PgPlan {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let sql = placeholders(sql, pool.backend());
    let run = || -> anyhow::Result<String> {
        match pool {
            Pool::Sqlite(p, _) => {
                let c = &mut *p.get()?;
                let mut q =
                    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).into_boxed::<diesel::sqlite::Sqlite>();
                for b in binds {
                    q = q.bind::<Text, _>(b.clone());
                }
                Ok(q.load::<SqlitePlan>(c)?.into_iter().map(|r| r.detail).collect::<Vec<_>>().join("\n"))
            }
            Pool::Postgres(p, _) => {
                let c = &mut *p.get()?;
                // The test catalog is small enough for a sequential scan to win: the question
                // here is whether the index can answer.
                diesel::sql_query("SET enable_seqscan = off").execute(c)?;
                let mut q = diesel::sql_query(format!("EXPLAIN {sql}")).into_boxed::<diesel::pg::Pg>();
                for b in binds {
                    q = q.bind::<Text, _>(b.clone());
                }
                let plan = q.load::<PgPlan>(c)?.into_iter().map(|r| r.line).collect::<Vec<_>>().join("\n");
                diesel::sql_query("RESET enable_seqscan").execute(c)?;
                Ok(plan)
            }
        }
    };
    run().unwrap()
}
