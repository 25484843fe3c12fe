//! The consumption views: consumption (series, totals, top consumers), adoption (weekly active,
//! new, retained, churned consumers; time to first call; approved but never called) and
//! declared versus observed. Blocking; refs in and out are lower-cased ref keys.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Bucket, Counts, DAY_MS, HOUR_MS, Level, MINUTE_MS, WEEK_MS, week_of};
use super::store::read::{self, Scope};
use super::{OBSERVED_WINDOW_MS, Usage, intake};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::{Pool, rfc3339};
use crate::error::ApiError;
use crate::offerings::lookup;
use crate::org::Graph;

/// What a view is about; filters combine (AND).
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub api: Option<String>,
    pub platform: Option<String>,
    pub consumer: Option<String>,
    pub team: Option<String>,
}

/// The APIs (`None`: every API) and consumers (`None`: every consumer) in scope.
#[derive(Debug, Clone, Default)]
pub struct Scoped {
    pub apis: Option<Vec<String>>,
    pub consumers: Option<Vec<String>>,
}

fn resolve(g: &Graph, raw: &str, kind: &str, what: &str) -> Result<String, ApiError> {
    let key = EntityRef::parse(raw.trim(), Some(kind), DEFAULT_NAMESPACE)
        .map_err(|e| ApiError::input(format!("{what}: {e}")))?
        .key();
    match g.get(&key) {
        Some(e) if e.is(kind) => Ok(key),
        Some(e) => Err(ApiError::input(format!("{what}: {} is a {}, not a {kind}", e.entity_ref, e.kind))),
        None => Err(ApiError::not_found(format!("{what}: no {kind} {key} in the catalog"))),
    }
}

/// The product a consumer belongs to (itself when it is one).
pub fn product_of(g: &Graph, key: &str) -> Option<String> {
    Graph::of_kind(&g.membership(key), "product").into_iter().next()
}

/// The team of a consumer: its product's owner, else its own.
pub fn team_of(g: &Graph, key: &str) -> Option<String> {
    product_of(g, key).and_then(|p| g.get(&p).and_then(|p| p.owner.clone())).or_else(|| g.get(key)?.owner.clone())
}

fn is_consumer_kind(kind: &str) -> bool {
    intake::CONSUMER_KINDS.contains(&kind)
}

/// Resolves the filters against the model.
pub fn scope(g: &Graph, f: &Filters) -> Result<Scoped, ApiError> {
    let mut apis: Option<Vec<String>> = None;
    if let Some(a) = &f.api {
        apis = Some(vec![resolve(g, a, "api", "api")?]);
    }
    if let Some(p) = &f.platform {
        let key = resolve(g, p, "platform", "platform")?;
        let of: Vec<String> = g.apis_of(&key);
        apis = Some(match apis {
            Some(a) => a.into_iter().filter(|x| of.contains(x)).collect(),
            None => of,
        });
    }
    let mut consumers: Option<Vec<String>> = None;
    if let Some(c) = &f.consumer {
        let key = intake::resolve_consumer(g, c).map_err(ApiError::not_found)?;
        let mut list = g.descendants(&key);
        list.push(key);
        consumers = Some(list);
    }
    if let Some(t) = &f.team {
        let key = resolve(g, t, "group", "team")?;
        let mut of: Vec<String> = g
            .entities
            .values()
            .filter(|e| is_consumer_kind(&e.kind) && team_of(g, &e.key).as_deref() == Some(key.as_str()))
            .map(|e| e.key.clone())
            .collect();
        of.sort();
        consumers = Some(match consumers {
            Some(c) => c.into_iter().filter(|x| of.contains(x)).collect(),
            None => of,
        });
    }
    Ok(Scoped { apis, consumers })
}

