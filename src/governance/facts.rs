//! The numbers governance publishes per entity for the checks users write (`facts.governance`):
//! its findings per severity, of the entity alone and with everything part of it, and the APIs it
//! is or provides (with its parts) whose descriptor has no definition. With these, the built-in
//! scorecard can be written in CEL (`catalog-info/built-in-levels.yaml`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Governance;
use super::store;
use crate::db::Pool;
use crate::domain::hooks::EntityFacts;
use crate::org::Graph;

impl EntityFacts for Governance {
    fn name(&self) -> &'static str {
        "governance"
    }

    fn facts(&self, pool: &Pool, g: &Graph) -> anyhow::Result<HashMap<String, Value>> {
        let counts = store::finding_counts(pool)?;
        let mut out = HashMap::with_capacity(g.entities.len());
        for (key, e) in &g.entities {
            let own = counts.get(key);
            let n = |s: &str| own.and_then(|c| c.get(s)).copied().unwrap_or(0);
            let mut parts = g.descendants(key);
            parts.push(key.clone());
            let within = |s: &str| -> i64 { parts.iter().filter_map(|k| counts.get(k)?.get(s)).sum() };
            let apis = if e.is("api") { vec![key.clone()] } else { g.apis_of(key) };
            let undefined: Vec<String> =
                apis.iter().filter(|a| !g.get(a).is_some_and(|a| a.has_definition)).map(|a| g.display(a)).collect();
            out.insert(
                key.clone(),
                json!({
                    "findings": {"error": n("error"), "warning": n("warning"), "info": n("info")},
                    "findingsWithParts": {"error": within("error"), "warning": within("warning"), "info": within("info")},
                    "apis": apis.len(),
                    "apisWithoutDefinition": undefined,
                }),
            );
        }
        Ok(out)
    }
}
