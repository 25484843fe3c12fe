//! What governance takes from domains that measure (consumption, KPIs), without naming them:
//! a domain implements [`Measures`] and `startup.rs` registers it with [`super::Governance::measure_with`].
//!
//! Its findings are stored in the findings table beside governance's own, under the rules it
//! owns ([`EXTERNAL_RULES`]): governance's recomputations never touch those rows, and the source's
//! findings replace only their own rules' rows, with the portal's generation moved so served
//! entities and the read cache follow.

use std::collections::HashSet;

use super::model::Graph;
use super::rules::Finding;
use super::views::{KpiView, TargetView};
use crate::db::Pool;

/// Rules whose findings come from a [`Measures`] source.
pub const EXTERNAL_RULES: &[&str] = &[super::rules::UNDECLARED_CONSUMPTION, super::rules::UNUSED_DECLARED_DEPENDENCY];

/// A domain that measures what the catalog declares.
pub trait Measures: Send + Sync {
    /// The current findings of [`EXTERNAL_RULES`] over the model, or `None` when nothing they
    /// depend on changed since the last call (`generation`: the portal's, which moves with the
    /// catalog). Severity, file, line and owner are filled in by the portal.
    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<Finding>>>;

    /// `targets` of a platform's view: each declared target with its current value.
    fn platform_targets(&self, pool: &Pool, g: &Graph, platform: &str) -> anyhow::Result<Vec<TargetView>>;

    /// `kpis` of a product's view: each declared KPI with its values.
    fn product_kpis(&self, pool: &Pool, g: &Graph, product: &str) -> anyhow::Result<Vec<KpiView>>;

    /// Products with a KPI value reported at or after `since` (ms).
    fn kpis_reported_since(&self, pool: &Pool, since: i64) -> anyhow::Result<HashSet<String>>;
}
