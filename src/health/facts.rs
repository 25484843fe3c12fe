//! The four keys team health publishes per entity for the checks users write (`facts.health`):
//! over the last `health.idle_days` (90 by default), for every entity that sends deployments, for
//! what they are part of (systems, products, platforms), and for every product and platform whose
//! team sends deployments (the ones the built-in scorecard judges on deployments): each the keys
//! of the entity and its parts, and `teamDeploys`, whether the entity's team sent any.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::Health;
use super::model::{self, Window};
use super::views::{self, Scope};
use crate::db::{Pool, now_ms};
use crate::domain::hooks::EntityFacts;
use crate::org::Graph;

impl EntityFacts for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn facts(&self, pool: &Pool, g: &Graph) -> anyhow::Result<HashMap<String, Value>> {
        let window = Window::last(self.settings.idle_days, model::day_of(now_ms()));
        let (teams, _) = self.deploying(pool, g, window.start_ms())?;
        let team_deploys = |key: &str| views::team_of(g, key).is_some_and(|t| teams.contains(&t));
        let mut keys: HashSet<String> = HashSet::new();
        for d in super::store::deploying_entities(pool)? {
            let mut up = vec![d];
            while let Some(k) = up.pop() {
                if keys.insert(k.clone()) {
                    up.extend(g.parents(&k).into_iter().map(str::to_owned));
                }
            }
        }
        if !teams.is_empty() {
            keys.extend(
                g.entities
                    .values()
                    .filter(|e| (e.is("product") || e.is("platform")) && team_deploys(&e.key))
                    .map(|e| e.key.clone()),
            );
        }
        let mut out = HashMap::new();
        for key in keys {
            let Ok(Some(entities)) = views::entities_of(g, &Scope::Entity(key.clone())) else { continue };
            let k = views::scope_keys(pool, Some(&entities), window, &model::BANDS[0])?;
            out.insert(
                key.clone(),
                json!({
                    "deploymentFrequency": k.deployment_frequency,
                    "leadTime": k.lead_time,
                    "changeFailureRate": k.change_failure_rate,
                    "recoveryTime": k.recovery_time,
                    "teamDeploys": team_deploys(&key),
                    "days": self.settings.idle_days,
                }),
            );
        }
        Ok(out)
    }
}
