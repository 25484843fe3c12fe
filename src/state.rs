//! What every handler can reach: infrastructure only (the pool, settings, metrics, the read
//! cache; for now also sign-in and the instance's liveness). Each domain registers its own
//! `web::Data` (`Governance`, `Offerings`, `Usage`, `Discovery`, the catalog's `Catalog`) through
//! its front door. This module imports no handler, so handlers, routes and `startup` all depend
//! on it and it on none of them.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::catalog::cache::ReadCache;
use crate::db::Pool;
use crate::settings::Settings;

/// The application state, shared by every worker.
pub struct AppState {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Served entities and repeated answers, dropped when the catalog changes.
    pub cache: Arc<ReadCache>,
    /// Sign-in, tokens and the access policy (the edge's, for every route).
    pub auth: Arc<crate::auth::AuthState>,
    /// Background work (the refresh loop, the catch-up of listeners) runs while this lives.
    pub alive: Arc<()>,
    /// This instance's heartbeat, so others take over its leases only once it stopped.
    pub heartbeat: crate::db::instances::Heartbeat,
}
