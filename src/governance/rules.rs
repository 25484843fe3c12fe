//! Governance rules: pure functions over the in-memory model, each with a stable id.
//!
//! Every finding names the entity it sits on (the one whose descriptor has to change), says what
//! is wrong and what to change, and carries the file and line of that entity when known.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::model::{Entity, Graph, shortest_cycle};

/// How serious a finding is. Errors fail `portolan lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl From<crate::domain::hooks::Level> for Severity {
    fn from(l: crate::domain::hooks::Level) -> Self {
        use crate::domain::hooks::Level;
        match l {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
            Level::Info => Severity::Info,
        }
    }
}

/// One rule: its stable id, default severity and what it checks.
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

pub const PLATFORM_DEPENDS_ON_PRODUCT: &str = "platform-depends-on-product";
pub const DEPENDENCY_CYCLE: &str = "dependency-cycle";
pub const OWNER_MISSING: &str = "owner-missing";
pub const OWNER_UNKNOWN: &str = "owner-unknown";
pub const DANGLING_REFERENCE: &str = "dangling-reference";
pub const DEPRECATED_API_CONSUMED: &str = "deprecated-api-consumed";
pub const PRODUCT_WITHOUT_KPIS: &str = "product-without-kpis";
pub const PLATFORM_WITHOUT_OFFERINGS: &str = "platform-without-offerings";
pub const PLATFORM_WITHOUT_TARGETS: &str = "platform-without-targets";
/// Computed from consumption by a findings source (`crate::domain::FindingsSource`).
pub const UNDECLARED_CONSUMPTION: &str = "undeclared-consumption";
pub const UNUSED_DECLARED_DEPENDENCY: &str = "unused-declared-dependency";

/// Every rule portolan knows.
pub static RULES: &[RuleInfo] = &[
    RuleInfo {
        id: PLATFORM_DEPENDS_ON_PRODUCT,
        severity: Severity::Error,
        summary: "a platform (or a part of one) depends on or consumes an API of a product (or a part of one)",
    },
    RuleInfo {
        id: DEPENDENCY_CYCLE,
        severity: Severity::Error,
        summary: "a cycle of dependsOn/consumesApi between components, systems, products or platforms",
    },
    RuleInfo { id: OWNER_MISSING, severity: Severity::Error, summary: "the entity names no owner" },
    RuleInfo { id: OWNER_UNKNOWN, severity: Severity::Warning, summary: "the owner is not a known Group or User" },
    RuleInfo {
        id: DANGLING_REFERENCE,
        severity: Severity::Warning,
        summary: "a spec field names an entity that does not exist",
    },
    RuleInfo {
        id: DEPRECATED_API_CONSUMED,
        severity: Severity::Warning,
        summary: "the entity consumes an API whose lifecycle is deprecated",
    },
    RuleInfo { id: PRODUCT_WITHOUT_KPIS, severity: Severity::Info, summary: "a product declares no KPIs" },
    RuleInfo { id: PLATFORM_WITHOUT_OFFERINGS, severity: Severity::Info, summary: "a platform declares no offerings" },
    RuleInfo { id: PLATFORM_WITHOUT_TARGETS, severity: Severity::Info, summary: "a platform declares no targets" },
    RuleInfo {
        id: UNDECLARED_CONSUMPTION,
        severity: Severity::Warning,
        summary: "calls to an API in the last 28 days that the consumer (or its product) does not declare in consumesApis",
    },
    RuleInfo {
        id: UNUSED_DECLARED_DEPENDENCY,
        severity: Severity::Info,
        summary: "a declared consumesApis entry with no call in the last 28 days (on APIs whose consumption is measured)",
    },
];

/// How one rule is configured: `[governance.rules.<id>] enabled = bool, severity = "..."`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

/// The effective configuration of every rule.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    rules: BTreeMap<&'static str, (bool, Severity)>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self { rules: RULES.iter().map(|r| (r.id, (true, r.severity))).collect() }
    }
}