/// A time query parameter (RFC 3339).
pub fn parse_time(raw: Option<&str>, what: &str) -> Result<Option<i64>, ApiError> {
    raw.map(|r| intake::parse_time(r).ok_or_else(|| ApiError::input(format!("{what}: {r:?} is not an RFC 3339 time"))))
        .transpose()
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn percentiles(c: &Counts) -> (Option<f64>, Option<f64>, Option<f64>) {
    let q = |p: f64| c.hist.quantile(p).map(round);
    (q(0.5), q(0.95), q(0.99))
}

/// The consumption view's numbers.
pub struct Consumption {
    pub series: Vec<(i64, Counts)>,
    pub totals: Counts,
    /// (consumer, calls, errors), most calls first.
    pub top: Vec<(String, i64, i64)>,
}

/// How many consumers `top` lists.
pub const TOP: usize = 20;

/// The level a bucket is read from.
fn level_of(bucket: Bucket) -> Level {
    match bucket {
        Bucket::Minute => Level::Minute,
        Bucket::Hour => Level::Hour,
        Bucket::Day => Level::Day,
        Bucket::Week => Level::Week,
    }
}

/// The default span of a bucket when `from` is left out.
pub fn default_span(bucket: Bucket) -> i64 {
    match bucket {
        Bucket::Minute => HOUR_MS,
        Bucket::Hour => DAY_MS,
        Bucket::Day => 30 * DAY_MS,
        Bucket::Week => 12 * WEEK_MS,
    }
}

/// Series, totals and top consumers over `[from, to)` (both rounded down to the bucket).
pub fn consumption(pool: &Pool, s: &Scoped, from: i64, to: i64, bucket: Bucket) -> anyhow::Result<Consumption> {
    let level = level_of(bucket);
    let (from, to) = (bucket.start(from), bucket.next(bucket.start(to - 1).max(bucket.start(from))));
    let scope = Scope { apis: s.apis.as_deref(), consumers: s.consumers.as_deref(), from, to };
    let rows = read::rows(pool, level, &scope)?;
    let mut by_t: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut t = from;
    while t < to {
        by_t.insert(t, Counts::default());
        t = bucket.next(t);
    }
    let mut per_consumer: HashMap<String, (i64, i64)> = HashMap::new();
    for r in &rows {
        by_t.entry(bucket.start(r.key.t)).or_default().add(&r.counts);
        if s.consumers.is_some() {
            let e = per_consumer.entry(r.key.consumer.clone()).or_default();
            e.0 += r.counts.calls;
            e.1 += r.counts.errors;
        }
    }
    if s.consumers.is_none() {
        for c in read::sums_by_consumer(pool, level, s.apis.as_deref(), from, to)? {
            per_consumer.insert(c.consumer, (c.calls, c.errors));
        }
    }
    let mut totals = Counts::default();
    for c in by_t.values() {
        totals.add(c);
    }
    let mut top: Vec<(String, i64, i64)> =
        per_consumer.into_iter().map(|(k, (c, e))| (k, c, e)).filter(|t| t.1 > 0).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(TOP);
    Ok(Consumption { series: by_t.into_iter().collect(), totals, top })
}

fn error_rate(calls: i64, errors: i64) -> Option<f64> {
    (calls != 0).then(|| (errors as f64 / calls as f64 * 1e6).round() / 1e6)
}

/// One bucket of the consumption series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub t: String,
    pub calls: i64,
    pub errors: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// The totals over the range.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub calls: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One of the top consumers.
#[derive(Debug, Clone, Serialize)]
pub struct TopConsumer {
    pub consumer: String,
    pub product: Option<String>,
    pub team: Option<String>,
    pub calls: i64,
    pub errors: i64,
    pub share: f64,
}

/// The consumption view.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumptionView {
    pub series: Vec<SeriesPoint>,
    pub totals: Totals,
    pub top: Vec<TopConsumer>,
}

/// The consumption view of the numbers.
pub fn consumption_view(g: &Graph, c: &Consumption) -> ConsumptionView {
    let series = c
        .series
        .iter()
        .map(|(t, n)| {
            let (p50, p95, p99) = percentiles(n);
            SeriesPoint { t: rfc3339(*t), calls: n.calls, errors: n.errors, p50, p95, p99 }
        })
        .collect();
    let (p50, p95, p99) = percentiles(&c.totals);
    let total = c.totals.calls;
    let top = c
        .top
        .iter()
        .map(|(consumer, calls, errors)| TopConsumer {
            consumer: consumer.clone(),
            product: product_of(g, consumer),
            team: team_of(g, consumer),
            calls: *calls,
            errors: *errors,
            share: if total > 0 { (*calls as f64 / total as f64 * 1e6).round() / 1e6 } else { 0.0 },
        })
        .collect();
    ConsumptionView {
        series,
        totals: Totals {
            calls: total,
            errors: c.totals.errors,
            error_rate: error_rate(total, c.totals.errors),
            p50,
            p95,
            p99,
        },
        top,
    }
}

