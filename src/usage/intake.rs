//! The intake: a batch of events is parsed, each event checked and attributed on its own (a bad
//! one is rejected with its index and reason, the good ones kept), everything is added up in
//! memory per (API, consumer, subscription, minute), and appended as one record per partition
//! with the batch id, in one transaction; the answer follows that commit, and the folder
//! (`fold.rs`) merges the records into the levels later. Blocking.

use std::collections::HashMap;

use serde::Serialize;

use super::model::{Counts, MINUTE_MS, RawEvent, floor};
use super::record::{self, part_of};
use super::store::{self, Append, BatchRecord, Committed, NewRecord};
use super::{FUTURE_MS, MAX_EVENTS, Usage};
use crate::auth::{Identity, Principal};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::{Pool, now_ms};
use crate::domain::hooks::{AllowedCalls, UsageSink};
use crate::error::{ApiError, ErrorCode};
use crate::offerings::lookup;
use crate::org::Graph;

/// One rejected event.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub message: String,
}

/// The answer to a batch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
    pub duplicate: bool,
}

/// A batch's id (an HTTP `Idempotency-Key` scoped to its caller, or a NATS message id) and the
/// hash of the body it came in.
#[derive(Debug, Clone, Copy)]
pub struct BatchId<'a> {
    pub id: &'a str,
    pub body_hash: &'a str,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Counted now, or (`duplicate: true`) before under the same id and body.
    Counted(Outcome),
    /// Its id was recorded before with another body: nothing was counted.
    Conflict,
}

/// The batch id of an HTTP batch: the `Idempotency-Key` within the caller's own space (its
/// service token, user or guest), so one caller's keys never answer for another's batches.
pub fn http_batch_id(identity: &Identity, key: &str) -> String {
    let caller = match &identity.principal {
        Principal::Service { id, .. } => format!("token:{id}"),
        Principal::User { sub, .. } => format!("user:{sub}"),
        Principal::Guest => "guest".to_owned(),
        Principal::Anonymous => "anonymous".to_owned(),
    };
    // The caller's length first, so no caller and key can spell another's.
    format!("http:{}:{caller}:{key}", caller.len())
}

/// The hex SHA-256 of a batch's body, kept with its id.
pub fn body_hash(body: &[u8]) -> String {
    crate::auth::tokens::sha256_hex(body)
}

/// How a batch may be taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Lets events older than `usage.late_days` through (admins and guests only).
    pub backfill: bool,
}

/// An event as parsed: the event, or why it could not be read.
pub type Parsed = Result<RawEvent, String>;

/// Reads a body: a JSON array of events, or NDJSON (one event per line, blank lines skipped).
/// More than [`MAX_EVENTS`] events is a 413.
pub fn parse_body(bytes: &[u8], ndjson: bool) -> Result<Vec<Parsed>, ApiError> {
    let too_many = || {
        ApiError::with_code(
            ErrorCode::PayloadTooLarge,
            format!("a batch holds at most {MAX_EVENTS} events; split it into smaller batches"),
        )
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if !ndjson || first == Some(b'[') {
        if first != Some(b'[') {
            return Err(ApiError::input(
                "the body must be a JSON array of events (or NDJSON with Content-Type: application/x-ndjson)",
            ));
        }
        // The array's items as raw text first (one scan), then each item parsed on its own, so
        // a bad event is one rejection and the others are read once.
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::input(format!(
                "the body is not a JSON array of events: {}",
                crate::error::plain_serde_message(&e.to_string())
            ))
        })?;
        if items.len() > MAX_EVENTS {
            return Err(too_many());
        }
        return Ok(items.into_iter().map(|v| serde_json::from_str(v.get()).map_err(|e| plain(&e))).collect());
    }
    let mut out = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.len() == MAX_EVENTS {
            return Err(too_many());
        }
        out.push(serde_json::from_slice::<RawEvent>(line).map_err(|e| plain(&e)));
    }
    Ok(out)
}

