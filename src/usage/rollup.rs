//! The levels' retention, in the background: minute rows older than
//! `usage.minute_retention_hours`, hour rows older than 90 days and batch ids older than the
//! late-event limit (plus a day) are dropped once a minute. The levels are written by the folder
//! (`fold.rs`) from the records the intake appended with the batch ids (so a redelivered batch is
//! counted once at every level); this job only drops, so running it twice, or on every instance
//! at once, changes nothing more.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::model::DAY_MS;
use super::{HOUR_RETENTION_MS, Usage, store};
use crate::db::{Pool, now_ms};

/// One retention pass; returns the rows dropped.
pub fn prune(usage: &Usage, pool: &Pool) -> anyhow::Result<usize> {
    let now = now_ms();
    store::prune(
        pool,
        now - usage.minute_retention_ms(),
        now - HOUR_RETENTION_MS,
        now - usage.late_ms().max(DAY_MS) - DAY_MS,
    )
}

pub(super) fn spawn(usage: Arc<Usage>, pool: Pool, alive: Weak<()>) {
    std::thread::Builder::new()
        .name("portolan-usage".into())
        .spawn(move || {
            let mut waited = Duration::from_secs(60);
            while alive.upgrade().is_some() {
                std::thread::sleep(Duration::from_millis(500));
                waited += Duration::from_millis(500);
                if waited < Duration::from_secs(60) {
                    continue;
                }
                waited = Duration::ZERO;
                if let Err(e) = prune(&usage, &pool) {
                    tracing::warn!(error.cause = format!("{e:#}"), "Pruning usage rows failed; retrying in a minute.");
                }
            }
        })
        .ok();
}
