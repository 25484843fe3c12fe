//! What consumption measures for governance and the portal views: the two findings, platform
//! targets computed from the rollups, and product KPI values. [`Usage`] is a findings source and
//! a view extension (`crate::domain::hooks`), registered through the usage domain. Blocking.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Counts, DAY_MS, Level, floor};
use super::store::{self, kpis as kpi_store, read};
use super::views::{KpiPoint, KpiView, TargetView};
use super::{Usage, views};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::{Pool, now_ms, rfc3339};
use crate::domain::hooks::{
    AdoptionFact, ConsumptionFacts, EntityKind, FindingsSource, SourcedFinding, TargetFact, ViewExtension,
};
use crate::org::Graph;

/// Consumption's governance rules (documented with governance's, which lets
/// `[governance.rules]` set their severity).
pub const UNDECLARED_CONSUMPTION: &str = "undeclared-consumption";
pub const UNUSED_DECLARED_DEPENDENCY: &str = "unused-declared-dependency";
const RULES: &[&str] = &[UNDECLARED_CONSUMPTION, UNUSED_DECLARED_DEPENDENCY];

/// Findings are recomputed at least this often (declared pairs fall silent as time passes).
const FINDINGS_EVERY: Duration = Duration::from_secs(60);
/// Targets are measured over the last 30 days (today included).
const TARGET_DAYS: i64 = 30;

fn finding(entity: &str, rule: &str, message: String, details: Value) -> SourcedFinding {
    SourcedFinding { entity_ref: entity.to_owned(), rule: rule.to_owned(), message, details, level: None }
}

/// The two findings of a comparison.
pub fn findings_of(c: &views::Comparison) -> Vec<SourcedFinding> {
    let mut out = Vec::new();
    for (consumer, api, calls, _) in &c.observed_not_declared {
        out.push(finding(
            consumer,
            UNDECLARED_CONSUMPTION,
            format!(
                "{consumer} called {api} {calls} times in the last 28 days without declaring it; add {api} to spec.consumesApis of {consumer}"
            ),
            json!({"api": api, "calls": calls, "fix": format!("add {api} to spec.consumesApis")}),
        ));
    }
    for (consumer, api, last) in &c.declared_not_observed {
        let when = match last {
            Some(t) => format!("since {}", rfc3339(*t)),
            None => "ever".to_owned(),
        };
        out.push(finding(
            consumer,
            UNUSED_DECLARED_DEPENDENCY,
            format!(
                "{consumer} declares {api} in spec.consumesApis but has not called it in 28 days (last call: {when}); remove the entry if it is no longer needed"
            ),
            json!({"api": api, "lastCall": last.map(rfc3339), "fix": format!("remove {api} from spec.consumesApis, or start calling it")}),
        ));
    }
    out
}

