//! The folder: in the background, records appended by the intake are merged into the rollup
//! levels (minute, hour, day, week) and the pairs, one partition per transaction, and deleted in
//! the same commit. Until then the views read them as they are (`store::read`), so folding
//! changes when the work is done, never what a view shows. Records wait about a second (so a
//! fold under load merges many batches at once) and the folder threads run at a lower priority
//! (nice 10), so the intake's answers come first and folding takes the spare CPU.
//!
//! Every instance runs a folder. On PostgreSQL each claims a partition with `FOR UPDATE SKIP
//! LOCKED`, so instances fold different partitions side by side and never wait for each other;
//! a rollup row belongs to one partition (through its API), so no two folders merge the same
//! row. On SQLite one writer folds at a time.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::model::{Counts, Level};
use super::record::MinuteRow;
use super::store::fold::{self as fold_store, FoldOptions, Folded, Merge};
use super::store::{RowKey, StoredRow};
use super::{HOUR_RETENTION_MS, OBSERVED_WINDOW_MS, Usage};
use crate::db::{Backend, Pool, now_ms};

/// At most this many records per fold transaction.
const LIMIT: i64 = 256;
/// How long an idle folder waits before looking again.
const IDLE: Duration = Duration::from_millis(100);
/// How old a record must be before its partition is folded: under load many batches then fold
/// in one transaction, their repeated keys (the same pairs' hours, days and weeks) merged once.
const WAIT: Duration = Duration::from_millis(1000);
/// The folder threads' nice value: the intake's answers come first, folding takes what is left.
const NICE: i32 = 10;

/// The environment variable that makes the folder pause (milliseconds) between merging and
/// deleting the records, logging when it does: the crash point of the fold-and-mark test.
pub const PAUSE_ENV: &str = "PORTOLAN_USAGE_FOLD_PAUSE_MS";

/// What the rows of some records add to each level and to the pairs, at `now`: the rows per
/// (API, consumer, subscription) and per API alone (consumer `''`), at every level whose
/// retention still holds the minute. The records of one fold repeat their keys (the same pairs,
/// minute after minute and batch after batch), so the rows are first added up per minute on
/// borrowed keys, and only those sums are spread over the levels.
pub fn expand(usage: &Usage, rows: &[MinuteRow], now: i64) -> Merge {
    let minutes_from = now - usage.minute_retention_ms();
    let hours_from = now - HOUR_RETENTION_MS;
    let mut minutes: HashMap<(&str, &str, &str, i64), Counts> = HashMap::new();
    for r in rows {
        minutes.entry((r.api.as_str(), r.consumer.as_str(), r.subscription.as_str(), r.t)).or_default().add(&r.counts);
    }
    let mut m = Merge::default();
    for ((api, consumer, subscription, t), counts) in &minutes {
        for level in Level::ALL {
            if (level == Level::Minute && *t < minutes_from) || (level == Level::Hour && *t < hours_from) {
                continue;
            }
            let start = level.start(*t);
            for (who, sub) in [(*consumer, *subscription), ("", "")] {
                let key =
                    RowKey { api: (*api).to_owned(), consumer: who.to_owned(), subscription: sub.to_owned(), t: start };
                m.rows.entry((level, key)).or_default().add(counts);
            }
        }
        let pair = m.pairs.entry(((*api).to_owned(), (*consumer).to_owned())).or_insert((*t, *t));
        pair.0 = pair.0.min(*t);
        pair.1 = pair.1.max(*t);
    }
    m
}

/// The week rows the stored day rows add up to (for the one-time build of the week level).
fn weeks_of(days: Vec<StoredRow>) -> HashMap<(Level, RowKey), Counts> {
    let mut out: HashMap<(Level, RowKey), Counts> = HashMap::new();
    for d in days {
        let counts = d.counts();
        let key = RowKey { api: d.api, consumer: d.consumer, subscription: d.subscription, t: Level::Week.start(d.t) };
        out.entry((Level::Week, key)).or_default().add(&counts);
    }
    out
}

/// Builds the week level once (see [`fold_store::build_weeks`]).
pub fn build_weeks(pool: &Pool) -> anyhow::Result<bool> {
    fold_store::build_weeks(pool, &weeks_of)
}

/// Folds one partition's oldest records, if any partition has a record older than `wait` and
/// is free to take.
pub fn fold_once(
    usage: &Usage,
    pool: &Pool,
    wait: Duration,
    between: &(dyn Fn() + Sync),
) -> anyhow::Result<Option<Folded>> {
    let now = now_ms();
    let appended_before = now - wait.as_millis() as i64 + 1;
    if !fold_store::due(pool, appended_before)? {
        return Ok(None);
    }
    let o = FoldOptions { limit: LIMIT, now, silent_before: now - OBSERVED_WINDOW_MS, appended_before, between };
    let folded = fold_store::fold_one(pool, &o, &|rows| expand(usage, rows, now))?;
    if let Some(f) = &folded {
        if f.new_pairs {
            usage.mark_dirty();
        }
        metrics::counter!("portolan_usage_folded_events_total").increment(f.events.max(0) as u64);
    }
    Ok(folded)
}

/// How many records, and events in them, wait to be folded.
pub fn backlog(pool: &Pool) -> anyhow::Result<(i64, i64)> {
    fold_store::backlog(pool)
}

/// Starts the folder threads (two on PostgreSQL, so partitions fold side by side; one on SQLite).
pub(super) fn spawn(usage: Arc<Usage>, pool: Pool, alive: Weak<()>) {
    let pause = std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis);
    let threads = if pool.backend() == Backend::Postgres { 2 } else { 1 };
    for i in 0..threads {
        let (usage, pool, alive) = (usage.clone(), pool.clone(), alive.clone());
        let started = std::thread::Builder::new().name(format!("portolan-usage-fold-{i}")).spawn(move || {
            // On Linux a thread has its own nice value; setpriority(PRIO_PROCESS, 0) sets the
            // calling thread's.
            // SAFETY: a plain system call on this thread, no memory is passed.
            let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
            let between = move || {
                if let Some(p) = pause {
                    tracing::warn!(
                        pause_ms = p.as_millis() as u64,
                        "Paused between folding usage records and marking them folded."
                    );
                    std::thread::sleep(p);
                }
            };
            let mut weeks = false;
            let mut failing = Duration::from_secs(1);
            while alive.upgrade().is_some() {
                let step = if weeks {
                    fold_once(&usage, &pool, WAIT, &between).map(|f| f.is_some())
                } else {
                    build_weeks(&pool).map(|built| {
                        weeks = built;
                        true
                    })
                };
                match step {
                    Ok(true) => failing = Duration::from_secs(1),
                    Ok(false) => std::thread::sleep(IDLE),
                    Err(e) => {
                        tracing::warn!(
                            error.cause = format!("{e:#}"),
                            retry_in_secs = failing.as_secs(),
                            "Folding usage records failed; retrying."
                        );
                        std::thread::sleep(failing);
                        failing = (failing * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
        if let Err(e) = started {
            tracing::error!(error.cause = %e, "The usage folder could not start its thread.");
        }
    }
}
