//! The numbers consumption publishes per entity for the checks users write (`facts.usage`):
//! calls, errors and active consumers over the last 28 days of the APIs an entity is or provides
//! (itself and its parts), a product's KPI values and a platform's targets, each with whether it
//! is on track, and when any KPI of a product last had a value (`kpisLastReportedAt`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::Usage;
use super::store::read;
use crate::db::{Pool, now_ms};
use crate::domain::hooks::EntityFacts;
use crate::org::Graph;

/// The span the numbers cover.
pub const FACT_DAYS: i64 = 28;

impl EntityFacts for Usage {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn facts(&self, pool: &Pool, g: &Graph) -> anyhow::Result<HashMap<String, Value>> {
        let from = now_ms() - FACT_DAYS * 86_400_000;
        let sums: HashMap<String, (i64, i64)> =
            read::api_sums(pool, from)?.into_iter().map(|s| (s.api, (s.calls, s.errors))).collect();
        let mut consumers: HashMap<String, HashSet<String>> = HashMap::new();
        for p in read::pairs(pool, None)? {
            if p.last_seen >= from {
                consumers.entry(p.api).or_default().insert(p.consumer);
            }
        }
        let latest: HashMap<String, i64> = super::store::kpis::latest_per_product(pool)?.into_iter().collect();
        let mut out = HashMap::new();
        for e in g.entities.values() {
            let apis = if e.is("api") { vec![e.key.clone()] } else { g.apis_of(&e.key) };
            let mut f = Map::new();
            if !apis.is_empty() {
                let (mut calls, mut errors) = (0, 0);
                let mut who: HashSet<&str> = HashSet::new();
                for a in &apis {
                    let (c, x) = sums.get(a).copied().unwrap_or_default();
                    calls += c;
                    errors += x;
                    who.extend(consumers.get(a).into_iter().flatten().map(String::as_str));
                }
                f.insert("calls28d".into(), json!(calls));
                f.insert("errors28d".into(), json!(errors));
                f.insert("activeConsumers28d".into(), json!(who.len()));
            }
            if e.is("product") && !e.kpis.is_empty() {
                let kpis: Map<String, Value> = self
                    .kpis(pool, g, &e.key)?
                    .into_iter()
                    .map(|k| (k.name, json!({"value": k.current, "target": k.target, "onTrack": k.on_track})))
                    .collect();
                f.insert("kpis".into(), Value::Object(kpis));
            }
            if let Some(t) = latest.get(&e.key) {
                f.insert("kpisLastReportedAt".into(), json!(crate::db::rfc3339(*t)));
            }
            if e.is("platform") && !e.targets.is_empty() {
                let targets: Map<String, Value> = self
                    .targets(pool, g, &e.key)?
                    .into_iter()
                    .map(|t| (t.metric, json!({"value": t.current, "target": t.target, "onTrack": t.on_track})))
                    .collect();
                f.insert("targets".into(), Value::Object(targets));
            }
            if !f.is_empty() {
                out.insert(e.key.clone(), Value::Object(f));
            }
        }
        Ok(out)
    }
}