fn plain(e: &serde_json::Error) -> String {
    crate::error::plain_serde_message(&e.to_string())
}

/// Parses an RFC 3339 time into ms.
pub fn parse_time(raw: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(raw.trim()).ok().map(|t| t.timestamp_millis())
}

/// An API ref or name as a key of an API in the model.
pub fn resolve_api(g: &Graph, raw: &str) -> Result<String, String> {
    let r = EntityRef::parse(raw.trim(), Some("api"), DEFAULT_NAMESPACE)
        .map_err(|e| format!("api: {raw:?} is not an entity reference ({e})"))?;
    let key = r.key();
    match g.get(&key) {
        Some(e) if e.is("api") => Ok(key),
        Some(e) => Err(format!("api: {} is a {}, not an API", e.entity_ref, e.kind)),
        None => Err(format!("api: no API {key} in the catalog")),
    }
}

/// Kinds a consumer may be, tried in this order for a plain name.
pub const CONSUMER_KINDS: &[&str] = &["component", "product", "system", "platform"];

/// A consumer ref or name as a key of an entity in the model (a plain name: a component, else
/// a product, system or platform of that name). Other kinds are no consumers.
pub fn resolve_consumer(g: &Graph, raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let explicit = raw.contains(':');
    for kind in CONSUMER_KINDS {
        let Ok(r) = EntityRef::parse(raw, Some(kind), DEFAULT_NAMESPACE) else {
            return Err(format!("consumer: {raw:?} is not an entity reference"));
        };
        let key = r.key();
        if explicit && !CONSUMER_KINDS.contains(&r.kind.to_lowercase().as_str()) {
            return Err(format!(
                "consumer: {key} is a {}; a consumer is a Component, Product, System or Platform",
                r.kind
            ));
        }
        if g.get(&key).is_some() {
            return Ok(key);
        }
        if explicit {
            return Err(format!("consumer: no entity {key} in the catalog"));
        }
    }
    Err(format!("consumer: no component, product, system or platform named {raw:?} in the catalog"))
}

/// What one batch resolves, asked once per distinct value.
struct Resolver<'a> {
    pool: &'a Pool,
    g: &'a Graph,
    apis: HashMap<String, Result<String, String>>,
    consumers: HashMap<String, Result<String, String>>,
    keys: HashMap<String, Result<Option<lookup::SubscriptionRow>, String>>,
    subs: HashMap<String, Result<Option<lookup::SubscriptionRow>, String>>,
}

impl Resolver<'_> {
    fn api(&mut self, raw: &str) -> Result<String, String> {
        if let Some(r) = self.apis.get(raw) {
            return r.clone();
        }
        let r = resolve_api(self.g, raw);
        self.apis.insert(raw.to_owned(), r.clone());
        r
    }

    fn consumer(&mut self, raw: &str) -> Result<String, String> {
        if let Some(r) = self.consumers.get(raw) {
            return r.clone();
        }
        let r = resolve_consumer(self.g, raw);
        self.consumers.insert(raw.to_owned(), r.clone());
        r
    }

    fn by_key(&mut self, raw: &str) -> Result<lookup::SubscriptionRow, String> {
        let Some(prefix) = lookup::key_prefix(raw) else {
            return Err("key: not an API key or key prefix".into());
        };
        if !self.keys.contains_key(prefix) {
            let r = lookup::subscription_of_key(self.pool, prefix).map_err(|e| format!("key: {e:#}"));
            self.keys.insert(prefix.to_owned(), r);
        }
        match &self.keys[prefix] {
            Ok(Some(s)) => Ok(s.clone()),
            Ok(None) => Err(format!("key: no API key with the prefix {prefix}")),
            Err(e) => Err(e.clone()),
        }
    }

    fn by_subscription(&mut self, id: &str) -> Result<lookup::SubscriptionRow, String> {
        let id = id.trim();
        if !self.subs.contains_key(id) {
            let r = lookup::subscription(self.pool, id).map_err(|e| format!("subscription: {e:#}"));
            self.subs.insert(id.to_owned(), r);
        }
        match &self.subs[id] {
            Ok(Some(s)) => Ok(s.clone()),
            Ok(None) => Err(format!("subscription: no subscription {id}")),
            Err(e) => Err(e.clone()),
        }
    }
}