impl RuleConfig {
    /// Applies configured settings; an unknown rule id is an error.
    pub fn new(settings: &BTreeMap<String, RuleSetting>) -> Result<Self, String> {
        let mut out = Self::default();
        for (id, s) in settings {
            let Some((_, slot)) = out.rules.iter_mut().find(|(k, _)| **k == id.as_str()) else {
                let known: Vec<&str> = RULES.iter().map(|r| r.id).collect();
                return Err(format!("governance.rules.{id}: unknown rule; known rules: {}", known.join(", ")));
            };
            if let Some(e) = s.enabled {
                slot.0 = e;
            }
            if let Some(sev) = s.severity {
                slot.1 = sev;
            }
        }
        Ok(out)
    }

    pub fn enabled(&self, id: &str) -> bool {
        self.rules.get(id).is_some_and(|r| r.0)
    }

    /// Whether the rule is one governance documents (a findings source may bring others, which
    /// are on, at warning, unless configured).
    pub fn knows(&self, id: &str) -> bool {
        self.rules.contains_key(id)
    }

    pub fn severity(&self, id: &str) -> Severity {
        self.rules.get(id).map(|r| r.1).unwrap_or(Severity::Warning)
    }
}

/// One governance finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub entity_ref: String,
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub details: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Finding {
    /// A finding on an entity of the model (file, line and owner from it).
    pub fn on(e: &Entity, rule: &str, cfg: &RuleConfig, message: String, details: Value) -> Finding {
        Finding {
            entity_ref: e.key.clone(),
            rule: rule.to_owned(),
            severity: cfg.severity(rule),
            message,
            details,
            file: e.file.clone(),
            line: e.line,
            owner: e.owner.clone(),
        }
    }

    /// The finding as a Backstage status item (`status.items`).
    pub fn status_item(&self) -> Value {
        json!({
            "type": "portolan.dev/finding",
            "level": self.severity.as_str(),
            "message": self.message,
            "error": {"name": self.rule, "message": self.message},
        })
    }
}