/// The series as CSV: `t,calls,errors,p50,p95,p99`.
pub fn consumption_csv(c: &Consumption) -> String {
    let mut out = String::from("t,calls,errors,p50,p95,p99\n");
    for (t, n) in &c.series {
        let q = |p: f64| n.hist.quantile(p).map(|v| round(v).to_string()).unwrap_or_default();
        out.push_str(&format!("{},{},{},{},{},{}\n", rfc3339(*t), n.calls, n.errors, q(0.5), q(0.95), q(0.99)));
    }
    out
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One week of adoption.
#[derive(Debug, Clone, Serialize)]
pub struct AdoptionWeek {
    pub week: String,
    pub active: usize,
    pub new: usize,
    pub retained: usize,
    pub churned: usize,
}

/// An active subscription with no call since it was activated.
#[derive(Debug, Clone, Serialize)]
pub struct NeverCalled {
    pub subscription: String,
    pub api: String,
    pub consumer: String,
    pub plan: String,
    pub since: String,
}

/// The adoption view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionView {
    pub weeks: Vec<AdoptionWeek>,
    /// Hours (median).
    pub time_to_first_call: Option<f64>,
    pub approved_never_called: Vec<NeverCalled>,
}

/// Adoption over the last `weeks` weeks (the current one included).
pub fn adoption(pool: &Pool, apis: Option<&[String]>, weeks: i64, now: i64) -> anyhow::Result<AdoptionView> {
    let this_week = week_of(now);
    let first = this_week - (weeks - 1) * WEEK_MS;
    let mut active: BTreeMap<i64, HashSet<String>> = BTreeMap::new();
    for w in read::active_weeks(pool, apis, first - WEEK_MS)? {
        active.entry(w.t).or_default().insert(w.consumer);
    }
    let pairs = read::pairs(pool, apis)?;
    let mut first_week: HashMap<&str, i64> = HashMap::new();
    for p in &pairs {
        let w = week_of(p.first_seen);
        let e = first_week.entry(p.consumer.as_str()).or_insert(w);
        *e = (*e).min(w);
    }
    let empty = HashSet::new();
    let mut out = Vec::new();
    let mut w = first;
    while w <= this_week {
        let now_set = active.get(&w).unwrap_or(&empty);
        let before = active.get(&(w - WEEK_MS)).unwrap_or(&empty);
        out.push(AdoptionWeek {
            week: rfc3339(w),
            active: now_set.len(),
            new: now_set.iter().filter(|c| first_week.get(c.as_str()) == Some(&w)).count(),
            retained: now_set.intersection(before).count(),
            churned: before.difference(now_set).count(),
        });
        w += WEEK_MS;
    }
    let seen: HashMap<(&str, &str), (i64, i64)> =
        pairs.iter().map(|p| ((p.api.as_str(), p.consumer.as_str()), (p.first_seen, p.last_seen))).collect();
    let mut hours = Vec::new();
    let mut never = Vec::new();
    for (sub, activated) in lookup::active_subscriptions(pool)? {
        if apis.is_some_and(|a| !a.contains(&sub.api)) {
            continue;
        }
        match seen.get(&(sub.api.as_str(), sub.consumer.as_str())) {
            Some((first_seen, _)) if *first_seen >= activated - MINUTE_MS => {
                hours.push(((first_seen - activated).max(0)) as f64 / HOUR_MS as f64);
            }
            Some((_, last_seen)) if *last_seen >= activated - MINUTE_MS => {}
            _ => never.push(NeverCalled {
                subscription: sub.id,
                api: sub.api,
                consumer: sub.consumer,
                plan: sub.plan,
                since: rfc3339(activated),
            }),
        }
    }
    never.sort_by(|a, b| (&a.api, &a.consumer).cmp(&(&b.api, &b.consumer)));
    Ok(AdoptionView {
        weeks: out,
        time_to_first_call: median(hours).map(|h| (h * 100.0).round() / 100.0),
        approved_never_called: never,
    })
}