/// One event, checked and attributed: (api, consumer, subscription, time, counts).
type Checked = (String, String, String, i64, Counts);

fn check(r: &mut Resolver, e: &RawEvent, now: i64, earliest: i64) -> Result<Checked, String> {
    let t = parse_time(&e.time).ok_or_else(|| format!("time: {:?} is not an RFC 3339 time", e.time))?;
    if t > now + FUTURE_MS {
        return Err(format!("time: {} is more than 5 minutes in the future", e.time));
    }
    if t < earliest {
        return Err(format!(
            "time: {} is older than the intake takes (usage.late_days); admins may send it with ?backfill=true",
            e.time
        ));
    }
    let api = r.api(&e.api)?;
    let mut consumer: Option<String> = None;
    let mut subscription = String::new();
    let for_api = |s: &lookup::SubscriptionRow, what: &str| {
        if s.api == api {
            Ok(())
        } else {
            Err(format!("{what}: it belongs to a subscription to {}, not to {api}", s.api))
        }
    };
    if let Some(k) = &e.key {
        let s = r.by_key(k)?;
        for_api(&s, "key")?;
        subscription = s.id;
        consumer = Some(s.consumer);
    }
    if let Some(id) = &e.subscription {
        let s = r.by_subscription(id)?;
        for_api(&s, "subscription")?;
        if !subscription.is_empty() && s.id != subscription {
            return Err("subscription: the key belongs to another subscription".into());
        }
        subscription = s.id;
        consumer = Some(s.consumer);
    }
    if let Some(c) = &e.consumer {
        let named = r.consumer(c)?;
        if let Some(found) = &consumer
            && *found != named
        {
            return Err(format!("consumer: {named} is not the consumer of the subscription ({found})"));
        }
        consumer = Some(named);
    }
    let Some(consumer) = consumer else {
        return Err("name the caller: consumer, key or subscription".into());
    };
    let calls = e.calls.unwrap_or(1);
    if !(0..=1_000_000_000).contains(&calls) {
        return Err("calls: between 0 and 1,000,000,000".into());
    }
    let errors = match (e.errors, e.status) {
        (Some(n), _) => n,
        (None, Some(s)) if s >= 500 => calls,
        (None, _) => 0,
    };
    if errors < 0 || errors > calls {
        return Err(format!("errors: between 0 and calls ({calls})"));
    }
    if let Some(s) = e.status
        && !(100..=599).contains(&s)
    {
        return Err("status: an HTTP status between 100 and 599".into());
    }
    let mut counts = Counts { calls, errors, ..Default::default() };
    if e.latency_ms.is_some() && e.latency.is_some() {
        return Err("latency: give latencyMs or latency.buckets, not both".into());
    }
    if let Some(ms) = e.latency_ms {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err("latencyMs: a number of milliseconds, 0 or more".into());
        }
        counts.hist.add(ms, calls as u64);
    }
    if let Some(l) = &e.latency {
        // The buckets describe the event's calls: their counts add up to `calls`, exactly.
        let mut total: u64 = 0;
        for (k, n) in &l.buckets {
            let ms: f64 = k
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("latency.buckets: {k:?} is not a number of milliseconds"))?;
            total = total
                .checked_add(*n)
                .filter(|t| *t <= calls as u64)
                .ok_or_else(|| format!("latency.buckets: the counts add up to more than calls ({calls})"))?;
            counts.hist.add(ms, *n);
        }
        if total != calls as u64 {
            return Err(format!("latency.buckets: the counts add up to {total}, not to calls ({calls})"));
        }
    }
    Ok((api, consumer, subscription, t, counts))
}