#[derive(Debug, Deserialize)]
struct Target {
    metric: String,
    target: f64,
    api: Option<String>,
    direction: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Kpi {
    name: String,
    unit: Option<String>,
    target: Option<f64>,
    direction: Option<String>,
}

fn on_track(current: Option<f64>, target: Option<f64>, increase: bool) -> (Option<f64>, Option<bool>) {
    match (current, target) {
        (Some(c), Some(t)) => {
            let progress = if increase {
                if t == 0.0 { 1.0 } else { c / t }
            } else if c == 0.0 {
                1.0
            } else {
                t / c
            };
            (Some((progress * 1000.0).round() / 1000.0), Some(if increase { c >= t } else { c <= t }))
        }
        (None, Some(_)) => (None, Some(false)),
        _ => (None, None),
    }
}

/// The current value of one platform target over the last 30 days.
fn measure(pool: &Pool, g: &Graph, metric: &str, apis: &[String], now: i64) -> anyhow::Result<Option<f64>> {
    let from = floor(now, DAY_MS) - (TARGET_DAYS - 1) * DAY_MS;
    let to = floor(now, DAY_MS) + DAY_MS;
    let totals = || -> anyhow::Result<Counts> {
        let mut c = Counts::default();
        for r in read::rows(pool, Level::Day, &read::Scope { apis: Some(apis), consumers: None, from, to })? {
            c.add(&r.counts);
        }
        Ok(c)
    };
    Ok(match metric {
        "activeConsumers" => {
            let consumers: HashSet<String> = read::pairs(pool, Some(apis))?
                .into_iter()
                .filter(|p| p.last_seen >= from)
                .map(|p| p.consumer)
                .collect();
            Some(consumers.len() as f64)
        }
        "monthlyCalls" => Some(totals()?.calls as f64),
        "errorRate" => {
            let c = totals()?;
            (c.calls > 0).then(|| (c.errors as f64 / c.calls as f64 * 1e6).round() / 1e6)
        }
        "p95LatencyMs" => totals()?.hist.quantile(0.95).map(|v| (v * 1000.0).round() / 1000.0),
        "adoption" => {
            // The share of declaring consumers (through their products) that called in 28 days.
            let c = views::compare(pool, g, Some(apis), now)?;
            let declared: usize = apis.iter().map(|a| g.declarers(a, "consumesApi").count()).sum();
            let silent = c.declared_not_observed.len();
            (declared > 0)
                .then(|| ((declared - silent.min(declared)) as f64 / declared as f64 * 1000.0).round() / 1000.0)
        }
        _ => None,
    })
}

impl Usage {
    /// `targets` of a platform view.
    pub fn targets(&self, pool: &Pool, g: &Graph, platform: &str) -> anyhow::Result<Vec<TargetView>> {
        let Some(p) = g.get(platform) else { return Ok(Vec::new()) };
        let now = now_ms();
        let mut out = Vec::new();
        for raw in &p.targets {
            let Ok(t) = serde_json::from_value::<Target>(raw.clone()) else { continue };
            let api = t
                .api
                .as_deref()
                .and_then(|a| EntityRef::parse(a, Some("api"), DEFAULT_NAMESPACE).ok())
                .map(|r| r.key());
            let apis = match &api {
                Some(a) => vec![a.clone()],
                None => g.apis_of(platform),
            };
            let increase = match t.direction.as_deref() {
                Some(d) => d == "increase",
                None => !matches!(t.metric.as_str(), "errorRate" | "p95LatencyMs"),
            };
            let current = measure(pool, g, &t.metric, &apis, now)?;
            let (progress, on) = on_track(current, Some(t.target), increase);
            out.push(TargetView {
                metric: t.metric,
                api,
                target: t.target,
                direction: if increase { "increase" } else { "decrease" },
                current,
                progress,
                on_track: on,
            });
        }
        Ok(out)
    }

    /// `kpis` of a product view.
    pub fn kpis(&self, pool: &Pool, g: &Graph, product: &str) -> anyhow::Result<Vec<KpiView>> {
        let Some(p) = g.get(product) else { return Ok(Vec::new()) };
        let values = kpi_store::values_of(pool, product)?;
        let mut out = Vec::new();
        for raw in &p.kpis {
            let Ok(k) = serde_json::from_value::<Kpi>(raw.clone()) else { continue };
            let mine: Vec<&kpi_store::KpiValue> = values.iter().filter(|v| v.kpi == k.name).collect();
            let current = mine.last().map(|v| v.value);
            let previous = mine.len().checked_sub(2).map(|i| mine[i].value);
            let increase = k.direction.as_deref() != Some("decrease");
            let (_, on) = on_track(current, k.target, increase);
            let series: Vec<KpiPoint> = mine.iter().map(|v| KpiPoint { t: rfc3339(v.t), value: v.value }).collect();
            out.push(KpiView {
                name: k.name,
                unit: k.unit,
                target: k.target,
                direction: if increase { "increase" } else { "decrease" },
                current,
                previous,
                on_track: on,
                series,
            });
        }
        Ok(out)
    }
}

impl FindingsSource for Usage {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn rules(&self) -> &'static [&'static str] {
        RULES
    }

    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>> {
        let version = store::pairs_version(pool)?;
        let dirty = self.dirty.swap(false, std::sync::atomic::Ordering::SeqCst);
        {
            let mut last = self.last_findings.lock().unwrap_or_else(|e| e.into_inner());
            let fresh =
                last.is_some_and(|(v, gen_, at)| v == version && gen_ == generation && at.elapsed() < FINDINGS_EVERY);
            if fresh && !dirty {
                return Ok(None);
            }
            *last = Some((version, generation, Instant::now()));
        }
        let c = views::compare(pool, g, None, now_ms())?;
        Ok(Some(findings_of(&c)))
    }
}

/// Product views show KPI values, platform views their targets measured.
impl ViewExtension for Usage {
    fn fields(
        &self,
        pool: &Pool,
        g: &Graph,
        kind: EntityKind,
        key: &str,
    ) -> anyhow::Result<Vec<(&'static str, Value)>> {
        Ok(match kind {
            EntityKind::Product => vec![("kpis", serde_json::to_value(self.kpis(pool, g, key)?)?)],
            EntityKind::Platform => vec![("targets", serde_json::to_value(self.targets(pool, g, key)?)?)],
            EntityKind::Team => Vec::new(),
        })
    }

