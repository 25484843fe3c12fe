//! The software catalog: the entity model, descriptor parsing, validation, relations, reading
//! and ingestion of locations, storage, and the Backstage-compatible HTTP API.

pub mod descriptor;
pub mod entity_api;
pub mod feed;
pub mod fetch;
pub mod filter;
pub mod handlers;
pub mod ingest;
pub mod model;
pub mod query;
pub mod relations;
pub mod seam;
pub mod search;
pub mod store;
pub mod validate;
