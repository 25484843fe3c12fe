//! Scorecards: named checks per product and platform, each at a level; the level reached is the
//! highest one whose checks, and every lower level's, all pass (`none` below bronze).

use std::collections::HashMap;

use serde::Serialize;

use super::model::Graph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    None,
    Bronze,
    Silver,
    Gold,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Bronze => "bronze",
            Level::Silver => "silver",
            Level::Gold => "gold",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub level: Level,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scorecard {
    pub entity_ref: String,
    pub level: Level,
    pub checks: Vec<Check>,
}

/// Findings per entity ref key and severity, as stored.
pub type Counts = HashMap<String, HashMap<String, i64>>;

/// How many findings of a severity the entity and everything part of it have.
pub fn findings_within(g: &Graph, key: &str, counts: &Counts, severity: &str) -> i64 {
    let mut keys = g.descendants(key);
    keys.push(key.to_owned());
    keys.iter().filter_map(|k| counts.get(k)).filter_map(|c| c.get(severity)).sum()
}

/// A product passes `kpis-reported` with a KPI value in this window.
pub const KPI_REPORT_WINDOW_MS: i64 = 30 * 86_400_000;

/// The scorecard of one product or platform. `kpis_reported` (products with KPI values in the
/// last 30 days, when a measuring domain is registered) adds the gold check `kpis-reported`.
pub fn scorecard(
    g: &Graph,
    key: &str,
    counts: &Counts,
    kpis_reported: Option<&std::collections::HashSet<String>>,
    extra: &[crate::domain::hooks::SourcedCheck],
) -> Option<Scorecard> {
    let e = g.get(key)?;
    let platform = e.is("platform");
    if !platform && !e.is("product") {
        return None;
    }
    let owner_known = e.owner.as_deref().and_then(|o| g.get(o)).is_some_and(|o| o.is("group") || o.is("user"));
    let apis = g.apis_of(key);
    let apis_defined = apis.iter().all(|a| g.get(a).is_some_and(|a| a.has_definition));
    let mut checks = vec![
        Check { id: "has-owner", level: Level::Bronze, passed: owner_known },
        Check { id: "has-lifecycle", level: Level::Bronze, passed: e.lifecycle.is_some() },
        Check { id: "has-description", level: Level::Silver, passed: e.description.is_some() },
        Check { id: "has-docs-link", level: Level::Silver, passed: e.has_docs },
        Check { id: "no-error-findings", level: Level::Silver, passed: findings_within(g, key, counts, "error") == 0 },
    ];
    if platform {
        checks.push(Check { id: "has-targets", level: Level::Gold, passed: !e.targets.is_empty() });
        checks.push(Check { id: "has-offerings", level: Level::Gold, passed: !e.offerings.is_empty() });
    } else {
        checks.push(Check { id: "has-kpis", level: Level::Gold, passed: !e.kpis.is_empty() });
        if let Some(reported) = kpis_reported {
            checks.push(Check { id: "kpis-reported", level: Level::Gold, passed: reported.contains(key) });
        }
    }
    checks.push(Check { id: "apis-have-definitions", level: Level::Gold, passed: apis_defined });
    checks.push(Check {
        id: "no-warning-findings",
        level: Level::Gold,
        passed: findings_within(g, key, counts, "warning") == 0,
    });
    // Checks other domains judge (deployments...), at their grade.
    for c in extra {
        use crate::domain::hooks::Grade;
        let level = match c.grade {
            Grade::Bronze => Level::Bronze,
            Grade::Silver => Level::Silver,
            Grade::Gold => Level::Gold,
        };
        checks.push(Check { id: c.id, level, passed: c.passed });
    }
    let mut level = Level::None;
    for l in [Level::Bronze, Level::Silver, Level::Gold] {
        if checks.iter().filter(|c| c.level == l).all(|c| c.passed) {
            level = l;
        } else {
            break;
        }
    }
    Some(Scorecard { entity_ref: key.to_owned(), level, checks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::graph::{Entity, Graph};
    use serde_json::json;

    fn g(product_spec: serde_json::Value, meta: serde_json::Value) -> Graph {
        let mut m = json!({"name": "p"});
        m.as_object_mut().unwrap().extend(meta.as_object().unwrap().clone());
        Graph::new([
            Entity::from_value(&json!({"apiVersion": "portolan.dev/v1alpha1", "kind": "Product", "metadata": m, "spec": product_spec}), None, None).unwrap(),
            Entity::from_value(&json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "team"}, "spec": {"type": "team", "children": []}}), None, None).unwrap(),
        ])
    }

    #[test]
    fn levels_climb_with_the_checks() {
        let counts = Counts::new();
        let none = g(json!({"owner": "ghost"}), json!({}));
        assert_eq!(scorecard(&none, "product:default/p", &counts, None, &[]).unwrap().level, Level::None);
        let bronze = g(json!({"owner": "team", "lifecycle": "production"}), json!({}));
        assert_eq!(scorecard(&bronze, "product:default/p", &counts, None, &[]).unwrap().level, Level::Bronze);
        let meta = json!({"description": "d", "links": [{"url": "https://x"}]});
        let silver = g(json!({"owner": "team", "lifecycle": "production"}), meta.clone());
        assert_eq!(scorecard(&silver, "product:default/p", &counts, None, &[]).unwrap().level, Level::Silver);
        let gold = g(json!({"owner": "team", "lifecycle": "production", "kpis": [{"name": "k"}]}), meta);
        assert_eq!(scorecard(&gold, "product:default/p", &counts, None, &[]).unwrap().level, Level::Gold);
        let mut errors = Counts::new();
        errors.entry("product:default/p".into()).or_default().insert("error".into(), 1);
        assert_eq!(scorecard(&gold, "product:default/p", &errors, None, &[]).unwrap().level, Level::Bronze);
    }
}
