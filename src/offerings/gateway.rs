//! The gateway check: may this key call this API now?
//!
//! A check is answered from memory when it can: what a key stands for (its subscription, plan and
//! state) is cached for at most `gateway_key_cache_ms` (1 s by default), and dropped at once when
//! this instance changes a subscription or key, so a revoked key stops passing on every instance
//! within that time plus one check. Quota and rate-limit counters are shared through the database,
//! one per consumer and API (or team and API, for a quota with `quotaScope: team`) and window,
//! whatever subscription the call came through. Far from a limit, each instance counts its own
//! calls in memory and, every `gateway_flush_ms` (250 ms by default), adds them to the shared row
//! and reads back the total, which includes every other instance's flushed calls. The calls an
//! instance admitted and the database has not confirmed stay below an eighth of what was left at
//! its last read; the call that would pass that share is counted in the database at once together
//! with them, and only if every counter stays within its limit, which also reads back the others'
//! counts. Near a limit (closer than twice what all instances added between the last two reads)
//! every call is counted so. Instances therefore learn of each other at least every eighth of the
//! remaining quota, not only at flushes (which a loaded database can delay by seconds), and their
//! unconfirmed calls together stay within what is left while there are at most eight of them. A
//! counter is read from the database before its first use in a window, so a fresh instance starts
//! from the shared total, not from zero.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{Plan, PlanStatus, QuotaScope, Reason, Status, counter_scope, window};
use super::store::counters::{self, CounterKey};
use super::store::keys::gateway_key;
use crate::db::{Pool, now_ms, rfc3339};

pub use crate::domain::hooks::{AllowedCalls, UsageSink};

/// What a key stands for, as last read.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub subscription: String,
    pub api: String,
    pub plan_name: String,
    pub consumer: String,
    pub team: Option<String>,
    pub status: Option<Status>,
    /// The plan as offered now; `None` when the API or the plan is no longer offered.
    pub plan: Option<Plan>,
}

/// The answer to one check.
#[derive(Debug, Clone)]
pub struct Decision {
    pub reason: Reason,
    pub info: Option<Arc<KeyInfo>>,
    /// `(limit, remaining, window end)`.
    pub quota: Option<(i64, i64, i64)>,
    /// `(limit, remaining)`.
    pub rate: Option<(i64, i64)>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.reason == Reason::Ok
    }

    /// The answer of `POST /api/gateway/check`, ready to serialise.
    pub fn answer(&self) -> Answer<'_> {
        let info = self.info.as_deref();
        Answer {
            allowed: self.allowed(),
            reason: self.reason,
            consumer: info.map(|i| i.consumer.as_str()),
            team: info.and_then(|i| i.team.as_deref()),
            subscription: info.map(|i| i.subscription.as_str()),
            plan: info.map(|i| i.plan_name.as_str()),
            quota: self.quota.map(|(limit, remaining, reset)| QuotaView { limit, remaining, reset_at: rfc3339(reset) }),
            rate_limit: self.rate.map(|(limit, remaining)| RateView { limit, remaining }),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer<'a> {
    allowed: bool,
    reason: Reason,
    consumer: Option<&'a str>,
    team: Option<&'a str>,
    subscription: Option<&'a str>,
    plan: Option<&'a str>,
    quota: Option<QuotaView>,
    rate_limit: Option<RateView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    limit: i64,
    remaining: i64,
    reset_at: String,
}

#[derive(Serialize)]
pub struct RateView {
    limit: i64,
    remaining: i64,
}

struct Count {
    /// The shared total as last read (this instance's flushed calls included).
    shared: i64,
    /// Calls counted here and being written now.
    in_flight: i64,
    /// Calls counted here since.
    pending: i64,
    window_end: i64,
    touched: i64,
    /// The shared total at the last flush, and what every instance together added between the
    /// last two flushes (the near-limit margin; counting at once near a limit does not move it).
    flushed_total: i64,
    last_delta: i64,
}

#[derive(Default)]
struct Counters {
    map: HashMap<CounterKey, Count>,
    /// Allowed calls per (subscription, minute start).
    usage: HashMap<(String, i64), i64>,
    /// The API and consumer of each subscription counted in `usage`.
    parties: HashMap<String, (String, String)>,
}

