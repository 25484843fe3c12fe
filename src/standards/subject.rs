//! What a check reads about one entity ([`model::Vars`]), built from the stored bodies, the org
//! graph and the facts other domains publish; and which entities a change may have changed.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::model::{Scorecard, Vars};
use super::store::ResultRow;
use crate::catalog::facade as catalog_store;
use crate::cel;
use crate::org::Graph;

/// Entities whose variables may change when `changed` change: the changed ones, what is part of
/// them (product and platform), what they own (owner), and what they name (relations).
pub fn affected_by(g: &Graph, changed: &[String]) -> HashSet<String> {
    let mut out = HashSet::new();
    for k in changed {
        out.insert(k.clone());
        out.extend(g.descendants(k));
        out.extend(g.declarers(k, "ownedBy").map(str::to_owned));
        if let Some(e) = g.get(k) {
            out.extend(e.edges.iter().map(|e| e.target.clone()));
        }
    }
    out.retain(|k| g.get(k).is_some() || changed.contains(k));
    out
}

/// The facts of every entity by ref key: `{<source>: {...}}`.
pub type Facts = HashMap<String, Value>;

/// The facts of every entity, from every facts source.
pub fn facts(pool: &crate::db::Pool, g: &Graph, hooks: &crate::domain::Hooks) -> anyhow::Result<Facts> {
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    for source in hooks.entity_facts.all() {
        match source.facts(pool, g) {
            Ok(found) => {
                for (key, v) in found {
                    out.entry(key).or_default().insert(source.name().to_owned(), v);
                }
            }
            Err(e) => tracing::warn!(source = source.name(), error.cause = format!("{e:#}"), "A facts source failed."),
        }
    }
    Ok(out.into_iter().map(|(k, v)| (k, Value::Object(v))).collect())
}

/// The entities to judge, with their variables.
pub struct Subjects<'g> {
    g: &'g Graph,
    vars: HashMap<String, Vars>,
    now: i64,
}

impl<'g> Subjects<'g> {
    /// Reads the bodies `keys` need (every entity for `None`) and builds their variables.
    pub fn load(
        pool: &crate::db::Pool,
        g: &'g Graph,
        keys: Option<&[String]>,
        facts: &Facts,
        now: i64,
    ) -> anyhow::Result<Self> {
        let member = |k: &str, kind: &str| Graph::of_kind(&g.membership(k), kind).into_iter().next();
        let read: Option<Vec<String>> = keys.map(|keys| {
            let mut need: HashSet<String> = keys.iter().cloned().collect();
            for k in keys {
                if let Some(e) = g.get(k) {
                    need.extend(e.owner.clone());
                }
                need.extend(member(k, "product"));
                need.extend(member(k, "platform"));
            }
            need.into_iter().collect()
        });
        let mut bodies: HashMap<String, cel::Value> = HashMap::new();
        for (body, _, _) in catalog_store::entity_sources(pool, read.as_deref())? {
            let Ok(v) = serde_json::from_str::<Value>(&body) else { continue };
            if let Some(key) = crate::catalog::validate::describe(&v) {
                bodies.insert(key, cel::Value::from_json(&v));
            }
        }
        let judged: Vec<String> = match keys {
            Some(k) => k.to_vec(),
            None => g.entities.keys().cloned().collect(),
        };
        let at = cel::Value::timestamp(now);
        let body = |k: Option<String>| k.and_then(|k| bodies.get(&k).cloned()).unwrap_or_else(cel::Value::null);
        let mut vars = HashMap::with_capacity(judged.len());
        for key in judged {
            let (Some(e), Some(entity)) = (g.get(&key), bodies.get(&key)) else { continue };
            let mut relations: Vec<Value> =
                e.edges.iter().map(|x| json!({"type": x.rel, "targetRef": x.target_ref})).collect();
            for (from, rel) in g.referrers(&key) {
                if let Some(inverse) = crate::catalog::relations::inverse_of(rel) {
                    let target = g.get(from).map_or(from.as_str(), |f| f.entity_ref.as_str());
                    relations.push(json!({"type": inverse, "targetRef": target}));
                }
            }
            let facts = facts.get(&key).cloned().unwrap_or_else(|| Value::Object(Map::new()));
            vars.insert(
                key.clone(),
                Vars {
                    entity: entity.clone(),
                    relations: cel::Value::from_json(&Value::Array(relations)),
                    owner: body(e.owner.clone()),
                    product: body(member(&key, "product")),
                    platform: body(member(&key, "platform")),
                    facts: cel::Value::from_json(&facts),
                    now: at.clone(),
                },
            );
        }
        Ok(Self { g, vars, now })
    }

    /// Judges one entity, when the scorecard applies to it.
    pub fn judge(&self, sc: &Scorecard, key: &str) -> Option<ResultRow> {
        let (e, vars) = (self.g.get(key)?, self.vars.get(key)?);
        if !sc.applies(&e.kind, vars) {
            return None;
        }
        let o = sc.judge(vars);
        Some(ResultRow {
            scorecard_ref: sc.key.clone(),
            entity_ref: key.to_owned(),
            owner_ref: e.owner.clone(),
            level: o.level,
            score: o.score,
            checks: serde_json::to_string(&o.checks).unwrap_or_else(|_| "[]".into()),
            evaluated_at: self.now,
        })
    }

    /// Judges every entity loaded.
    pub fn judge_all(&self, sc: &Scorecard) -> Vec<ResultRow> {
        let mut keys: Vec<&String> = self.vars.keys().collect();
        keys.sort();
        keys.into_iter().filter_map(|k| self.judge(sc, k)).collect()
    }
}
