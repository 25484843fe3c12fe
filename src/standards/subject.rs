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

/// What the entities to judge read: their bodies and those of their owners, products and
/// platforms (as CEL values), and the facts.
pub struct Subjects<'g> {
    g: &'g Graph,
    bodies: HashMap<String, cel::Value>,
    facts: &'g Facts,
    now: i64,
}

/// Below this many entities a judgement stays on one thread.
const PARALLEL_FROM: usize = 512;

impl<'g> Subjects<'g> {
    /// Reads the bodies `keys` need (every entity for `None`).
    pub fn load(
        pool: &crate::db::Pool,
        g: &'g Graph,
        keys: Option<&[String]>,
        facts: &'g Facts,
        now: i64,
    ) -> anyhow::Result<Self> {
        let read: Option<Vec<String>> = keys.map(|keys| {
            let mut need: HashSet<String> = keys.iter().cloned().collect();
            for k in keys {
                if let Some(e) = g.get(k) {
                    need.extend(e.owner.clone());
                }
                need.extend(member(g, k, "product"));
                need.extend(member(g, k, "platform"));
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
        Ok(Self { g, bodies, facts, now })
    }

    /// One entity's variables, bound.
    fn scope(&self, key: &str, now: &cel::Value) -> Option<cel::Scope> {
        let (e, entity) = (self.g.get(key)?, self.bodies.get(key)?);
        let mut relations: Vec<Value> =
            e.edges.iter().map(|x| json!({"type": x.rel, "targetRef": x.target_ref})).collect();
        for (from, rel) in self.g.referrers(key) {
            if let Some(inverse) = crate::catalog::relations::inverse_of(rel) {
                let target = self.g.get(from).map_or(from.as_str(), |f| f.entity_ref.as_str());
                relations.push(json!({"type": inverse, "targetRef": target}));
            }
        }
        let body = |k: Option<String>| k.and_then(|k| self.bodies.get(&k).cloned()).unwrap_or_else(cel::Value::null);
        let facts = self
            .facts
            .get(key)
            .map_or_else(|| cel::Value::from_json(&Value::Object(Map::new())), cel::Value::from_json);
        let vars = Vars {
            entity: entity.clone(),
            relations: cel::Value::from_json(&Value::Array(relations)),
            owner: body(e.owner.clone()),
            product: body(member(self.g, key, "product")),
            platform: body(member(self.g, key, "platform")),
            facts,
            now: now.clone(),
        };
        Some(vars.scope())
    }

    /// Judges `keys` (every entity loaded for `None`) against each scorecard that applies to
    /// them; each entity's variables are bound once for all scorecards. Large judgements are
    /// shared between two threads.
    pub fn judge(&self, scorecards: &[&Scorecard], keys: Option<&[String]>) -> Vec<ResultRow> {
        let mut all: Vec<&str> = match keys {
            Some(k) => k.iter().map(String::as_str).collect(),
            None => self.bodies.keys().map(String::as_str).collect(),
        };
        all.sort_unstable();
        let work = |part: &[&str]| -> Vec<ResultRow> {
            let now = cel::Value::timestamp(self.now);
            let mut out = Vec::new();
            for key in part {
                let Some(e) = self.g.get(key) else { continue };
                let Some(scope) = self.scope(key, &now) else { continue };
                for sc in scorecards {
                    if sc.applies(&e.kind, &scope) {
                        out.push(self.row(sc, key, e.owner.clone(), &scope));
                    }
                }
            }
            out
        };
        if all.len() < PARALLEL_FROM {
            return work(&all);
        }
        let (a, b) = all.split_at(all.len() / 2);
        std::thread::scope(|s| {
            let other = s.spawn(|| work(b));
            let mut out = work(a);
            out.extend(other.join().unwrap_or_default());
            out
        })
    }

    fn row(&self, sc: &Scorecard, key: &str, owner: Option<String>, scope: &cel::Scope) -> ResultRow {
        let o = sc.judge(scope);
        ResultRow {
            scorecard_ref: sc.key.clone(),
            entity_ref: key.to_owned(),
            owner_ref: owner,
            level: o.level,
            score: o.score,
            checks: serde_json::to_string(&o.checks).unwrap_or_else(|_| "[]".into()),
            evaluated_at: self.now,
        }
    }
}

/// The product or platform an entity belongs to (the first, by ref key).
fn member(g: &Graph, key: &str, kind: &str) -> Option<String> {
    Graph::of_kind(&g.membership(key), kind).into_iter().next()
}

impl Subjects<'_> {
    /// The keys a filter keeps (an error at run time keeps nothing).
    pub fn kept(&self, filter: &crate::cel::Program, keys: &[String]) -> HashSet<String> {
        let now = cel::Value::timestamp(self.now);
        keys.iter()
            .filter(|k| self.scope(k, &now).is_some_and(|s| filter.eval_in(&s).unwrap_or(false)))
            .cloned()
            .collect()
    }
}
