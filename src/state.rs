//! What every handler can reach. This module imports no handler, so handlers, routes and
//! `startup` all depend on it and it on none of them.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::catalog::cache::ReadCache;
use crate::catalog::ingest::Ingestor;
use crate::db::Pool;
use crate::settings::Settings;

/// The application state, shared by every worker.
pub struct AppState {
    pub pool: Pool,
    /// Catalog ingestion, with the seam (listeners and decorator) it announces changes to.
    pub ingestor: Ingestor,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Served entities and repeated answers, dropped when the catalog changes.
    pub cache: Arc<ReadCache>,
    /// Sign-in, tokens and the access policy.
    pub auth: Arc<crate::auth::AuthState>,
    /// The domains' engines, until their handlers extract their own `web::Data` (each domain
    /// registers it; these are the same `Arc`s, found in the domains' data by type).
    pub governance: Arc<crate::governance::Governance>,
    pub discovery: Arc<crate::discovery::Discovery>,
    pub offerings: Arc<crate::offerings::Offerings>,
    pub usage: Arc<crate::usage::Usage>,
    /// Background work (the refresh loop, the catch-up of listeners) runs while this lives.
    pub alive: Arc<()>,
    /// This instance's heartbeat, so others take over its leases only once it stopped.
    pub heartbeat: crate::db::instances::Heartbeat,
}
