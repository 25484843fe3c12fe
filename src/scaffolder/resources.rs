//! Infrastructure offered as products: templates of `spec.type: resource` owned by a platform's
//! team are that platform's infrastructure offerings. The platform view gains `resources`: what
//! their tasks requested, made ready and failed, the median hours from request to ready, and the
//! ready Resource entities (registered by `portolan:resource`) per consumer, the component each
//! is a dependency of.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::store;
use crate::catalog::facade as catalog_store;
use crate::catalog::model::EntityRef;
use crate::db::Pool;
use crate::domain::hooks::{EntityKind, ViewExtension};
use crate::org::Graph;

/// The platform views' `resources`. It holds no pool and no catalog engine (the hooks hold it:
/// what it held would live as long as they do); it reads through the pool it is handed.
pub struct Resources {
    /// The folder of the entities tasks register (`portolan:resource`).
    pub kept: std::path::PathBuf,
}

impl Resources {
    /// The platform's `resources`, or none when it offers no infrastructure template.
    pub fn resources_of(&self, pool: &Pool, g: &Graph, platform: &str) -> anyhow::Result<Option<Value>> {
        let Some(owner) = g.get(platform).and_then(|p| p.owner.clone()) else { return Ok(None) };
        let mut templates: Vec<String> = g
            .entities
            .values()
            .filter(|e| e.kind == "template" && e.spec_type.as_deref() == Some("resource"))
            .filter(|e| e.owner.as_deref() == Some(owner.as_str()))
            .map(|e| e.key.clone())
            .collect();
        if templates.is_empty() {
            return Ok(None);
        }
        templates.sort();
        let tasks = store::of_templates(pool, &templates)?;
        let count = |s: &str| tasks.iter().filter(|t| t.1 == s).count();
        let mut hours: Vec<f64> = tasks
            .iter()
            .filter(|t| t.1 == "completed")
            .filter_map(|t| t.3.map(|end| (end - t.2).max(0) as f64 / 3_600_000.0))
            .collect();
        hours.sort_by(f64::total_cmp);
        let median = match hours.len() {
            0 => Value::Null,
            n if n % 2 == 1 => json!(hours[n / 2]),
            n => json!((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        };
        // The Resource entities these templates registered, per component they serve.
        let kept = self.kept.display().to_string();
        let keys: Vec<String> = g
            .entities
            .values()
            .filter(|e| e.kind == "resource" && e.file.as_deref().is_some_and(|f| f.starts_with(&kept)))
            .map(|e| e.key.clone())
            .collect();
        let mut per_consumer: BTreeMap<String, u64> = BTreeMap::new();
        for (_, body) in catalog_store::bodies_by_keys(pool, &keys)? {
            let body: Value = serde_json::from_str(&body)?;
            let from = body["metadata"]["annotations"]["portolan.dev/template"].as_str().unwrap_or_default();
            if !templates.iter().any(|t| t == from) {
                continue;
            }
            for c in body["spec"]["dependencyOf"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Ok(r) = EntityRef::parse(c, Some("component"), crate::catalog::model::DEFAULT_NAMESPACE) {
                    *per_consumer.entry(r.key()).or_default() += 1;
                }
            }
        }
        let by_consumer: Vec<Value> =
            per_consumer.into_iter().map(|(c, n)| json!({"consumer": c, "ready": n})).collect();
        Ok(Some(json!({
            "templates": templates,
            "requested": tasks.len(),
            "ready": count("completed"),
            "failed": count("failed"),
            "inProgress": tasks.len() - count("completed") - count("failed") - count("cancelled"),
            "medianHoursToReady": median,
            "byConsumer": by_consumer,
        })))
    }
}

/// Platform views show the infrastructure requested through their templates.
impl ViewExtension for Resources {
    fn fields(
        &self,
        pool: &Pool,
        g: &Graph,
        kind: EntityKind,
        key: &str,
    ) -> anyhow::Result<Vec<(&'static str, Value)>> {
        if kind != EntityKind::Platform {
            return Ok(Vec::new());
        }
        Ok(self.resources_of(pool, g, key)?.map(|r| vec![("resources", r)]).unwrap_or_default())
    }
}