    fn reported_since(&self, pool: &Pool, since: i64) -> anyhow::Result<Option<HashSet<String>>> {
        Ok(Some(kpi_store::reported_since(pool, since)?.into_iter().collect()))
    }
}

/// What the delivery office (or any reporting domain) reads of consumption.
impl ConsumptionFacts for Usage {
    fn observed(&self, pool: &Pool, apis: &[String], since: i64) -> anyhow::Result<Vec<(String, String)>> {
        if apis.is_empty() {
            return Ok(Vec::new());
        }
        Ok(read::pairs(pool, Some(apis))?
            .into_iter()
            .filter(|p| p.last_seen >= since)
            .map(|p| (p.api, p.consumer))
            .collect())
    }

    fn kpi_values(&self, pool: &Pool, product: &str) -> anyhow::Result<Vec<(String, i64, f64)>> {
        let mut v: Vec<(String, i64, f64)> =
            kpi_store::values_of(pool, product)?.into_iter().map(|k| (k.kpi, k.t, k.value)).collect();
        v.sort_by_key(|k| k.1);
        Ok(v)
    }

    fn targets(&self, pool: &Pool, g: &Graph, platform: &str) -> anyhow::Result<Vec<TargetFact>> {
        Ok(Usage::targets(self, pool, g, platform)?
            .into_iter()
            .map(|t| TargetFact { metric: t.metric, target: t.target, current: t.current, on_track: t.on_track })
            .collect())
    }

    fn adoption(&self, pool: &Pool, apis: &[String], from: i64, to: i64) -> anyhow::Result<AdoptionFact> {
        if apis.is_empty() {
            return Ok(AdoptionFact::default());
        }
        // Each consumer's first and last call on any of the APIs.
        let mut spans: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
        for p in read::pairs(pool, Some(apis))? {
            let e = spans.entry(p.consumer).or_insert((p.first_seen, p.last_seen));
            e.0 = e.0.min(p.first_seen);
            e.1 = e.1.max(p.last_seen);
        }
        let silent_by = to.min(now_ms());
        let mut out = AdoptionFact::default();
        for (first, last) in spans.into_values() {
            out.active += i64::from(first < to && last >= from);
            out.new += i64::from(first >= from && first < to);
            let silent_at = last + super::OBSERVED_WINDOW_MS;
            out.churned += i64::from(silent_at >= from && silent_at < silent_by);
        }
        Ok(out)
    }
}

/// One KPI value as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiPost {
    pub kpi: String,
    pub time: String,
    pub value: f64,
}

/// A posted KPI value that was not recorded, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    pub index: usize,
    pub message: String,
}

/// What a KPI post recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KpiRecorded {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

/// Records posted values of a product's declared KPIs; each bad row is rejected with its index.
pub fn record(pool: &Pool, g: &Graph, product: &str, rows: Vec<serde_json::Value>) -> anyhow::Result<KpiRecorded> {
    let declared: HashSet<String> = g
        .get(product)
        .map(|p| p.kpis.iter().filter_map(|k| k["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut good = Vec::new();
    let mut rejected = Vec::new();
    let now = now_ms();
    for (index, raw) in rows.into_iter().enumerate() {
        let checked = serde_json::from_value::<KpiPost>(raw)
            .map_err(|e| crate::error::plain_serde_message(&e.to_string()))
            .and_then(|p| {
                if !declared.contains(&p.kpi) {
                    let mut known: Vec<&String> = declared.iter().collect();
                    known.sort();
                    return Err(format!("kpi: {product} declares no KPI named {:?} (it declares {known:?})", p.kpi));
                }
                let t = super::intake::parse_time(&p.time)
                    .ok_or_else(|| format!("time: {:?} is not an RFC 3339 time", p.time))?;
                if t > now + super::FUTURE_MS {
                    return Err(format!("time: {} is in the future", p.time));
                }
                if !p.value.is_finite() {
                    return Err("value: a finite number".into());
                }
                Ok((p.kpi, t, p.value))
            });
        match checked {
            Ok(v) => good.push(v),
            Err(message) => rejected.push(Rejected { index, message }),
        }
    }
    kpi_store::record(pool, product, &good, now)?;
    Ok(KpiRecorded { accepted: good.len(), rejected })
}
