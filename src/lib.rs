//! portolan: an internal developer portal backend and software catalog.
//!
//! Descriptor files (Backstage's `catalog-info.yaml`, plus portolan's Product and Platform kinds)
//! are read from locations ([`catalog::fetch`]), split and parsed ([`catalog::descriptor`]),
//! validated against embedded JSON Schemas and Backstage's format rules ([`catalog::validate`]),
//! turned into relations ([`catalog::relations`]) and published per location in one transaction
//! ([`catalog::ingest`], [`catalog::store`]) on SQLite or PostgreSQL ([`db`]). The HTTP API
//! ([`routes`]) serves Backstage's `/api/catalog` surface behind [`auth`]; [`cli`] is the command line.
//! [`offerings`] adds self-service API plans, subscriptions, keys and the gateway check on top,
//! following the catalog through [`catalog::seam`].

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod offerings;
pub mod openapi;
pub mod ops;
pub mod portal;
pub mod providers;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