/// Every finding of the per-entity rules (all but `dependency-cycle`) on one entity.
pub fn evaluate(g: &Graph, e: &Entity, cfg: &RuleConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let on = |rule: &str| cfg.enabled(rule);

    if e.takes_owner() {
        match &e.owner {
            None if on(OWNER_MISSING) => out.push(Finding::on(
                e,
                OWNER_MISSING,
                cfg,
                format!("{} has no owner; set spec.owner to the team (group) that runs it", e.entity_ref),
                json!({"fix": "set spec.owner"}),
            )),
            Some(owner) if on(OWNER_UNKNOWN) => {
                let known = g.get(owner).is_some_and(|o| o.is("group") || o.is("user"));
                if !known {
                    let why = match g.get(owner) {
                        Some(o) => format!("is a {}, not a Group or User", o.kind),
                        None => "does not exist in the catalog".to_owned(),
                    };
                    out.push(Finding::on(
                        e,
                        OWNER_UNKNOWN,
                        cfg,
                        format!(
                            "{}: owner {} {why}; point spec.owner at an existing group or user, or add it",
                            e.entity_ref,
                            g.display(owner)
                        ),
                        json!({"owner": owner, "fix": "set spec.owner to a known group or user"}),
                    ));
                }
            }
            _ => {}
        }
    }

    if on(DANGLING_REFERENCE) {
        let mut seen = HashSet::new();
        for edge in &e.edges {
            // Owners are the owner rules' business.
            if edge.rel == "ownedBy" || g.get(&edge.target).is_some() || !seen.insert((&edge.target, edge.rel)) {
                continue;
            }
            out.push(Finding::on(
                e,
                DANGLING_REFERENCE,
                cfg,
                format!(
                    "{} refers to {} ({}), which does not exist; fix the reference or add the entity",
                    e.entity_ref, edge.target_ref, edge.rel
                ),
                json!({"target": edge.target_ref, "relation": edge.rel, "fix": "fix the reference or add the missing entity"}),
            ));
        }
    }

    if on(DEPRECATED_API_CONSUMED) {
        for edge in
            e.edges.iter().filter(|x| x.rel == "consumesApi" || (x.rel == "dependsOn" && x.target.starts_with("api:")))
        {
            if let Some(api) = g.get(&edge.target).filter(|a| a.is("api") && a.lifecycle_is("deprecated")) {
                out.push(Finding::on(
                    e,
                    DEPRECATED_API_CONSUMED,
                    cfg,
                    format!(
                        "{} consumes {}, which is deprecated; move to its replacement and remove it from spec.{}",
                        e.entity_ref,
                        api.entity_ref,
                        if edge.rel == "consumesApi" { "consumesApis" } else { "dependsOn" }
                    ),
                    json!({"api": api.entity_ref, "fix": "migrate off the deprecated API"}),
                ));
            }
        }
    }

    if on(PLATFORM_DEPENDS_ON_PRODUCT) {
        for (from, rel, to) in g.dependency_edges(e) {
            let platforms = Graph::of_kind(&g.membership(from), "platform");
            if platforms.is_empty() {
                continue;
            }
            let products = Graph::of_kind(&g.target_membership(to), "product");
            if products.is_empty() {
                continue;
            }
            let (p, q) = (g.display(&platforms[0]), g.display(&products[0]));
            let from_d = g.display(from);
            let to_d = g.display(to);
            let verb = if rel == "consumesApi" { "consumes" } else { "depends on" };
            let side = |x: &str, owner: &str| if x == owner { String::new() } else { format!(" (part of {owner})") };
            out.push(Finding::on(
                e,
                PLATFORM_DEPENDS_ON_PRODUCT,
                cfg,
                format!(
                    "{from_d}{} {verb} {to_d}{}: platforms must not depend on products; remove this dependency, or move what {p} needs out of {q} into a platform",
                    side(&from_d, &p),
                    side(&to_d, &q),
                ),
                json!({
                    "source": from_d, "target": to_d, "relation": rel,
                    "platform": p, "product": q,
                    "fix": "remove the dependency or move the target into a platform",
                }),
            ));
        }
    }

    if e.is("product") && on(PRODUCT_WITHOUT_KPIS) && e.kpis.is_empty() {
        out.push(Finding::on(
            e,
            PRODUCT_WITHOUT_KPIS,
            cfg,
            format!("{} declares no KPIs; add spec.kpis with the measures the product is judged by", e.entity_ref),
            json!({"fix": "add spec.kpis"}),
        ));
    }
    if e.is("platform") && on(PLATFORM_WITHOUT_OFFERINGS) && e.offerings.is_empty() {
        out.push(Finding::on(
            e,
            PLATFORM_WITHOUT_OFFERINGS,
            cfg,
            format!("{} declares no offerings; add spec.offerings with a plan for each API it provides", e.entity_ref),
            json!({"fix": "add spec.offerings"}),
        ));
    }
    if e.is("platform") && on(PLATFORM_WITHOUT_TARGETS) && e.targets.is_empty() {
        out.push(Finding::on(
            e,
            PLATFORM_WITHOUT_TARGETS,
            cfg,
            format!("{} declares no targets; add spec.targets for adoption and quality", e.entity_ref),
            json!({"fix": "add spec.targets"}),
        ));
    }
    out
}