/// (API, consumer, subscription, minute).
pub type MinuteKey = (String, String, String, i64);

/// What a batch adds up to: per (API, consumer, subscription, minute).
pub type Minutes = HashMap<MinuteKey, Counts>;

/// A batch checked, added up and ready to append.
#[derive(Default)]
pub struct Prepared {
    pub minutes: Minutes,
    /// Accepted events per partition.
    pub events: HashMap<i32, i64>,
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
}

/// The records of the batches counted, merged: one per partition.
fn records_of(prepared: &[&Prepared], counted: &[bool]) -> Vec<NewRecord> {
    let mut parts: HashMap<i32, (i64, HashMap<&MinuteKey, Counts>)> = HashMap::new();
    for (p, _) in prepared.iter().zip(counted).filter(|(_, c)| **c) {
        for (k, c) in &p.minutes {
            parts.entry(part_of(&k.0)).or_default().1.entry(k).or_default().add(c);
        }
        for (part, n) in &p.events {
            parts.entry(*part).or_default().0 += n;
        }
    }
    let mut records: Vec<NewRecord> = parts
        .into_iter()
        .filter(|(_, (_, rows))| !rows.is_empty())
        .map(|(part, (events, rows))| NewRecord {
            part,
            events,
            body: record::encode(rows.iter().map(|(k, c)| (*k, c))),
        })
        .collect();
    records.sort_by_key(|r| r.part);
    records
}

impl Usage {
    /// Appends some batches (each with its id and answer, when it has one) in one transaction:
    /// the ids, and the records of those not recorded before.
    fn commit(
        &self,
        pool: &Pool,
        items: &[(&Prepared, Option<BatchRecord>)],
        now: i64,
    ) -> anyhow::Result<Vec<Committed>> {
        let prepared: Vec<&Prepared> = items.iter().map(|(p, _)| *p).collect();
        let batches: Vec<Option<BatchRecord>> = items.iter().map(|(_, b)| *b).collect();
        let records = |counted: &[bool]| records_of(&prepared, counted);
        let committed = store::append(pool, &Append { batches: &batches, records: &records, now })?;
        for (p, c) in prepared.iter().zip(&committed) {
            if let Committed::Written = c {
                let mut per_api: HashMap<&str, (i64, i64)> = HashMap::new();
                for (k, c) in &p.minutes {
                    let m = per_api.entry(k.0.as_str()).or_default();
                    m.0 += c.calls;
                    m.1 += c.errors;
                }
                for (api, (calls, errors)) in per_api {
                    metrics::counter!("portolan_usage_calls_total", "api" => api.to_owned()).increment(calls as u64);
                    metrics::counter!("portolan_usage_errors_total", "api" => api.to_owned()).increment(errors as u64);
                }
            }
        }
        Ok(committed)
    }
}

/// Checks, attributes and adds up one batch's events (no database writes); `resolver` is
/// shared by the batches of one transaction, so each name and key is looked up once.
fn prepare(usage: &Usage, resolver: &mut Resolver, events: Vec<Parsed>, options: Options, now: i64) -> Prepared {
    let earliest = if options.backfill { i64::MIN } else { now - usage.late_ms() };
    let mut p = Prepared::default();
    for (index, e) in events.into_iter().enumerate() {
        let minutes = &mut p.minutes;
        let checked = e.and_then(|e| check(resolver, &e, now, earliest)).and_then(|(api, consumer, sub, t, c)| {
            let part = part_of(&api);
            // Sums stay exact: an event that would overflow its minute's sum is refused.
            let sum = minutes.entry((api, consumer, sub, floor(t, MINUTE_MS))).or_default();
            sum.checked_add(&c)
                .ok_or_else(|| "calls: the batch's calls for this minute add up past what can be counted".to_owned())?;
            Ok(part)
        });
        match checked {
            Ok(part) => {
                p.accepted += 1;
                *p.events.entry(part).or_default() += 1;
            }
            Err(message) => p.rejected.push(Rejection { index, message }),
        }
    }
    p
}

