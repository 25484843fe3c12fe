//! Relations derived from an entity's spec, each emitted with its inverse.
//!
//! The table below is the whole rulebook: which field of which kind names which other entity,
//! with which default kind, and which relation pair that produces. It follows Backstage's
//! `BuiltinKindsEntityProcessor`, plus portolan's Product and Platform kinds.

use serde_json::Value;

use super::model::EntityRef;
use super::validate::Problem;

/// One stored relation row: `source --type--> target`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    pub source: EntityRef,
    pub kind: &'static str,
    pub target: EntityRef,
}

/// A spec field that refers to other entities.
struct Rule {
    kind: &'static str,
    field: &'static str,
    default_kind: Option<&'static str>,
    relation: &'static str,
    inverse: &'static str,
}

const fn r(
    kind: &'static str,
    field: &'static str,
    default_kind: Option<&'static str>,
    relation: &'static str,
    inverse: &'static str,
) -> Rule {
    Rule { kind, field, default_kind, relation, inverse }
}

const OWNED: (&str, &str) = ("ownedBy", "ownerOf");

static RULES: &[Rule] = &[
    r("Component", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Component", "system", Some("system"), "partOf", "hasPart"),
    r("Component", "subcomponentOf", Some("component"), "partOf", "hasPart"),
    r("Component", "providesApis", Some("api"), "providesApi", "apiProvidedBy"),
    r("Component", "consumesApis", Some("api"), "consumesApi", "apiConsumedBy"),
    r("Component", "dependsOn", None, "dependsOn", "dependencyOf"),
    r("Component", "dependencyOf", None, "dependencyOf", "dependsOn"),
    r("API", "owner", Some("group"), OWNED.0, OWNED.1),
    r("API", "system", Some("system"), "partOf", "hasPart"),
    r("Resource", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Resource", "system", Some("system"), "partOf", "hasPart"),
    r("Resource", "dependsOn", None, "dependsOn", "dependencyOf"),
    r("Resource", "dependencyOf", None, "dependencyOf", "dependsOn"),
    r("System", "owner", Some("group"), OWNED.0, OWNED.1),
    r("System", "domain", Some("domain"), "partOf", "hasPart"),
    r("Domain", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Domain", "subdomainOf", Some("domain"), "partOf", "hasPart"),
    r("User", "memberOf", Some("group"), "memberOf", "hasMember"),
    r("Group", "parent", Some("group"), "childOf", "parentOf"),
    r("Group", "children", Some("group"), "parentOf", "childOf"),
    r("Group", "members", Some("user"), "hasMember", "memberOf"),
    r("Template", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Scorecard", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Campaign", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Product", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Product", "domain", Some("domain"), "partOf", "hasPart"),
    r("Product", "parts", Some("component"), "hasPart", "partOf"),
    r("Product", "consumesApis", Some("api"), "consumesApi", "apiConsumedBy"),
    r("Product", "dependsOn", Some("platform"), "dependsOn", "dependencyOf"),
    r("Platform", "owner", Some("group"), OWNED.0, OWNED.1),
    r("Platform", "domain", Some("domain"), "partOf", "hasPart"),
    r("Platform", "parts", Some("component"), "hasPart", "partOf"),
    r("Platform", "providesApis", Some("api"), "providesApi", "apiProvidedBy"),
    r("Platform", "consumesApis", Some("api"), "consumesApi", "apiConsumedBy"),
    r("Platform", "dependsOn", Some("platform"), "dependsOn", "dependencyOf"),
    // Membership declared from the part's side (portolan): the inverse of `parts`.
    r("Component", "product", Some("product"), "partOf", "hasPart"),
    r("Component", "platform", Some("platform"), "partOf", "hasPart"),
    r("System", "product", Some("product"), "partOf", "hasPart"),
    r("System", "platform", Some("platform"), "partOf", "hasPart"),
    r("API", "product", Some("product"), "partOf", "hasPart"),
    r("API", "platform", Some("platform"), "partOf", "hasPart"),
    r("Resource", "product", Some("product"), "partOf", "hasPart"),
    r("Resource", "platform", Some("platform"), "partOf", "hasPart"),
];

/// Every relation type with its inverse, for documentation and queries.
pub fn inverse_of(relation: &str) -> Option<&'static str> {
    RULES.iter().find_map(|r| {
        if r.relation == relation {
            Some(r.inverse)
        } else if r.inverse == relation {
            Some(r.relation)
        } else {
            None
        }
    })
}

/// The relation type spelled as stored (`ownedBy`), from any casing (`ownedby`).
pub fn canonical_type(relation: &str) -> Option<&'static str> {
    RULES.iter().find_map(|r| {
        if r.relation.eq_ignore_ascii_case(relation) {
            Some(r.relation)
        } else if r.inverse.eq_ignore_ascii_case(relation) {
            Some(r.inverse)
        } else {
            None
        }
    })
}

/// Derives the relations an entity emits, both directions.
///
/// A ref that cannot be parsed (for example a `dependsOn` entry without a kind) is a problem with
/// the path of the field, as Backstage fails the entity for it. Refs to entities that do not
/// exist are kept: they are dangling, never invented or dropped.
pub fn derive(source: &EntityRef, kind: &str, spec: Option<&Value>) -> Result<Vec<Relation>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let Some(spec) = spec.and_then(Value::as_object) else {
        return Ok(out);
    };
    for rule in RULES.iter().filter(|r| r.kind == kind) {
        let Some(value) = spec.get(rule.field) else { continue };
        let mut emit = |raw: &Value, path: String| match raw.as_str() {
            Some(s) => match EntityRef::parse(s, rule.default_kind, &source.namespace) {
                Ok(target) => {
                    out.push(Relation { source: source.clone(), kind: rule.relation, target: target.clone() });
                    out.push(Relation { source: target, kind: rule.inverse, target: source.clone() });
                }
                Err(e) => problems.push(Problem::new(path, e.to_string())),
            },
            None => problems.push(Problem::new(path, "must be a string entity reference")),
        };
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    emit(item, format!("/spec/{}/{i}", rule.field));
                }
            }
            Value::Null => {}
            other => emit(other, format!("/spec/{}", rule.field)),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(rels: &[Relation]) -> Vec<String> {
        rels.iter().map(|r| format!("{} {} {}", r.source, r.kind, r.target)).collect()
    }

    #[test]
    fn a_component_owner_yields_owned_by_and_owner_of() {
        let me = EntityRef::new("Component", "default", "svc");
        let rels = derive(&me, "Component", Some(&json!({"owner": "team-a"}))).unwrap();
        assert_eq!(
            keys(&rels),
            vec![
                "component:default/svc ownedBy group:default/team-a",
                "group:default/team-a ownerOf component:default/svc"
            ]
        );
    }

    #[test]
    fn refs_inherit_the_namespace_of_the_entity() {
        let me = EntityRef::new("User", "ops", "ann");
        let rels = derive(&me, "User", Some(&json!({"memberOf": ["team-a", "default/team-b"]}))).unwrap();
        assert_eq!(rels[0].target.key(), "group:ops/team-a");
        assert_eq!(rels[2].target.key(), "group:default/team-b");
    }

    #[test]
    fn a_depends_on_without_kind_is_a_problem_at_its_path() {
        let me = EntityRef::new("Component", "default", "svc");
        let problems = derive(&me, "Component", Some(&json!({"dependsOn": ["db"]}))).unwrap_err();
        assert_eq!(problems[0].path, "/spec/dependsOn/0");
    }

    #[test]
    fn product_parts_make_has_part_and_part_of() {
        let me = EntityRef::new("Product", "default", "checkout");
        let rels = derive(&me, "Product", Some(&json!({"parts": ["system:checkout", "cart-ui"]}))).unwrap();
        assert_eq!(
            keys(&rels),
            vec![
                "product:default/checkout hasPart system:default/checkout",
                "system:default/checkout partOf product:default/checkout",
                "product:default/checkout hasPart component:default/cart-ui",
                "component:default/cart-ui partOf product:default/checkout",
            ]
        );
    }

    #[test]
    fn a_part_can_name_its_product_or_platform() {
        let me = EntityRef::new("System", "default", "infra");
        let rels = derive(&me, "System", Some(&json!({"owner": "t", "platform": "plat"}))).unwrap();
        assert_eq!(
            keys(&rels)[2..],
            ["system:default/infra partOf platform:default/plat", "platform:default/plat hasPart system:default/infra"]
        );
    }

    #[test]
    fn every_relation_has_an_inverse() {
        assert_eq!(inverse_of("ownedBy"), Some("ownerOf"));
        assert_eq!(inverse_of("hasMember"), Some("memberOf"));
        assert_eq!(inverse_of("apiConsumedBy"), Some("consumesApi"));
    }
}
