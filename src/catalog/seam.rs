//! The one seam between the catalog and the domains built on it (governance, offerings, usage).
//!
//! The catalog knows only the two traits here. After every committed publish or delete it
//! announces a [`CatalogChange`] to the [`ChangeListener`]s; when it serves an entity it asks
//! every [`StatusDecorator`] for the extra `status.items` it shows (governance findings, and any
//! other domain's), merged. Both are lists every domain may add to (through its `Domain`), which
//! the root installs once all domains are built ([`Seam::install`]). Nothing under `catalog/`
//! names a listener.
//!
//! Delivery rule: a change is announced in-process, synchronously, by the instance that committed
//! it, before the request that caused it answers. A listener whose derived state lives in the
//! database keeps its own cursor into the stored change feed (the `events` table, ids committed
//! in order) in its own tables, advanced in the same transaction as the state it derives; so a
//! change committed by another instance, or one this instance missed (a crash between commit and
//! announcement), is caught up from the feed by [`ChangeListener::catch_up`], which the catalog
//! calls every [`CATCH_UP_INTERVAL`]. Listeners must therefore be idempotent.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::db::Pool;

/// How often listeners are asked to catch up from the change feed (the catalog's catch-up task).
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

/// The listeners and decorators, shared by every clone of the seam and installed once at start.
#[derive(Clone, Default)]
pub struct Seam {
    parts: Arc<OnceLock<Parts>>,
}

#[derive(Default)]
struct Parts {
    listeners: Vec<Arc<dyn ChangeListener>>,
    decorators: Vec<Arc<dyn StatusDecorator>>,
}

impl Seam {
    /// Installs every domain's listeners and decorators (the root does, once all domains are
    /// built and before the start-up catalog loads). A second call is a wiring bug and fails.
    pub fn install(
        &self,
        listeners: Vec<Arc<dyn ChangeListener>>,
        decorators: Vec<Arc<dyn StatusDecorator>>,
    ) -> anyhow::Result<()> {
        self.parts
            .set(Parts { listeners, decorators })
            .map_err(|_| anyhow::anyhow!("the catalog's listeners were installed twice"))
    }

    fn listeners(&self) -> &[Arc<dyn ChangeListener>] {
        self.parts.get().map(|p| p.listeners.as_slice()).unwrap_or(&[])
    }

    fn decorators(&self) -> &[Arc<dyn StatusDecorator>] {
        self.parts.get().map(|p| p.decorators.as_slice()).unwrap_or(&[])
    }

    /// Announces a committed change to every listener, in registration order. A failing listener
    /// does not stop the others; the first error is returned (the listener catches up later).
    pub fn announce(&self, pool: &Pool, change: &CatalogChange) -> anyhow::Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let mut first = None;
        for l in self.listeners() {
            if let Err(e) = l.on_change(pool, change) {
                tracing::error!(listener = l.name(), error.cause = format!("{e:#}"), "A catalog listener failed.");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Tells every listener that a bulk load finished. They rebuild at the same time, each on a
    /// thread of its own (they own different tables; one that needs another's model waits for
    /// it on that model's own lock), and the first failure is returned once all are done.
    pub fn bulk_loaded(&self, pool: &Pool) -> anyhow::Result<()> {
        tracing::info!(rss_kib = crate::memory::rss_kib(), "The bulk load is written; the listeners rebuild.");
        let listeners = self.listeners();
        std::thread::scope(|s| {
            let rebuilds: Vec<_> = listeners
                .iter()
                .map(|l| {
                    s.spawn(move || {
                        let started = std::time::Instant::now();
                        let result = l.on_bulk_load(pool);
                        tracing::info!(
                            listener = l.name(),
                            duration_ms = started.elapsed().as_millis() as u64,
                            rss_kib = crate::memory::rss_kib(),
                            "A listener rebuilt after the bulk load."
                        );
                        result
                    })
                })
                .collect();
            let mut first = Ok(());
            for r in rebuilds {
                let result = r.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a listener's rebuild panicked")));
                if first.is_ok() {
                    first = result;
                }
            }
            first
        })
    }

    /// Asks every listener to catch up from the change feed once.
    pub fn catch_up(&self, pool: &Pool) {
        for l in self.listeners() {
            if let Err(e) = l.catch_up(pool) {
                tracing::warn!(
                    listener = l.name(),
                    error.cause = format!("{e:#}"),
                    "Catching up from the change feed failed; retrying."
                );
            }
        }
    }

    /// Every decorator's items for these entities, merged in registration order.
    pub fn status_items(&self, pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        for d in self.decorators() {
            let items = d.status_items(pool, keys)?;
            // One decorator's answer is the answer (served entities ask on every read).
            if out.is_empty() {
                out = items;
                continue;
            }
            for (key, list) in items {
                out.entry(key).or_default().extend(list);
            }
        }
        Ok(out)
    }

    /// A counter that moves whenever any decorator's does (0 without decorators).
    pub fn decorator_generation(&self, pool: &Pool) -> anyhow::Result<i64> {
        let mut sum = 0i64;
        for d in self.decorators() {
            sum = sum.wrapping_add(d.generation(pool)?);
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decorator that gives every entity one item naming it, at a fixed generation.
    struct Named(&'static str, i64);

    impl StatusDecorator for Named {
        fn status_items(&self, _pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
            Ok(keys.iter().map(|k| (k.clone(), vec![serde_json::json!({"by": self.0})])).collect())
        }

        fn generation(&self, _pool: &Pool) -> anyhow::Result<i64> {
            Ok(self.1)
        }
    }

    #[test]
    fn two_decorators_both_add_their_items_and_move_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), 2).unwrap();
        let seam = Seam::default();
        assert_eq!(seam.decorator_generation(&pool).unwrap(), 0);
        seam.install(Vec::new(), vec![Arc::new(Named("governance", 3)), Arc::new(Named("health", 4))]).unwrap();
        let items = seam.status_items(&pool, &["component:default/a".to_owned()]).unwrap();
        let by: Vec<&str> = items["component:default/a"].iter().map(|v| v["by"].as_str().unwrap()).collect();
        assert_eq!(by, ["governance", "health"]);
        assert_eq!(seam.decorator_generation(&pool).unwrap(), 7);
        assert!(seam.install(Vec::new(), Vec::new()).is_err(), "a second installation is refused");
    }
}
