//! The org graph: who belongs to which product, platform and team.
//!
//! [`graph`] holds the model (entities with the edges their descriptors declare, membership
//! resolved component → system → product or platform → owning team, and the dependency graph),
//! pure and built from stored entities or from files. [`Org`] serves a snapshot of the stored
//! catalog to every domain through `crate::domain::Shared`, rebuilt when the catalog's
//! generation moves, so usage, offerings, governance and the domains to come learn who owns what
//! here, not from one another.

pub mod graph;

use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use graph::{Entity, Graph};

use crate::catalog::store as catalog_store;
use crate::db::Pool;

/// Stored entities as the model sees them: every one, or those with the given ref keys.
pub fn load_entities(pool: &Pool, keys: Option<&[String]>) -> anyhow::Result<Vec<Entity>> {
    let rows = catalog_store::entity_sources(pool, keys)?;
    Ok(rows
        .into_iter()
        .filter_map(|(body, source, line)| {
            let v: Value = serde_json::from_str(&body).ok()?;
            Entity::from_value(&v, Some(&source), line)
        })
        .collect())
}

/// The org graph of the stored catalog, cached per catalog generation.
#[derive(Default)]
pub struct Org {
    cached: Mutex<Option<(i64, Arc<Graph>)>>,
}

impl Org {
    /// The graph as the catalog stands now (this instance's copy while the catalog's generation
    /// has not moved, on any instance).
    pub fn snapshot(&self, pool: &Pool) -> anyhow::Result<Arc<Graph>> {
        let generation = catalog_store::generation(pool)?;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, g)) = &*cached
            && *at == generation
        {
            return Ok(g.clone());
        }
        let g = Arc::new(Graph::new(load_entities(pool, None)?));
        *cached = Some((generation, g.clone()));
        Ok(g)
    }
}
