//! Scorecards as data (pure): read from a `Scorecard` entity's body with every expression
//! compiled once, and judged against one entity's variables. An entity reaches a level when it
//! passes every check of that level and of each level below (Port's rule); its score is the
//! weighted share of checks passed. A check whose expression fails at run time (a missing
//! field, a wrong type) fails with the error as its message; the scorecard goes on.

use serde::Serialize;
use serde_json::Value;

use crate::cel::{self, Program};

/// The kinds a scorecard without a filter applies to.
pub const DEFAULT_KINDS: &[&str] = &["component", "system", "api", "resource", "product", "platform"];

/// One check of a scorecard.
#[derive(Debug)]
pub struct Check {
    pub id: String,
    pub title: String,
    /// Index into the scorecard's levels.
    pub level: usize,
    pub program: Program,
    pub message: String,
    pub weight: f64,
    /// `info`, `warning` or `error`: a failing check is also a governance finding.
    pub severity: Option<String>,
}

/// A scorecard, compiled.
#[derive(Debug)]
pub struct Scorecard {
    /// The scorecard's ref key (`scorecard:ns/name`).
    pub key: String,
    pub entity_ref: String,
    pub name: String,
    pub title: String,
    pub owner: Option<String>,
    pub description: Option<String>,
    pub filter: Option<Program>,
    pub levels: Vec<String>,
    pub checks: Vec<Check>,
}

fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned)
}

impl Scorecard {
    /// Reads a stored Scorecard body (validated when it was read, so a problem here means the
    /// validation rules changed since: answered, not panicked on). `owner` is the owner's ref key.
    pub fn from_body(key: &str, body: &Value, owner: Option<String>) -> Result<Scorecard, String> {
        let meta = &body["metadata"];
        let spec = &body["spec"];
        let name = text(meta, "name").unwrap_or_default();
        let levels: Vec<String> =
            spec["levels"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        let filter = match spec.get("filter").and_then(Value::as_str) {
            Some(f) => Some(cel::compile(f).map_err(|e| format!("/spec/filter: {e}"))?),
            None => None,
        };
        let mut checks = Vec::new();
        for (i, c) in spec["checks"].as_array().into_iter().flatten().enumerate() {
            let id = text(c, "id").unwrap_or_default();
            let level_name = text(c, "level").unwrap_or_default();
            let level = levels
                .iter()
                .position(|l| *l == level_name)
                .ok_or_else(|| format!("/spec/checks/{i}/level: '{level_name}' is not a level"))?;
            let src = text(c, "expression").unwrap_or_default();
            let program = cel::compile(&src).map_err(|e| format!("/spec/checks/{i}/expression: {e}"))?;
            checks.push(Check {
                title: text(c, "title").unwrap_or_else(|| id.clone()),
                id,
                level,
                program,
                message: text(c, "message").unwrap_or_default(),
                weight: c.get("weight").and_then(Value::as_f64).unwrap_or(1.0),
                severity: text(c, "severity"),
            });
        }
        Ok(Scorecard {
            key: key.to_owned(),
            entity_ref: crate::catalog::validate::describe(body).unwrap_or_else(|| key.to_owned()),
            title: text(meta, "title").unwrap_or_else(|| name.clone()),
            name,
            owner,
            description: text(spec, "description"),
            filter,
            levels,
            checks,
        })
    }

    /// Whether the scorecard applies to an entity of `kind` with these variables.
    pub fn applies(&self, kind: &str, scope: &cel::Scope) -> bool {
        match &self.filter {
            Some(f) => f.eval_in(scope).unwrap_or(false),
            None => DEFAULT_KINDS.contains(&kind),
        }
    }

    /// Judges one entity.
    pub fn judge(&self, scope: &cel::Scope) -> Outcome {
        let mut outcome = Outcome { level: None, score: 0.0, checks: Vec::with_capacity(self.checks.len()) };
        let (mut got, mut total) = (0.0, 0.0);
        for c in &self.checks {
            let (passed, error) = match c.program.eval_in(scope) {
                Ok(b) => (b, None),
                Err(e) => (false, Some(e)),
            };
            total += c.weight;
            if passed {
                got += c.weight;
            }
            outcome.checks.push(CheckOutcome { passed, error });
        }
        outcome.score = if total > 0.0 { ((got / total) * 1000.0).round() / 1000.0 } else { 1.0 };
        for (l, name) in self.levels.iter().enumerate() {
            let all = self.checks.iter().zip(&outcome.checks).filter(|(c, _)| c.level == l).all(|(_, o)| o.passed);
            if !all {
                break;
            }
            outcome.level = Some(name.clone());
        }
        outcome
    }
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    pub passed: bool,
    /// The run-time error that failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an entity stands against a scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The highest level reached (`None`: below the lowest).
    pub level: Option<String>,
    /// The weighted share of checks passed, 0 to 1, three decimals.
    pub score: f64,
    /// In the scorecard's check order.
    pub checks: Vec<CheckOutcome>,
}

/// The variables a check reads about one entity.
pub struct Vars {
    pub entity: cel::Value,
    pub relations: cel::Value,
    pub owner: cel::Value,
    pub product: cel::Value,
    pub platform: cel::Value,
    pub facts: cel::Value,
    pub now: cel::Value,
}

impl Vars {
    /// The variables bound, for every check of every scorecard to read.
    pub fn scope(&self) -> cel::Scope {
        cel::Scope::new(&[
            ("entity", &self.entity),
            ("relations", &self.relations),
            ("owner", &self.owner),
            ("product", &self.product),
            ("platform", &self.platform),
            ("facts", &self.facts),
            ("now", &self.now),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(entity: Value, facts: Value) -> Vars {
        Vars {
            entity: cel::Value::from_json(&entity),
            relations: cel::Value::from_json(&json!([])),
            owner: cel::Value::null(),
            product: cel::Value::null(),
            platform: cel::Value::null(),
            facts: cel::Value::from_json(&facts),
            now: cel::Value::timestamp(0),
        }
    }

    #[test]
    fn levels_need_every_lower_level_and_scores_weigh_checks() {
        let body = json!({"apiVersion": "portolan.dev/v1alpha1", "kind": "Scorecard", "metadata": {"name": "ready"}, "spec": {
        "owner": "t", "levels": ["bronze", "silver", "gold"], "checks": [
            {"id": "owned", "level": "bronze", "expression": "has(entity.spec.owner)"},
            {"id": "described", "level": "silver", "expression": "has(entity.metadata.description)", "weight": 3},
            {"id": "busy", "level": "gold", "expression": "facts.calls > 10"},
        ]}});
        let sc = Scorecard::from_body("scorecard:default/ready", &body, None).unwrap();
        let e = json!({"kind": "Component", "metadata": {"name": "a"}, "spec": {"owner": "t"}});
        // Gold passes but silver does not: the level stops at bronze.
        let o = sc.judge(&vars(e.clone(), json!({"calls": 11})).scope());
        assert_eq!(o.level.as_deref(), Some("bronze"));
        assert_eq!(o.score, 0.4);
        // A run-time error fails its check only, with the error as its message.
        let o = sc.judge(&vars(e, json!({})).scope());
        assert!(o.checks[0].passed);
        assert!(o.checks[2].error.as_deref().unwrap_or_default().contains("calls"), "{o:?}");
        assert!(sc.applies("component", &vars(json!({}), json!({})).scope()));
        assert!(!sc.applies("group", &vars(json!({}), json!({})).scope()));
    }
}