/// Takes one batch: checks and attributes each event, adds them up in memory, and appends its
/// records and its batch id (when given) in one transaction. A batch id already recorded
/// counts nothing again and answers what it answered the first time, with `duplicate: true`;
/// with another body, it is a [`Recorded::Conflict`]. A batch that counted nothing (every event
/// rejected) leaves its id unused, so the corrected batch may be sent under it.
pub fn record_batch(
    usage: &Usage,
    pool: &Pool,
    batch_id: Option<BatchId>,
    events: Vec<Parsed>,
    options: Options,
) -> anyhow::Result<Recorded> {
    let mut out = record_batches(usage, pool, vec![(batch_id, events)], options)?;
    Ok(out.pop().unwrap_or(Recorded::Conflict))
}

/// Takes several batches in one transaction (the NATS intake's messages of one pull), each
/// answered as [`record_batch`] would answer it alone.
pub fn record_batches(
    usage: &Usage,
    pool: &Pool,
    batches: Vec<(Option<BatchId>, Vec<Parsed>)>,
    options: Options,
) -> anyhow::Result<Vec<Recorded>> {
    let now = now_ms();
    let g = usage.org.snapshot(pool)?;
    let mut resolver = Resolver {
        pool,
        g: &g,
        apis: HashMap::new(),
        consumers: HashMap::new(),
        keys: HashMap::new(),
        subs: HashMap::new(),
    };
    let mut prepared = Vec::with_capacity(batches.len());
    for (id, events) in batches {
        let p = prepare(usage, &mut resolver, events, options, now);
        let rejected = serde_json::to_string(&p.rejected)?;
        prepared.push((id, p, rejected));
    }
    let items: Vec<(&Prepared, Option<BatchRecord>)> = prepared
        .iter()
        .map(|(id, p, rejected)| {
            let batch = id.map(|b| BatchRecord {
                id: b.id,
                body_hash: b.body_hash,
                accepted: p.accepted as i64,
                rejected: rejected.as_str(),
            });
            (p, batch)
        })
        .collect();
    let committed = usage.commit(pool, &items, now)?;
    let mut out = Vec::with_capacity(committed.len());
    for ((id, p, _), c) in prepared.into_iter().zip(committed) {
        out.push(match c {
            Committed::Duplicate { body_hash: Some(h), .. } if id.is_some_and(|b| b.body_hash != h) => {
                Recorded::Conflict
            }
            Committed::Duplicate { accepted, rejected, .. } => Recorded::Counted(Outcome {
                accepted: accepted as usize,
                rejected: serde_json::from_str(&rejected).unwrap_or_default(),
                duplicate: true,
            }),
            Committed::Written => {
                Recorded::Counted(Outcome { accepted: p.accepted, rejected: p.rejected, duplicate: false })
            }
        });
    }
    Ok(out)
}

/// The gateway check's allowed calls count like events attributed to their subscription.
impl UsageSink for Usage {
    fn record(&self, pool: &Pool, calls: &[AllowedCalls]) -> anyhow::Result<()> {
        let mut p = Prepared::default();
        for c in calls {
            let counts = Counts { calls: c.calls, errors: 0, ..Default::default() };
            let key = (c.api.clone(), c.consumer.clone(), c.subscription.clone(), floor(c.minute, MINUTE_MS));
            p.minutes.entry(key).or_default().add(&counts);
            *p.events.entry(part_of(&c.api)).or_default() += 1;
        }
        self.commit(pool, &[(&p, None)], now_ms()).map(|_| ())
    }
}
