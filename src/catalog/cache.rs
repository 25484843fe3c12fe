//! The per-process read cache: served entities by ref and whole answers of repeated list
//! queries, dropped whenever the catalog changes.
//!
//! Changes made by this process drop it at once (read-your-writes). Changes made by other
//! instances sharing the database are noticed by following the catalog generation, a counter that
//! every changing transaction bumps (`store::generation`), together with the change counter of
//! the seam's status decorator (whose items are served in `status.items`): both are polled every
//! [`FOLLOW_INTERVAL`], so another instance's write is visible here within that interval plus one
//! query. With `server.read_cache = false` nothing is cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::Bytes;

use super::CatalogError;
use super::seam::Seam;
use super::{read, store};
use crate::db::Pool;

/// How often the catalog generation is read to notice other instances' writes.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// The default budget of the cache, `server.read_cache_mib`: past it, the cache starts over.
pub const DEFAULT_MIB: usize = crate::config::DEFAULT_READ_CACHE_MIB;
/// What one cached item costs besides its bytes (map slot, key, `Bytes` header), roughly.
const ITEM_OVERHEAD: usize = 96;

/// A cached answer of a list route.
#[derive(Debug, Clone)]
pub struct Cached {
    pub body: Bytes,
    /// The `Link` header of a paged `GET /entities`.
    pub link: Option<String>,
}

impl Cached {
    pub fn into_response(self) -> HttpResponse {
        let mut res = HttpResponse::Ok();
        res.content_type("application/json");
        if let Some(link) = self.link {
            res.insert_header((actix_web::http::header::LINK, link));
        }
        res.body(self.body)
    }
}

#[derive(Default)]
struct Inner {
    entities: HashMap<String, Bytes>,
    responses: HashMap<String, Cached>,
    /// What the two maps hold, in bytes (keys, bodies, links and [`ITEM_OVERHEAD`] each).
    bytes: usize,
}

impl Inner {
    fn clear(&mut self) {
        // Fresh maps: clearing keeps the capacity, which is what the budget is about.
        self.entities = HashMap::new();
        self.responses = HashMap::new();
        self.bytes = 0;
    }

    /// What one item counts against the budget.
    fn cost(key: &str, body: &[u8], link: Option<&String>) -> usize {
        key.len() + body.len() + link.map_or(0, String::len) + ITEM_OVERHEAD
    }

    /// Makes room for `size` more bytes under `budget`, starting over when they do not fit.
    fn make_room(&mut self, size: usize, budget: usize) -> bool {
        if size > budget {
            return false;
        }
        if self.bytes + size > budget {
            self.clear();
        }
        self.bytes += size;
        true
    }
}

pub struct ReadCache {
    enabled: bool,
    /// The most bytes the cache holds (`server.read_cache_mib`).
    budget: usize,
    /// The pool this process writes through, and its change count when last looked at.
    pool: Pool,
    /// The decorator whose items are served too, and whose counter is followed.
    seam: Seam,
    local_seen: AtomicU64,
    /// Bumped by every invalidation; a read that started before one is not stored.
    epoch: AtomicU64,
    /// The catalog generation last seen in the database.
    generation: AtomicI64,
    following: AtomicBool,
    inner: RwLock<Inner>,
}

