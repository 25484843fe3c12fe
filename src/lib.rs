//! portolan: an internal developer portal backend and software catalog.
//!
//! The module map (docs/ARCHITECTURE.md has the dependency rules and the seam drawn):
//!
//! - [`catalog`]: descriptor files (Backstage's `catalog-info.yaml`, plus Product and Platform)
//!   read from locations ([`catalog::fetch`]), split and parsed ([`catalog::descriptor`]),
//!   validated ([`catalog::validate`]), turned into relations ([`catalog::relations`]), processed
//!   per location tree ([`catalog::ingest`], [`catalog::register`], [`catalog::refresh`]) and
//!   published in one transaction (its private store; others read [`catalog::facade`]); served ([`catalog::read`],
//!   [`catalog::cache`]) through Backstage's API ([`catalog::entity_api`], [`catalog::handlers`],
//!   [`catalog::feed`]) with pure query values ([`catalog::query`]). Its one outward contract is
//!   [`catalog::seam`]: it announces changes to listeners and asks a decorator for status items.
//! - [`domain`]: the front door every domain is built through (`Shared`, `Domain`, the hook
//!   lists, tasks); [`org`]: the org graph every domain reads.
//! - [`governance`]: products and platforms, governance findings and scorecards; a seam listener
//!   and the decorator.
//! - [`offerings`]: self-service API plans, subscriptions, API keys, the gateway check and
//!   outgoing webhooks; a seam listener that owns its own tables.
//! - [`usage`]: consumption (who calls which API, how much, how well) rolled up per minute, hour
//!   and day; the views, product KPIs and platform targets; findings handed to governance.
//! - [`delivery`]: the delivery office: roadmaps, dependencies between them, planned API changes,
//!   status updates and value reports per period.
//! - [`discovery`]: GitHub and GitLab discovery and push webhooks, through the catalog's ingestor.
//! - [`auth`]: identity, tokens, sign-in and the access rules ([`auth::policy::Rule`]) routes carry.
//! - [`cel`]: CEL, the language of scorecard checks and campaign filters (the one module that
//!   knows the `cel` crate).
//! - [`db`]: the pool (SQLite or PostgreSQL), migrations, the backend dispatcher, leases.
//! - The edge: [`routes`] (the route rows: each area's `routes.rs`, the edge's own, and the index the middleware reads), [`openapi`], [`error`] (the one error type),
//!   [`ops`], [`telemetry`], [`ui`] (the web UI's pages), [`wire`] (connections: JSON bodies for errors actix raises before any
//!   handler); [`state`] (what handlers reach), [`startup`] (the wiring), [`cli`] and [`config`].

pub mod auth;
pub mod catalog;
pub mod cel;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod discovery;
pub mod domain;
pub mod error;
pub mod governance;
pub mod health;
pub mod memory;
pub mod offerings;
pub mod openapi;
pub mod ops;
pub mod org;
pub mod routes;
pub mod rows;
pub mod scaffolder;
pub mod secret;
pub mod settings;
pub mod standards;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ui;
pub mod usage;
pub mod wire;
