//! Following the change feed, provided once: a [`FeedFollower`] keeps a named cursor in the
//! `feed_cursors` table, reads the events after it in batches, hands each batch to the domain,
//! and moves the cursor past it once the domain applied it. One follower per process applies a
//! batch at a time (an announcement and a catch-up round never apply the same events at once);
//! instances sharing a database may apply the same batch twice, so what a domain derives from
//! the feed must be idempotent, as `crate::catalog::seam` says.
//!
//! A listener calls [`FeedFollower::follow`] from both `on_change` (the committing instance, at
//! once) and `catch_up` (every instance, from the catalog's catch-up task).

use std::sync::Mutex;

use super::store::{self, EventRow};
use crate::db::Pool;

/// Events per batch.
const BATCH: i64 = 1000;

pub struct FeedFollower {
    name: &'static str,
    busy: Mutex<()>,
}

impl FeedFollower {
    /// A follower with its own cursor, stored under `name`.
    pub fn new(name: &'static str) -> Self {
        Self { name, busy: Mutex::new(()) }
    }

    /// Applies every event after the cursor, batch by batch, moving the cursor past each batch
    /// `apply` accepted. Returns how many events were applied. An error leaves the cursor before
    /// the failed batch, to be applied again on the next round.
    pub fn follow(
        &self,
        pool: &Pool,
        mut apply: impl FnMut(&[EventRow]) -> anyhow::Result<()>,
    ) -> anyhow::Result<usize> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let mut cursor = store::feed_cursor(pool, self.name)?;
        let mut applied = 0;
        loop {
            let events = store::events_after(pool, cursor, BATCH)?;
            let Some(last) = events.last().map(|e| e.id) else { return Ok(applied) };
            apply(&events)?;
            store::advance_feed_cursor(pool, self.name, last)?;
            applied += events.len();
            cursor = last;
        }
    }

    /// Moves the cursor to `to` without applying what lies before it (after a bulk load, which
    /// the follower rebuilt from whole).
    pub fn skip_to(&self, pool: &Pool, to: i64) -> anyhow::Result<()> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        store::advance_feed_cursor(pool, self.name, to)
    }

    /// The ref keys of the catalog's own events of a batch (other domains' events change no
    /// entity), sorted and without repeats.
    pub fn entity_refs(events: &[EventRow]) -> Vec<String> {
        let mut refs: Vec<String> =
            events.iter().filter(|e| e.kind.starts_with("entity.")).map(|e| e.entity_ref.to_lowercase()).collect();
        refs.sort();
        refs.dedup();
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_applies_each_batch_once_and_resumes_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("f.db").display()), 2).unwrap();
        store::append_events(
            &pool,
            &[("x.one", "component:default/a".into()), ("entity.updated", "component:default/b".into())],
        )
        .unwrap();
        let follower = FeedFollower::new("test");
        assert!(follower.follow(&pool, |_| anyhow::bail!("not yet")).is_err());
        let mut seen = Vec::new();
        assert_eq!(
            follower
                .follow(&pool, |events| {
                    seen.extend(FeedFollower::entity_refs(events));
                    Ok(())
                })
                .unwrap(),
            2
        );
        assert_eq!(seen, ["component:default/b"]);
        assert_eq!(follower.follow(&pool, |_| anyhow::bail!("nothing is left to apply")).unwrap(), 0);
    }
}