/// When a key was read, and what it stands for (`None`: no such key).
type Cached = (Instant, Option<Arc<KeyInfo>>);

pub struct Gateway {
    keys: Mutex<HashMap<String, Cached>>,
    /// Bumped by every invalidation, so a read that started before one is not cached.
    epoch: AtomicU64,
    counters: Mutex<Counters>,
    flush: Duration,
    key_ttl: Duration,
    /// Every usage sink registered by a domain (through the hooks).
    hooks: Arc<crate::domain::Hooks>,
    /// Calls each sink (by its place in the list) failed to take, offered to it again at the
    /// next flush; a sink that took them is never offered them twice.
    unsunk: Mutex<HashMap<usize, Vec<AllowedCalls>>>,
}

/// Cached keys beyond this are dropped wholesale (unknown keys are cached too).
const MAX_CACHED_KEYS: usize = 100_000;
/// Unconfirmed calls an instance admits on its own: at most this fraction of what was left.
const LOCAL_SHARE: i64 = 8;
/// An idle counter is forgotten after this (and read again on its next use).
const IDLE_COUNTER_MS: i64 = 60_000;

impl Gateway {
    pub fn new(flush: Duration, key_ttl: Duration, hooks: Arc<crate::domain::Hooks>) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            counters: Mutex::new(Counters::default()),
            flush,
            key_ttl,
            hooks,
            unsunk: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every cached key (after this instance changed a subscription, a key or an offering).
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn cached_key(&self, hash: &str) -> Option<Option<Arc<KeyInfo>>> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(hash).filter(|(at, _)| at.elapsed() < self.key_ttl).map(|(_, info)| info.clone())
    }

    fn load_key(&self, pool: &Pool, hash: &str) -> anyhow::Result<Option<Arc<KeyInfo>>> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let info = gateway_key(pool, hash)?.map(|row| {
            let plans: Vec<Plan> = row.plans.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
            let s = row.subscription;
            Arc::new(KeyInfo {
                expires_at: row.expires_at,
                revoked_at: row.revoked_at,
                plan: plans.into_iter().find(|p| p.name == s.plan),
                status: Status::parse(&s.status),
                subscription: s.id,
                api: s.api,
                plan_name: s.plan,
                consumer: s.consumer,
                team: s.team,
            })
        });
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) == epoch {
            if keys.len() >= MAX_CACHED_KEYS {
                keys.clear();
            }
            keys.insert(hash.to_owned(), (Instant::now(), info.clone()));
        }
        Ok(info)
    }

    /// Checks a key (by its hash) against an API (a ref key). Without a pool, answers only from
    /// memory and returns `None` when the database is needed (call again with one, off the
    /// async workers). An allowed call is counted.
    pub fn check(&self, pool: Option<&Pool>, hash: &str, api: &str) -> anyhow::Result<Option<Decision>> {
        let info = match (self.cached_key(hash), pool) {
            (Some(info), _) => info,
            (None, None) => return Ok(None),
            (None, Some(pool)) => self.load_key(pool, hash)?,
        };
        let now = now_ms();
        let refuse = |reason| Ok(Some(Decision { reason, info: info.clone(), quota: None, rate: None }));
        let Some(i) = info.as_deref() else { return refuse(Reason::UnknownKey) };
        if i.revoked_at.is_some_and(|r| r <= now) {
            return refuse(Reason::Revoked);
        }
        if i.expires_at.is_some_and(|e| e <= now) {
            return refuse(Reason::Expired);
        }
        if i.api != api {
            return refuse(Reason::NotSubscribed);
        }
        match i.status {
            Some(Status::Active) => {}
            Some(Status::Pending) => return refuse(Reason::Pending),
            Some(Status::Paused) => return refuse(Reason::Paused),
            // A subscription closed with its plan says so.
            Some(Status::Closed) if i.plan.as_ref().is_none_or(|p| p.status == PlanStatus::Closed) => {
                return refuse(Reason::PlanClosed);
            }
            _ => return refuse(Reason::NotSubscribed),
        }
        let Some(plan) = i.plan.as_ref().filter(|p| p.status != PlanStatus::Closed) else {
            return refuse(Reason::PlanClosed);
        };
        // Counted per consumer and API across its subscriptions (or per team, for a quota so
        // scoped), so closing and subscribing again continues the window.
        let quota = plan.quota.as_ref().map(|q| {
            let (start, end) = window(&q.period, now);
            let scope = counter_scope(&i.api, &i.consumer, i.team.as_deref(), plan.quota_scope);
            (CounterKey { scope, kind: "quota", window_start: start }, q.requests, end)
        });
        let rate = plan.rate_limit.as_ref().map(|r| {
            let (start, end) = window(&r.period, now);
            let scope = counter_scope(&i.api, &i.consumer, None, QuotaScope::Consumer);
            (CounterKey { scope, kind: "rate", window_start: start }, r.requests, end)
        });
        let wanted: Vec<&(CounterKey, i64, i64)> = quota.iter().chain(rate.iter()).collect();
        // Counters not yet known here are read from the database first.
        let missing: Vec<(CounterKey, i64)> = {
            let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            wanted.iter().filter(|(k, _, _)| !c.map.contains_key(k)).map(|(k, _, _)| (k.clone(), 0)).collect()
        };
        if !missing.is_empty() {
            let Some(pool) = pool else { return Ok(None) };
            let totals = counters::add(pool, &missing)?;
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            for ((k, _), total) in missing.into_iter().zip(totals) {
                let end = wanted.iter().find(|(w, _, _)| *w == k).map(|(_, _, e)| *e).unwrap_or(now);
                c.map.entry(k).or_insert(Count {
                    shared: total,
                    in_flight: 0,
                    pending: 0,
                    window_end: end,
                    touched: now,
                    flushed_total: total,
                    last_delta: 0,
                });
            }
        }
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let used = |c: &Counters, k: &CounterKey| c.map.get(k).map(|n| n.shared + n.in_flight + n.pending).unwrap_or(0);
        let q_used = quota.as_ref().map(|(k, _, _)| used(&c, k));
        let r_used = rate.as_ref().map(|(k, _, _)| used(&c, k));
        let quota_view =
            |extra: i64| quota.as_ref().map(|(_, l, end)| (*l, (*l - q_used.unwrap_or(0) - extra).max(0), *end));
        let rate_view = |extra: i64| rate.as_ref().map(|(_, l, _)| (*l, (*l - r_used.unwrap_or(0) - extra).max(0)));
        let over = |u: Option<i64>, lim: Option<&(CounterKey, i64, i64)>| matches!((u, lim), (Some(u), Some((_, l, _))) if u >= *l);
        let reason = if over(q_used, quota.as_ref()) {
            Reason::QuotaExceeded
        } else if over(r_used, rate.as_ref()) {
            Reason::RateLimited
        } else {
            Reason::Ok
        };
        if reason != Reason::Ok {
            return Ok(Some(Decision { reason, info: info.clone(), quota: quota_view(0), rate: rate_view(0) }));
        }
        // Near a limit (within twice what all instances added between the last two reads),
        // count in the database at once and only within the limit, so instances together
        // cannot overshoot it; far from every limit, count here and flush later.
        // Calls admitted here and not yet confirmed by the database stay within a share of what
        // was left at the last read, so instances that have not heard of each other since still
        // cannot together go past the limit; past that share, this call confirms them (and reads
        // the others' counts) on its way through the database.
        let near = wanted.iter().any(|(k, l, _)| {
            c.map.get(k).is_some_and(|n| {
                let unconfirmed = n.in_flight + n.pending;
                l - (n.shared + unconfirmed) <= 2 * n.last_delta + 1 || unconfirmed + 1 > (l - n.shared) / LOCAL_SHARE
            })
        });
        let minute = now - now.rem_euclid(60_000);
        if !near {
            for (k, _, _) in &wanted {
                if let Some(n) = c.map.get_mut(k) {
                    n.pending += 1;
                    n.touched = now;
                }
            }
            *c.usage.entry((i.subscription.clone(), minute)).or_insert(0) += 1;
            c.parties.entry(i.subscription.clone()).or_insert_with(|| (i.api.clone(), i.consumer.clone()));
            return Ok(Some(Decision { reason, info: info.clone(), quota: quota_view(1), rate: rate_view(1) }));
        }
        let Some(pool) = pool else { return Ok(None) };
        let items: Vec<(CounterKey, i64, i64)> = wanted
            .iter()
            .map(|(k, l, _)| {
                // The carried calls and this one stay counted here (in flight) while the
                // database counts them, so concurrent checks never see them vanish.
                let carry = c.map.get_mut(k).map(|n| {
                    n.touched = now;
                    let carry = std::mem::take(&mut n.pending);
                    n.in_flight += carry + 1;
                    carry
                });
                (k.clone(), carry.unwrap_or(0), *l)
            })
            .collect();
        drop(c);
        let (allowed, totals) = match counters::add_within(pool, &items) {
            Ok(r) => r,
            Err(e) => {
                // Give the carried calls back to the next flush.
                let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
                for (k, carry, _) in &items {
                    if let Some(n) = c.map.get_mut(k) {
                        n.in_flight -= carry + 1;
                        n.pending += carry;
                    }
                }
                return Err(e);
            }
        };
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut total_of = HashMap::new();
        for ((k, carry, _), total) in items.iter().zip(&totals) {
            if let Some(n) = c.map.get_mut(k) {
                n.in_flight -= carry + 1;
                n.shared = n.shared.max(*total);
            }
            total_of.insert(k.kind, *total);
        }
        let view = |kind: &str, limit: i64| (limit - total_of.get(kind).copied().unwrap_or(0)).max(0);
        let quota_view = quota.as_ref().map(|(_, l, end)| (*l, view("quota", *l), *end));
        let rate_view = rate.as_ref().map(|(_, l, _)| (*l, view("rate", *l)));
        let reason = if allowed {
            *c.usage.entry((i.subscription.clone(), minute)).or_insert(0) += 1;
            c.parties.entry(i.subscription.clone()).or_insert_with(|| (i.api.clone(), i.consumer.clone()));
            Reason::Ok
        } else if quota.as_ref().is_some_and(|(_, l, _)| total_of.get("quota").is_some_and(|t| t + 1 > *l)) {
            Reason::QuotaExceeded
        } else {
            Reason::RateLimited
        };
        Ok(Some(Decision { reason, info: info.clone(), quota: quota_view, rate: rate_view }))
    }

    /// Writes this instance's counted calls to the shared counters and reads back the totals.
    pub fn flush(&self, pool: &Pool) -> anyhow::Result<()> {
        let now = now_ms();
        let (increments, usage, parties) = {
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            c.map.retain(|_, n| n.window_end > now && (n.pending > 0 || now - n.touched < IDLE_COUNTER_MS));
            let mut inc = Vec::with_capacity(c.map.len());
            for (k, n) in c.map.iter_mut() {
                n.in_flight += n.pending;
                inc.push((k.clone(), n.pending));
                n.pending = 0;
            }
            (inc, std::mem::take(&mut c.usage), std::mem::take(&mut c.parties))
        };
        let allowed: Vec<AllowedCalls> = usage
            .iter()
            .filter_map(|((s, m), n)| {
                let (api, consumer) = parties.get(s)?;
                Some(AllowedCalls {
                    subscription: s.clone(),
                    api: api.clone(),
                    consumer: consumer.clone(),
                    minute: *m,
                    calls: *n,
                })
            })
            .collect();
        let usage: Vec<(String, i64, i64)> = usage.into_iter().map(|((s, m), n)| (s, m, n)).collect();
        let result = counters::add(pool, &increments).and_then(|t| counters::add_usage(pool, &usage).map(|_| t));
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(totals) => {
                for ((k, n), total) in increments.into_iter().zip(totals) {
                    if let Some(count) = c.map.get_mut(&k) {
                        count.in_flight -= n;
                        count.last_delta = (total - count.flushed_total).max(0);
                        count.flushed_total = total;
                        // Counts only grow within a window: a near-limit count may have read a
                        // newer total than this flush.
                        count.shared = count.shared.max(total);
                    }
                }
                drop(c);
                self.sink_calls(pool, allowed);
                Ok(())
            }
            Err(e) => {
                // Keep the calls for the next flush.
                for (k, n) in increments {
                    if let Some(count) = c.map.get_mut(&k) {
                        count.in_flight -= n;
                        count.pending += n;
                    }
                }
                for (s, m, n) in usage {
                    *c.usage.entry((s, m)).or_insert(0) += n;
                }
                for (s, who) in parties {
                    c.parties.entry(s).or_insert(who);
                }
                Err(e)
            }
        }
    }

    /// Hands allowed calls to every usage sink (each with what it refused before), keeping
    /// what a sink refused for its next flush.
    fn sink_calls(&self, pool: &Pool, calls: Vec<AllowedCalls>) {
        let sinks = self.hooks.usage_sinks.all();
        if sinks.is_empty() {
            return;
        }
        let mut unsunk = self.unsunk.lock().unwrap_or_else(|e| e.into_inner());
        for (i, sink) in sinks.iter().enumerate() {
            let mut batch = unsunk.remove(&i).unwrap_or_default();
            batch.extend(calls.iter().cloned());
            if batch.is_empty() {
                continue;
            }
            if let Err(e) = sink.record(pool, &batch) {
                tracing::warn!(
                    error.cause = format!("{e:#}"),
                    "Recording gateway calls as consumption failed; retrying."
                );
                // Bounded: a sink that keeps failing does not grow memory without end.
                batch.truncate(100_000);
                unsunk.insert(i, batch);
            }
        }
    }

    /// Flushes every flush interval on a thread of its own while `alive` lives; prunes old
    /// rate-limit rows once a minute.
    pub fn spawn_flusher(self: &Arc<Self>, pool: Pool, alive: Weak<()>) {
        let gw = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("portolan-gateway".into())
            .spawn(move || {
                let mut last_prune = Instant::now();
                while alive.upgrade().is_some() {
                    std::thread::sleep(self_flush(&gw));
                    let Some(g) = gw.upgrade() else { break };
                    if let Err(e) = g.flush(&pool) {
                        tracing::warn!(error.cause = format!("{e:#}"), "Writing gateway counters failed; retrying.");
                    }
                    if last_prune.elapsed() > Duration::from_secs(60) {
                        last_prune = Instant::now();
                        let _ = counters::prune_rate_counters(&pool, now_ms() - 2 * 3_600_000);
                    }
                }
                if let Some(g) = gw.upgrade() {
                    let _ = g.flush(&pool);
                }
            })
            .ok();
    }
}

