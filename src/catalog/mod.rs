//! The software catalog: the entity model, descriptor parsing, validation, relations, reading
//! and ingestion of locations, storage, and the Backstage-compatible HTTP API.
//!
//! The catalog knows nothing of the domains built on it: it announces its changes, and asks for
//! extra status items, through [`seam`] alone.
//!
//! Its store (`store/`, every catalog table and all catalog SQL) is private. Other domains, the
//! start-up wiring and the CLI read the catalog through [`facade`] (entity bodies and relations,
//! provenance, the change feed, locations) and change it through [`ingest::Ingestor`] only.

pub mod cache;
pub mod descriptor;
pub mod entity_api;
pub mod facade;
pub mod feed;
pub mod fetch;
pub mod filter;
pub mod follow;
pub mod handlers;
pub mod ingest;
pub mod model;
pub mod query;
pub mod read;
pub mod refresh;
pub mod register;
pub mod relations;
pub mod roadmap;
pub mod routes;
pub mod rules;
pub mod scorecard;
pub mod seam;
pub mod search;
pub mod settings;
mod store;
pub mod validate;
pub mod view;

/// What the catalog's handlers reach: the root registers it as `web::Data<Catalog>`. It names
/// nothing outside the catalog.
pub struct Catalog {
    pub pool: crate::db::Pool,
    /// Registration, processing and refresh, with the seam changes are announced to.
    pub ingestor: ingest::Ingestor,
    /// Served entities and repeated answers, dropped when the catalog changes.
    pub cache: std::sync::Arc<cache::ReadCache>,
    pub settings: settings::CatalogSettings,
    /// Long answers (the change feed's stream) end when this no longer upgrades.
    pub alive: std::sync::Weak<()>,
}

/// What the catalog's own services (the read cache, entity reads) fail with; the HTTP edge turns
/// it into an `ApiError`.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database could not be read or written.
    #[error("the catalog store failed: {0:#}")]
    Storage(#[from] anyhow::Error),
}