impl ReadCache {
    pub fn new(enabled: bool, budget_mib: usize, pool: Pool, seam: Seam) -> Self {
        Self {
            enabled: enabled && budget_mib > 0,
            budget: budget_mib.saturating_mul(1024 * 1024),
            seam,
            local_seen: AtomicU64::new(pool.changes()),
            pool,
            epoch: AtomicU64::new(0),
            generation: AtomicI64::new(i64::MIN),
            following: AtomicBool::new(false),
            inner: RwLock::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Forgets everything: the catalog changed.
    pub fn invalidate(&self) {
        if !self.enabled {
            return;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut inner) = self.inner.write() {
            inner.clear();
        }
    }

    /// Drops the cache when this process committed a change since the last look (any code
    /// path that writes through the pool counts, so a write is visible to the next read).
    fn check_local_writes(&self) {
        let now = self.pool.changes();
        if self.local_seen.swap(now, Ordering::SeqCst) != now {
            self.invalidate();
        }
    }

    pub fn response(&self, key: &str) -> Option<Cached> {
        if !self.enabled {
            return None;
        }
        self.check_local_writes();
        self.inner.read().ok()?.responses.get(key).cloned()
    }

    /// Stores an answer, unless the catalog changed since `epoch` (from [`ReadCache::epoch`]).
    pub fn store_response_at(&self, epoch: u64, key: String, value: Cached) {
        if !self.enabled {
            return;
        }
        if let Ok(mut inner) = self.inner.write()
            && self.epoch.load(Ordering::SeqCst) == epoch
        {
            if let Some(old) = inner.responses.remove(&key) {
                inner.bytes = inner.bytes.saturating_sub(Inner::cost(&key, &old.body, old.link.as_ref()));
            }
            if inner.make_room(Inner::cost(&key, &value.body, value.link.as_ref()), self.budget) {
                inner.responses.insert(key, value);
            }
        }
    }

    /// The current epoch: take it before reading what will be stored.
    pub fn epoch(&self) -> u64 {
        self.check_local_writes();
        self.epoch.load(Ordering::SeqCst)
    }

    /// One served entity by ref key, from the cache or the database.
    pub async fn entity(&self, pool: &Pool, key: &str) -> Result<Option<Bytes>, CatalogError> {
        if self.enabled {
            self.check_local_writes();
        }
        if self.enabled
            && let Some(hit) = self.inner.read().ok().and_then(|i| i.entities.get(key).cloned())
        {
            return Ok(Some(hit));
        }
        let epoch = self.epoch();
        let pool = pool.clone();
        let lookup = key.to_owned();
        let seam = self.seam.clone();
        let found = tokio::task::spawn_blocking(move || read::get_entity(&pool, &seam, &lookup))
            .await
            .map_err(|e| CatalogError::Storage(anyhow::anyhow!("the entity read was cancelled: {e}")))??
            .map(Bytes::from);
        if self.enabled
            && let Some(body) = &found
            && let Ok(mut inner) = self.inner.write()
            && self.epoch.load(Ordering::SeqCst) == epoch
        {
            if let Some(old) = inner.entities.remove(key) {
                inner.bytes = inner.bytes.saturating_sub(Inner::cost(key, &old, None));
            }
            if inner.make_room(Inner::cost(key, body, None), self.budget) {
                inner.entities.insert(key.to_owned(), body.clone());
            }
        }
        Ok(found)
    }

    /// Follows the catalog generation while `alive` lives, dropping the cache when another
    /// instance (or this one's refresh loop) changed the catalog.
    pub fn follow(self: &Arc<Self>, alive: Weak<()>) {
        let pool = self.pool.clone();
        let seam = self.seam.clone();
        if !self.enabled || self.following.swap(true, Ordering::SeqCst) {
            return;
        }
        let cache = Arc::clone(self);
        std::thread::Builder::new()
            .name("portolan-cache".into())
            .spawn(move || {
                while alive.upgrade().is_some() {
                    let generation = store::generation(&pool)
                        .and_then(|g| Ok(g.wrapping_add(seam.decorator_generation(&pool)?)));
                    match generation {
                        Ok(g) => {
                            if cache.generation.swap(g, Ordering::SeqCst) != g {
                                cache.invalidate();
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error.cause = %e, "Could not read the catalog generation; dropping the read cache.");
                            cache.invalidate();
                        }
                    }
                    std::thread::sleep(FOLLOW_INTERVAL);
                }
            })
            .ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_bytes_and_starts_over_when_full() {
        let mut inner = Inner::default();
        assert!(inner.make_room(600, 1000));
        inner.entities.insert("a".into(), Bytes::from_static(b"x"));
        assert_eq!(inner.bytes, 600);
        // 600 + 500 > 1000: the cache starts over, then holds the new item alone.
        assert!(inner.make_room(500, 1000));
        assert!(inner.entities.is_empty());
        assert_eq!(inner.bytes, 500);
        // An item bigger than the whole budget is never stored, and nothing is dropped for it.
        assert!(!inner.make_room(1001, 1000));
        assert_eq!(inner.bytes, 500);
    }
}