/// Declared versus observed pairs.
#[derive(Debug, Default)]
pub struct Comparison {
    /// (consumer, api, last call if any).
    pub declared_not_observed: Vec<(String, String, Option<i64>)>,
    /// (consumer, api, calls in the window, first seen).
    pub observed_not_declared: Vec<(String, String, i64, i64)>,
}

/// What an entity is compared as: its product when it has one, else itself.
fn unit(g: &Graph, key: &str) -> String {
    product_of(g, key).unwrap_or_else(|| key.to_owned())
}

/// Declared (`consumesApis`, resolved to products through membership) against observed (calls
/// in the last 28 days) for the APIs in scope. Only APIs with any observed call are compared.
pub fn compare(pool: &Pool, g: &Graph, apis: Option<&[String]>, now: i64) -> anyhow::Result<Comparison> {
    let since = now - OBSERVED_WINDOW_MS;
    let pairs = read::pairs(pool, apis)?;
    let measured: BTreeSet<&str> = pairs.iter().map(|p| p.api.as_str()).collect();
    // Declared, per API: the declaring entities and the units they stand for.
    let mut declared: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for api in &measured {
        let list: BTreeSet<&str> = g.declarers(api, "consumesApi").collect();
        declared.insert(api, list.into_iter().map(|d| (d.to_owned(), unit(g, d))).collect());
    }
    let mut observed_units: HashMap<(&str, String), i64> = HashMap::new();
    let mut undeclared: Vec<&read::Pair> = Vec::new();
    for p in &pairs {
        let u = unit(g, &p.consumer);
        let last = observed_units.entry((p.api.as_str(), u.clone())).or_insert(p.last_seen);
        *last = (*last).max(p.last_seen);
        if p.last_seen < since || g.get(&p.consumer).is_none() {
            continue;
        }
        let is_declared = declared.get(p.api.as_str()).is_some_and(|d| d.iter().any(|(_, du)| *du == u));
        if !is_declared {
            undeclared.push(p);
        }
    }
    let mut out = Comparison::default();
    for (api, list) in &declared {
        for (d, u) in list {
            let last = observed_units.get(&(*api, u.clone())).copied();
            if last.is_none_or(|l| l < since) {
                out.declared_not_observed.push((d.clone(), (*api).to_owned(), last));
            }
        }
    }
    let wanted: Vec<(String, String)> = undeclared.iter().map(|p| (p.api.clone(), p.consumer.clone())).collect();
    let calls: HashMap<(String, String), i64> =
        read::pair_calls(pool, &wanted, since)?.into_iter().map(|s| ((s.api, s.consumer), s.calls)).collect();
    for p in undeclared {
        let n = calls.get(&(p.api.clone(), p.consumer.clone())).copied().unwrap_or(0);
        if n > 0 {
            out.observed_not_declared.push((p.consumer.clone(), p.api.clone(), n, p.first_seen));
        }
    }
    out.declared_not_observed.sort();
    out.observed_not_declared.sort();
    Ok(out)
}

/// Declared, not called in the window.
#[derive(Debug, Clone, Serialize)]
pub struct Silent {
    pub consumer: String,
    pub api: String,
    pub since: Option<String>,
}

/// Called in the window, not declared.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Undeclared {
    pub consumer: String,
    pub api: String,
    pub calls: i64,
    pub first_seen: String,
}

/// The declared-versus-observed view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonView {
    pub declared_not_observed: Vec<Silent>,
    pub observed_not_declared: Vec<Undeclared>,
}

pub fn comparison_view(c: &Comparison) -> ComparisonView {
    ComparisonView {
        declared_not_observed: c
            .declared_not_observed
            .iter()
            .map(|(consumer, api, last)| Silent {
                consumer: consumer.clone(),
                api: api.clone(),
                since: last.map(rfc3339),
            })
            .collect(),
        observed_not_declared: c
            .observed_not_declared
            .iter()
            .map(|(consumer, api, calls, first)| Undeclared {
                consumer: consumer.clone(),
                api: api.clone(),
                calls: *calls,
                first_seen: rfc3339(*first),
            })
            .collect(),
    }
}

