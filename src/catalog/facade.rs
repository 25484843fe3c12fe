//! What the rest of the crate may read or call of the catalog's store. The store
//! (`catalog/store/`) is private to the catalog; these are the functions and row types other
//! domains (governance, offerings, discovery, auth), the org graph, the start-up wiring, the
//! CLI, `ops.rs`, the benches and the fuzz targets use. They are the store's own functions,
//! re-exported unchanged, so a caller outside the catalog reads exactly what the catalog reads,
//! through one door.
//! Nothing here writes entities: entities change only through `catalog::ingest::Ingestor`.
//!
//! ```text
//! entities       bodies_by_keys, bodies_of_kind, entity_exists, entity_sources, entities_by_leaf,
//!                provenance_of (EntityProvenance), relation_targets, count_by_kind
//! change feed    events_after (EventRow), first_event_id, last_event_id, changes_after,
//!                append_events (another domain's events into the feed, types outside `entity.*`),
//!                generation (the catalog generation: the org graph follows it)
//! locations      LocationRow, list_locations, get_location, find_location, find_or_create_location,
//!                locations_reading (the locations whose entities were read from these files)
//! loading        bulk::prepare, bulk::build_indexes (a first load's deferred indexes)
//! settings       OrphanStrategy
//! query SQL      sql (the query values compiled into SQL; the fuzz targets drive it)
//! ```

// Entities.
pub use super::store::{
    EntityProvenance, bodies_by_keys, bodies_of_kind, count_by_kind, entities_by_leaf, entity_exists, entity_sources,
    provenance_of, relation_targets,
};
// The change feed.
pub use super::store::{
    EventRow, append_events, changes_after, events_after, first_event_id, generation, last_event_id,
};
// Locations.
pub use super::store::{
    LocationRow, find_location, find_or_create_location, get_location, list_locations, locations_reading,
};
// Loading, settings, query compilation.
pub use super::store::{OrphanStrategy, bulk, sql};
