//! All SQL of the catalog, by concern: [`locations`] (registered locations, conflicts, the ETag
//! cache of URL reads), [`publish`] (one location's entity set in one transaction), [`entities`]
//! (entity reads, facets, relation lookups), [`events`] (the change feed and the catalog
//! generation) and [`sql`] (the query values of `catalog::query` compiled into SQL).
//!
//! Entity JSON is stored whole (with `metadata.uid` and `metadata.etag`), without relations:
//! relations are read from the relations table when an entity is served, so an entity always
//! shows the relations other entities emit towards it without being rewritten. The catalog's
//! tables are read and written only here; other domains call these functions.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::model::EntityRef;
use super::relations::Relation;
use super::seam::CatalogChange;
use crate::db::lease::Leases;

/// Deletes entities and everything derived from them (works on either backend's connection);
/// evaluates to how many relation rows went with them.
macro_rules! delete_entities {
    ($c:expr, $ids:expr) => {{
        let mut relation_rows = 0usize;
        for chunk in $ids.chunks(500) {
            relation_rows += diesel::delete(relations::table.filter(relations::entity_id.eq_any(chunk))).execute($c)?;
            diesel::delete(search_t::table.filter(search_t::entity_id.eq_any(chunk))).execute($c)?;
            diesel::delete(entities::table.filter(entities::id.eq_any(chunk))).execute($c)?;
        }
        relation_rows
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

/// On PostgreSQL, takes the catalog version row lock at once (SQLite has one writer already).
/// Every transaction that can add or remove entity rows of several locations takes it first, so
/// two locations emitting the same new ref are checked one after the other (the second sees a
/// conflict, not a unique-key error), and they never wait on each other in opposite orders.
macro_rules! lock_catalog {
    ($c:expr, $postgres:expr) => {{
        if $postgres {
            // Raw SQL: diesel's `for_update()` builds for PostgreSQL only, and this body is expanded for
            // both backends (with_conn!); the statement runs on PostgreSQL alone.
            diesel::sql_query("SELECT generation FROM catalog_version WHERE id = 1 FOR UPDATE").execute($c)?;
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
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = crate::db::schema::locations)]
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
    /// What the publish changed, as the catalog announces it to its listeners (orphans kept in
    /// place count as updated).
    #[serde(skip)]
    pub change: CatalogChange,
    /// Whether anything the catalog serves changed (entities, or their status): the change
    /// feed and the read caches follow.
    pub served_changed: bool,
}

pub mod bulk;
pub mod entities;
pub mod events;
pub mod locations;
pub mod publish;
pub mod sql;

pub use entities::*;
pub use events::*;
pub use locations::*;
pub use publish::*;

/// Leases on locations: one instance at a time processes a location.
pub const LOCATION_LEASES: Leases = Leases::new("locations", "next_refresh_at");