/// One KPI of a product with its values .
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KpiView {
    pub name: String,
    pub unit: Option<String>,
    pub target: Option<f64>,
    pub direction: &'static str,
    pub current: Option<f64>,
    pub previous: Option<f64>,
    pub on_track: Option<bool>,
    pub series: Vec<KpiPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KpiPoint {
    pub t: String,
    pub value: f64,
}

/// One target of a platform with its current value .
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub metric: String,
    pub api: Option<String>,
    pub target: f64,
    pub direction: &'static str,
    pub current: Option<f64>,
    pub progress: Option<f64>,
    pub on_track: Option<bool>,
}

/// `GET /api/portal/consumption`'s query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionQuery {
    pub api: Option<String>,
    pub platform: Option<String>,
    pub consumer: Option<String>,
    pub team: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub bucket: Option<String>,
    pub format: Option<String>,
}

/// A checked consumption query.
pub struct ConsumptionRequest {
    pub filters: Filters,
    pub from: i64,
    pub to: i64,
    pub bucket: Bucket,
    /// CSV rather than JSON.
    pub csv: bool,
}

/// Checks a consumption query (before any blocking work).
pub fn consumption_request(q: ConsumptionQuery) -> Result<ConsumptionRequest, ApiError> {
    let bucket = match q.bucket.as_deref() {
        None => Bucket::Day,
        Some(b) => Bucket::parse(b)
            .ok_or_else(|| ApiError::input(format!("bucket: {b:?} is not minute, hour, day or week")))?,
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => return Err(ApiError::input(format!("format: {f:?} is not json or csv"))),
    };
    let to = parse_time(q.to.as_deref(), "to")?.unwrap_or_else(crate::db::now_ms);
    let from = parse_time(q.from.as_deref(), "from")?.unwrap_or(to - default_span(bucket));
    if from >= to {
        return Err(ApiError::input("from: must be before to"));
    }
    let width = bucket.next(0) - bucket.start(0);
    if (to - from) / width > 20_000 {
        return Err(ApiError::input("bucket: more than 20,000 buckets between from and to; pick a larger bucket"));
    }
    let filters = Filters { api: q.api, platform: q.platform, consumer: q.consumer, team: q.team };
    Ok(ConsumptionRequest { filters, from, to, bucket, csv })
}

/// The numbers of a checked consumption query, with the model they were resolved against.
pub fn consumption_of(
    usage: &Usage,
    pool: &Pool,
    r: &ConsumptionRequest,
) -> Result<(Arc<Graph>, Consumption), ApiError> {
    let g = usage.org.snapshot(pool)?;
    let scoped = scope(&g, &r.filters)?;
    let c = consumption(pool, &scoped, r.from, r.to, r.bucket)?;
    Ok((g, c))
}

/// `GET /api/portal/adoption`'s query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptionQuery {
    pub api: Option<String>,
    pub platform: Option<String>,
    pub weeks: Option<i64>,
}

/// The adoption view of a query.
pub fn adoption_of(usage: &Usage, pool: &Pool, q: &AdoptionQuery) -> Result<AdoptionView, ApiError> {
    let weeks = q.weeks.unwrap_or(12);
    if !(1..=104).contains(&weeks) {
        return Err(ApiError::input("weeks: between 1 and 104"));
    }
    let g = usage.org.snapshot(pool)?;
    let scoped = scope(&g, &Filters { api: q.api.clone(), platform: q.platform.clone(), ..Default::default() })?;
    Ok(adoption(pool, scoped.apis.as_deref(), weeks, crate::db::now_ms())?)
}

/// `GET /api/portal/declared-vs-observed`'s query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    pub api: Option<String>,
    pub platform: Option<String>,
}

/// The declared-versus-observed view of a query.
pub fn comparison_of(usage: &Usage, pool: &Pool, q: &ScopeQuery) -> Result<ComparisonView, ApiError> {
    let g = usage.org.snapshot(pool)?;
    let scoped = scope(&g, &Filters { api: q.api.clone(), platform: q.platform.clone(), ..Default::default() })?;
    Ok(comparison_view(&compare(pool, &g, scoped.apis.as_deref(), crate::db::now_ms())?))
}