/// The finding for one cyclic component: on its first member that is not an API (a descriptor
/// that can change), with the shortest cycle through it.
pub fn cycle_finding(g: &Graph, component: &[String], cfg: &RuleConfig) -> Option<Finding> {
    if !cfg.enabled(DEPENDENCY_CYCLE) {
        return None;
    }
    let anchor = component.iter().find(|k| !k.starts_with("api:")).or(component.first())?;
    let e = g.get(anchor)?;
    let within: HashSet<&str> = component.iter().map(String::as_str).collect();
    let path: Vec<String> = shortest_cycle(g, anchor, &within).iter().map(|k| g.display(k)).collect();
    Some(Finding::on(
        e,
        DEPENDENCY_CYCLE,
        cfg,
        format!("dependency cycle: {}; break it by removing one of these dependencies", path.join(" -> ")),
        json!({"path": path, "componentSize": component.len(), "fix": "remove one dependency on the path"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::graph::{Entity, cyclic_components};
    use serde_json::json;

    fn ent(v: Value) -> Entity {
        Entity::from_value(&v, Some("file:/c/x.yaml"), Some(3)).unwrap()
    }

    fn comp(name: &str, spec: Value) -> Entity {
        let mut s = json!({"type": "service", "lifecycle": "production", "owner": "team"});
        s.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
        ent(json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": name}, "spec": s}))
    }

    fn kind(k: &str, name: &str, spec: Value) -> Entity {
        let api = if k == "Product" || k == "Platform" { "portolan.dev/v1alpha1" } else { "backstage.io/v1alpha1" };
        ent(json!({"apiVersion": api, "kind": k, "metadata": {"name": name}, "spec": spec}))
    }

    fn team() -> Entity {
        kind("Group", "team", json!({"type": "team", "children": []}))
    }

    fn rules_of(g: &Graph, key: &str) -> Vec<String> {
        evaluate(g, g.get(key).unwrap(), &RuleConfig::default()).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_platform_part_consuming_an_api_of_a_product_part_is_an_error_on_the_consumer() {
        let g = Graph::new([
            team(),
            kind(
                "Platform",
                "plat",
                json!({"owner": "team", "parts": ["system:infra"], "offerings": [{"api": "x"}], "targets": [{"metric": "adoption", "target": 1}]}),
            ),
            kind("System", "infra", json!({"owner": "team"})),
            comp("worker", json!({"system": "infra", "consumesApis": ["shop-api"]})),
            kind("Product", "shop", json!({"owner": "team", "kpis": [{"name": "k"}]})),
            comp("shop-svc", json!({"product": "shop", "providesApis": ["shop-api"]})),
            kind(
                "API",
                "shop-api",
                json!({"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x"}),
            ),
        ]);
        let f = evaluate(&g, g.get("component:default/worker").unwrap(), &RuleConfig::default());
        let f = f.iter().find(|f| f.rule == PLATFORM_DEPENDS_ON_PRODUCT).expect("finding");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("component:default/worker (part of platform:default/plat)"), "{}", f.message);
        assert!(f.message.contains("api:default/shop-api (part of product:default/shop)"), "{}", f.message);
        assert_eq!(f.line, Some(3));
        // The product side declares nothing wrong.
        assert!(!rules_of(&g, "component:default/shop-svc").contains(&PLATFORM_DEPENDS_ON_PRODUCT.to_owned()));
    }

    #[test]
    fn a_product_depending_on_a_platform_is_fine() {
        let g = Graph::new([
            team(),
            kind("Platform", "plat", json!({"owner": "team"})),
            kind("Product", "shop", json!({"owner": "team", "dependsOn": ["plat"], "kpis": [{"name": "k"}]})),
        ]);
        assert!(rules_of(&g, "product:default/shop").is_empty());
    }

    #[test]
    fn membership_is_transitive_and_declared_from_either_side() {
        let g = Graph::new([
            kind("Platform", "plat", json!({"owner": "team", "parts": ["system:infra"]})),
            kind("System", "infra", json!({"owner": "team"})),
            comp("a", json!({"system": "infra"})),
            comp("b", json!({"subcomponentOf": "a"})),
            comp("c", json!({"platform": "plat"})),
        ]);
        assert_eq!(g.membership("component:default/b"), vec!["platform:default/plat"]);
        assert_eq!(g.membership("component:default/c"), vec!["platform:default/plat"]);
        assert_eq!(g.descendants("platform:default/plat").len(), 4);
    }

    #[test]
    fn owners_missing_unknown_and_known() {
        let g = Graph::new([
            team(),
            comp("ok", json!({})),
            comp("stranger", json!({"owner": "nobody"})),
            kind("Template", "t", json!({"type": "service", "steps": []})),
        ]);
        assert!(rules_of(&g, "component:default/ok").is_empty());
        assert_eq!(rules_of(&g, "component:default/stranger"), vec![OWNER_UNKNOWN]);
        assert_eq!(rules_of(&g, "template:default/t"), vec![OWNER_MISSING]);
    }

    #[test]
    fn each_dangling_reference_is_listed() {
        let g = Graph::new([team(), comp("a", json!({"consumesApis": ["gone", "also-gone"], "system": "nowhere"}))]);
        let r = rules_of(&g, "component:default/a");
        assert_eq!(r.iter().filter(|r| *r == DANGLING_REFERENCE).count(), 3);
    }

    #[test]
    fn consuming_a_deprecated_api_is_a_warning_and_a_live_one_is_not() {
        let api = |n: &str, l: &str| {
            kind("API", n, json!({"type": "openapi", "lifecycle": l, "owner": "team", "definition": "x"}))
        };
        let g = Graph::new([
            team(),
            api("old", "deprecated"),
            api("new", "production"),
            comp("a", json!({"consumesApis": ["old"]})),
            comp("b", json!({"consumesApis": ["new"]})),
        ]);
        assert_eq!(rules_of(&g, "component:default/a"), vec![DEPRECATED_API_CONSUMED]);
        assert!(rules_of(&g, "component:default/b").is_empty());
    }

    #[test]
    fn cycles_through_apis_are_found_with_their_path() {
        let g = Graph::new([
            team(),
            comp("a", json!({"dependsOn": ["component:b"]})),
            comp("b", json!({"consumesApis": ["a-api"]})),
            comp("p", json!({"providesApis": ["a-api"], "dependsOn": ["component:a"]})),
            kind(
                "API",
                "a-api",
                json!({"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x"}),
            ),
            comp("alone", json!({"dependsOn": ["component:a"]})),
        ]);
        let all: HashSet<String> = g.entities.keys().cloned().collect();
        let comps = cyclic_components(&g, &all);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].len(), 4, "{comps:?}");
        let f = cycle_finding(&g, &comps[0], &RuleConfig::default()).unwrap();
        assert_eq!(f.entity_ref, "component:default/a");
        assert!(
            f.message.contains("component:default/a -> component:default/b -> api:default/a-api -> component:default/p -> component:default/a"),
            "{}",
            f.message
        );
    }

    #[test]
    fn rules_can_be_disabled_and_reweighted() {
        let mut s = BTreeMap::new();
        s.insert(OWNER_UNKNOWN.to_owned(), RuleSetting { enabled: None, severity: Some(Severity::Error) });
        s.insert(DANGLING_REFERENCE.to_owned(), RuleSetting { enabled: Some(false), severity: None });
        let cfg = RuleConfig::new(&s).unwrap();
        let g = Graph::new([comp("a", json!({"owner": "ghost", "consumesApis": ["gone"]}))]);
        let f = evaluate(&g, g.get("component:default/a").unwrap(), &cfg);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].rule.as_str(), f[0].severity), (OWNER_UNKNOWN, Severity::Error));
        s.insert("no-such-rule".into(), RuleSetting::default());
        assert!(RuleConfig::new(&s).is_err());
    }

    #[test]
    fn products_and_platforms_without_measures_get_infos() {
        let g = Graph::new([
            team(),
            kind("Product", "p", json!({"owner": "team"})),
            kind("Platform", "q", json!({"owner": "team"})),
        ]);
        assert_eq!(rules_of(&g, "product:default/p"), vec![PRODUCT_WITHOUT_KPIS]);
        assert_eq!(rules_of(&g, "platform:default/q"), vec![PLATFORM_WITHOUT_OFFERINGS, PLATFORM_WITHOUT_TARGETS]);
    }
}
