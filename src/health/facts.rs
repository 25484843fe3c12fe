//! The four keys team health publishes per entity for the checks users write (`facts.health`):
//! over the last 90 days, for every entity that sends deployments and for what they are part of
//! (systems, products, platforms), each the keys of the entity and its parts.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::Health;
use super::model::{self, Window};
use super::views::{self, Scope};
use crate::db::{Pool, now_ms};
use crate::domain::hooks::EntityFacts;
use crate::org::Graph;

/// The days the keys cover.
pub const FACT_DAYS: u64 = 90;

impl EntityFacts for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn facts(&self, pool: &Pool, g: &Graph) -> anyhow::Result<HashMap<String, Value>> {
        let deploying = super::store::deploying_entities(pool)?;
        let mut keys: HashSet<String> = HashSet::new();
        for d in &deploying {
            let mut up = vec![d.clone()];
            while let Some(k) = up.pop() {
                if keys.insert(k.clone()) {
                    up.extend(g.parents(&k).into_iter().map(str::to_owned));
                }
            }
        }
        let window = Window::last(FACT_DAYS, model::day_of(now_ms()));
        let mut out = HashMap::new();
        for key in keys {
            let Ok(Some(entities)) = views::entities_of(g, &Scope::Entity(key.clone())) else { continue };
            let k = views::scope_keys(pool, Some(&entities), window, &model::BANDS[0])?;
            out.insert(
                key,
                json!({
                    "deploymentFrequency": k.deployment_frequency,
                    "leadTime": k.lead_time,
                    "changeFailureRate": k.change_failure_rate,
                    "recoveryTime": k.recovery_time,
                }),
            );
        }
        Ok(out)
    }
}