fn self_flush(gw: &Weak<Gateway>) -> Duration {
    gw.upgrade().map(|g| g.flush).unwrap_or(Duration::from_millis(250))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A sink that keeps what it took, failing its first `fail` calls.
    #[derive(Default)]
    struct Keeping {
        took: Mutex<Vec<AllowedCalls>>,
        fail: AtomicUsize,
    }

    impl UsageSink for Keeping {
        fn record(&self, _pool: &Pool, calls: &[AllowedCalls]) -> anyhow::Result<()> {
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                anyhow::bail!("not now");
            }
            self.took.lock().unwrap().extend(calls.iter().cloned());
            Ok(())
        }
    }

    fn calls(minute: i64) -> Vec<AllowedCalls> {
        vec![AllowedCalls { subscription: "s".into(), api: "a".into(), consumer: "c".into(), minute, calls: 2 }]
    }

    #[test]
    fn two_usage_sinks_both_take_every_call_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::connect(&format!("sqlite://{}", dir.path().join("g.db").display()), 2).unwrap();
        let (usage, health) = (Arc::new(Keeping::default()), Arc::new(Keeping::default()));
        health.fail.store(1, Ordering::SeqCst);
        let hooks = Arc::new(crate::domain::Hooks::default());
        hooks.usage_sinks.install(vec![usage.clone(), health.clone()]).unwrap();
        let gw = Gateway::new(Duration::from_millis(10), Duration::from_millis(10), hooks);
        gw.sink_calls(&pool, calls(0));
        gw.sink_calls(&pool, calls(60_000));
        let minutes = |s: &Keeping| s.took.lock().unwrap().iter().map(|c| c.minute).collect::<Vec<_>>();
        // The first sink took each flush once; the second, failing once, took the first flush's
        // calls again with the second's, and nothing twice.
        assert_eq!(minutes(&usage), [0, 60_000]);
        assert_eq!(minutes(&health), [0, 60_000]);
    }
}
