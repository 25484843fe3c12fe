//! The one seam between the catalog and the domains built on it (governance, offerings, usage).
//!
//! The catalog knows only the two traits here. After every committed publish or delete it
//! announces a [`CatalogChange`] to the [`ChangeListener`]s registered at start-up (the wiring is
//! in `startup.rs`); when it serves an entity it asks the registered [`StatusDecorator`] for the
//! extra `status.items` it shows (governance findings). Nothing under `catalog/` names a listener.
//!
//! Delivery rule: a change is announced in-process, synchronously, by the instance that committed
//! it, before the request that caused it answers. A listener whose derived state lives in the
//! database keeps its own cursor into the stored change feed (the `events` table, ids committed
//! in order) in its own tables, advanced in the same transaction as the state it derives; so a
//! change committed by another instance, or one this instance missed (a crash between commit and
//! announcement), is caught up from the feed by [`ChangeListener::catch_up`], which the catalog
//! calls every [`CATCH_UP_INTERVAL`]. Listeners must therefore be idempotent.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;

use crate::db::Pool;

/// How often listeners are asked to catch up from the change feed.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_secs(1);

/// What one committed publish or delete changed. Refs are lower-cased ref keys
/// (`kind:namespace/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogChange {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// Whether any relation edge appeared or vanished.
    pub relations_changed: bool,
}

impl CatalogChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }

    /// Every ref the change touched: added, then updated, then removed.
    pub fn refs(&self) -> Vec<String> {
        self.added.iter().chain(&self.updated).chain(&self.removed).cloned().collect()
    }
}

/// A domain that follows the catalog.
pub trait ChangeListener: Send + Sync {
    /// A short stable name, for logs.
    fn name(&self) -> &'static str;

    /// Called after a change is committed, on a blocking thread of the committing instance.
    fn on_change(&self, pool: &Pool, change: &CatalogChange) -> anyhow::Result<()>;

    /// Called every [`CATCH_UP_INTERVAL`] on every instance: bring derived state up to the change
    /// feed. Cheap when there is nothing to do.
    fn catch_up(&self, _pool: &Pool) -> anyhow::Result<()> {
        Ok(())
    }

    /// Called once after a bulk load (the start-up catalog, `portolan import`), which announces
    /// no per-publish changes: rebuild whatever derives from the whole catalog.
    fn on_bulk_load(&self, _pool: &Pool) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Adds items to the `status.items` of served entities.
pub trait StatusDecorator: Send + Sync {
    /// The extra status items of each of these entities (by ref key); absent keys have none.
    fn status_items(&self, pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>>;

    /// A counter that moves whenever any instance changes an item this decorator serves: the
    /// read cache follows it beside the catalog's own generation.
    fn generation(&self, pool: &Pool) -> anyhow::Result<i64>;
}

/// The listeners and the decorator registered at start-up.
#[derive(Clone, Default)]
pub struct Seam {
    listeners: Vec<Arc<dyn ChangeListener>>,
    decorator: Option<Arc<dyn StatusDecorator>>,
}

impl Seam {
    pub fn listen(mut self, listener: Arc<dyn ChangeListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    pub fn decorate_with(mut self, decorator: Arc<dyn StatusDecorator>) -> Self {
        self.decorator = Some(decorator);
        self
    }

    /// Announces a committed change to every listener, in registration order. A failing listener
    /// does not stop the others; the first error is returned (the listener catches up later).
    pub fn announce(&self, pool: &Pool, change: &CatalogChange) -> anyhow::Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let mut first = None;
        for l in &self.listeners {
            if let Err(e) = l.on_change(pool, change) {
                tracing::error!(listener = l.name(), error.cause = format!("{e:#}"), "A catalog listener failed.");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Tells every listener that a bulk load finished.
    pub fn bulk_loaded(&self, pool: &Pool) -> anyhow::Result<()> {
        tracing::info!(rss_kib = crate::memory::rss_kib(), "The bulk load is written; the listeners rebuild.");
        for l in &self.listeners {
            let started = std::time::Instant::now();
            l.on_bulk_load(pool)?;
            tracing::info!(
                listener = l.name(),
                duration_ms = started.elapsed().as_millis() as u64,
                rss_kib = crate::memory::rss_kib(),
                "A listener rebuilt after the bulk load."
            );
        }
        Ok(())
    }

    /// Asks every listener to catch up from the change feed once.
    pub fn catch_up(&self, pool: &Pool) {
        for l in &self.listeners {
            if let Err(e) = l.catch_up(pool) {
                tracing::warn!(
                    listener = l.name(),
                    error.cause = format!("{e:#}"),
                    "Catching up from the change feed failed; retrying."
                );
            }
        }
    }

    /// Catches up every [`CATCH_UP_INTERVAL`] on a thread of its own while `alive` lives.
    pub fn spawn_catch_up(&self, pool: Pool, alive: Weak<()>) {
        if self.listeners.is_empty() {
            return;
        }
        let seam = self.clone();
        std::thread::Builder::new()
            .name("portolan-catch-up".into())
            .spawn(move || {
                while alive.upgrade().is_some() {
                    std::thread::sleep(CATCH_UP_INTERVAL);
                    seam.catch_up(&pool);
                }
            })
            .ok();
    }

    /// The decorator's items for these entities (none without a decorator).
    pub fn status_items(&self, pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
        match &self.decorator {
            Some(d) if !keys.is_empty() => d.status_items(pool, keys),
            _ => Ok(HashMap::new()),
        }
    }

    /// The decorator's change counter (0 without a decorator).
    pub fn decorator_generation(&self, pool: &Pool) -> anyhow::Result<i64> {
        match &self.decorator {
            Some(d) => d.generation(pool),
            None => Ok(0),
        }
    }
}
