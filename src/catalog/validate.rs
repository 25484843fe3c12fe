//! Validation of one entity document: envelope, field formats, kind schema and references.
//!
//! The JSON Schemas in `schemas/` are embedded in the binary and compiled once. Field formats
//! (names, namespaces, tags, label and annotation keys) are checked here in code, with Backstage's
//! rules, because their messages matter more than a regex mismatch.

use std::collections::HashSet;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Registry, Validator};
use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{self, DEFAULT_NAMESPACE, EntityRef};
use super::relations::{self, Relation};

/// One problem with a document: a JSON pointer into it and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// A kind portolan knows, with the apiVersions it accepts and its schema file.
pub struct KindInfo {
    pub kind: &'static str,
    pub api_versions: &'static [&'static str],
    pub schema: &'static str,
}

const BACKSTAGE: &[&str] = &["backstage.io/v1alpha1", "backstage.io/v1beta1"];
const PORTOLAN: &[&str] = &["portolan.dev/v1alpha1"];

/// Every built-in kind. Any other apiVersion/kind pair is rejected, as Backstage's default catalog
/// rejects it, unless configuration allows it as an extra kind.
pub static KINDS: &[KindInfo] = &[
    KindInfo { kind: "Component", api_versions: BACKSTAGE, schema: "component.schema.json" },
    KindInfo { kind: "API", api_versions: BACKSTAGE, schema: "api.schema.json" },
    KindInfo { kind: "Resource", api_versions: BACKSTAGE, schema: "resource.schema.json" },
    KindInfo { kind: "System", api_versions: BACKSTAGE, schema: "system.schema.json" },
    KindInfo { kind: "Domain", api_versions: BACKSTAGE, schema: "domain.schema.json" },
    KindInfo { kind: "Group", api_versions: BACKSTAGE, schema: "group.schema.json" },
    KindInfo { kind: "User", api_versions: BACKSTAGE, schema: "user.schema.json" },
    KindInfo { kind: "Location", api_versions: BACKSTAGE, schema: "location.schema.json" },
    KindInfo { kind: "Template", api_versions: &["scaffolder.backstage.io/v1beta3"], schema: "template.schema.json" },
    KindInfo { kind: "Product", api_versions: PORTOLAN, schema: "product.schema.json" },
    KindInfo { kind: "Platform", api_versions: PORTOLAN, schema: "platform.schema.json" },
    KindInfo { kind: "Scorecard", api_versions: PORTOLAN, schema: "scorecard.schema.json" },
    KindInfo { kind: "Campaign", api_versions: PORTOLAN, schema: "campaign.schema.json" },
];

/// The schema files, embedded: (file name, text).
pub static SCHEMA_FILES: &[(&str, &str)] = &[
    ("entity.schema.json", include_str!("../../schemas/entity.schema.json")),
    ("component.schema.json", include_str!("../../schemas/component.schema.json")),
    ("api.schema.json", include_str!("../../schemas/api.schema.json")),
    ("resource.schema.json", include_str!("../../schemas/resource.schema.json")),
    ("system.schema.json", include_str!("../../schemas/system.schema.json")),
    ("domain.schema.json", include_str!("../../schemas/domain.schema.json")),
    ("group.schema.json", include_str!("../../schemas/group.schema.json")),
    ("user.schema.json", include_str!("../../schemas/user.schema.json")),
    ("location.schema.json", include_str!("../../schemas/location.schema.json")),
    ("template.schema.json", include_str!("../../schemas/template.schema.json")),
    ("product.schema.json", include_str!("../../schemas/product.schema.json")),
    ("platform.schema.json", include_str!("../../schemas/platform.schema.json")),
    ("scorecard.schema.json", include_str!("../../schemas/scorecard.schema.json")),
    ("campaign.schema.json", include_str!("../../schemas/campaign.schema.json")),
    ("roadmap.schema.json", include_str!("../../schemas/roadmap.schema.json")),
    ("catalog-info.schema.json", include_str!("../../schemas/catalog-info.schema.json")),
];

struct Schemas {
    envelope: Validator,
    kinds: Vec<(&'static str, Validator)>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    // The schemas are part of the binary: a broken one is a build defect, found by the tests.
    let parsed: Vec<(&str, Value)> = SCHEMA_FILES
        .iter()
        .map(|(name, text)| (*name, serde_json::from_str(text).unwrap_or_else(|e| panic!("schemas/{name}: {e}"))))
        .collect();
    let mut registry = Registry::new();
    for (name, schema) in &parsed {
        let id = schema.get("$id").and_then(Value::as_str).unwrap_or_else(|| panic!("schemas/{name} has no $id"));
        registry = registry.add(id, schema.clone()).unwrap_or_else(|e| panic!("schemas/{name}: {e}"));
    }
    let registry: &'static Registry = Box::leak(Box::new(registry.prepare().expect("schema registry")));
    let build = |name: &str| {
        let schema = &parsed.iter().find(|(n, _)| *n == name).expect("schema file listed").1;
        jsonschema::options()
            .offline()
            .with_registry(registry)
            .build(schema)
            .unwrap_or_else(|e| panic!("schemas/{name}: {e}"))
    };
    Schemas {
        envelope: build("entity.schema.json"),
        kinds: KINDS.iter().map(|k| (k.schema, build(k.schema))).collect(),
    }
});

/// Compiles the schemas now rather than on first use (called at start-up).
pub fn init() {
    LazyLock::force(&SCHEMAS);
}

/// What validation needs to know besides the document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Kinds accepted beyond the built-in ones (checked against the envelope only).
    pub extra_kinds: Vec<String>,
    /// Placeholders (`$text`, `$json`, `$yaml`) are still in the document and stand for any value.
    pub placeholders_unresolved: bool,
}

/// A document that passed validation: its ref, its normalised JSON and its relations.
#[derive(Debug, Clone)]
pub struct ValidEntity {
    pub entity_ref: EntityRef,
    pub value: Value,
    pub relations: Vec<Relation>,
}

/// The entity's identity as far as it can be read, for error messages about invalid documents.
pub fn describe(v: &Value) -> Option<String> {
    let kind = v.get("kind")?.as_str()?;
    let meta = v.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or(DEFAULT_NAMESPACE);
    Some(format!("{}:{}/{}", kind.to_ascii_lowercase(), ns.to_ascii_lowercase(), name))
}

/// Validates one document and returns it normalised (namespace filled in), or every problem.
pub fn validate(mut value: Value, opts: &Options) -> Result<ValidEntity, Vec<Problem>> {
    let schemas = &*SCHEMAS;
    let placeholders = if opts.placeholders_unresolved {
        placeholders(&value).into_iter().map(|p| p.path).collect()
    } else {
        Vec::new()
    };
    let keep = |p: &Problem| !placeholders.iter().any(|ph| p.path == *ph || p.path.starts_with(&format!("{ph}/")));

    // 1. The envelope: the shape every entity has, whatever its kind.
    let mut problems: Vec<Problem> = schema_problems(&schemas.envelope, &value).into_iter().filter(keep).collect();
    if !problems.is_empty() {
        return Err(problems);
    }

    // 2. Field formats (Backstage's FieldFormatEntityPolicy).
    problems.extend(format_problems(&value));
    if !problems.is_empty() {
        return Err(problems);
    }

    // 3. The kind: a known apiVersion/kind pair, then its schema.
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = value["kind"].as_str().unwrap_or_default().to_owned();
    let known = KINDS.iter().find(|k| k.kind == kind && k.api_versions.contains(&api_version.as_str()));
    match known {
        Some(info) => {
            let validator = &schemas.kinds.iter().find(|(n, _)| *n == info.schema).expect("kind schema compiled").1;
            problems.extend(schema_problems(validator, &value).into_iter().filter(keep));
            if problems.is_empty() && matches!(info.kind, "Product" | "Platform") {
                let ns = value["metadata"]["namespace"].as_str().unwrap_or(DEFAULT_NAMESPACE);
                problems.extend(super::roadmap::problems(info.kind, ns, value.get("spec")).into_iter().filter(keep));
            }
            if problems.is_empty() && matches!(info.kind, "Scorecard" | "Campaign") {
                problems.extend(super::scorecard::problems(info.kind, value.get("spec")).into_iter().filter(keep));
            }
        }
        None if opts.extra_kinds.iter().any(|k| k.eq_ignore_ascii_case(&kind)) => {}
        None => {
            let hint = match KINDS.iter().find(|k| k.kind.eq_ignore_ascii_case(&kind)) {
                Some(k) => format!("; {} accepts apiVersion {}", k.kind, k.api_versions.join(" or ")),
                None => String::new(),
            };
            problems.push(Problem::new(
                "/kind",
                format!(
                    "unknown kind: no built-in kind matches apiVersion \"{api_version}\" with kind \"{kind}\"{hint}"
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // 4. Normalise and derive relations.
    let meta = value["metadata"].as_object_mut().expect("envelope checked metadata");
    if !meta.contains_key("namespace") {
        meta.insert("namespace".into(), Value::String(DEFAULT_NAMESPACE.into()));
    }
    let name = meta["name"].as_str().unwrap_or_default();
    let namespace = meta["namespace"].as_str().unwrap_or(DEFAULT_NAMESPACE);
    let entity_ref = EntityRef::new(&kind, namespace, name);
    if let Some(spec) = value.get_mut("spec") {
        sort_ref_lists(spec);
    }
    let relations = if opts.placeholders_unresolved {
        relations::derive(&entity_ref, &kind, value.get("spec")).unwrap_or_default()
    } else {
        relations::derive(&entity_ref, &kind, value.get("spec"))?
    };
    if opts.placeholders_unresolved {
        // Report bad refs, but only those not hidden behind a placeholder.
        if let Err(found) = relations::derive(&entity_ref, &kind, value.get("spec")) {
            let found: Vec<Problem> = found.into_iter().filter(keep).collect();
            if !found.is_empty() {
                return Err(found);
            }
        }
    }
    Ok(ValidEntity { entity_ref, value, relations })
}

/// The `spec` lists Backstage sorts before storing an entity, when every item is a string.
const SORTED_REF_LISTS: [&str; 7] =
    ["providesApis", "consumesApis", "dependsOn", "dependencyOf", "memberOf", "children", "members"];

/// Sorts the ref lists of `spec` as Backstage does: JavaScript's default `sort()`, which compares
/// UTF-16 code units (so case-sensitive, upper case first). Lists holding anything but strings
/// stay as written.
pub fn sort_ref_lists(spec: &mut Value) {
    let Some(spec) = spec.as_object_mut() else { return };
    for field in SORTED_REF_LISTS {
        if let Some(Value::Array(items)) = spec.get_mut(field)
            && items.iter().all(Value::is_string)
        {
            items.sort_by(|a, b| {
                let (a, b) = (a.as_str().unwrap_or_default(), b.as_str().unwrap_or_default());
                a.encode_utf16().cmp(b.encode_utf16())
            });
        }
    }
}

/// What is wrong with `value` against a JSON Schema of the caller's (a form's, an action's
/// input), each with its JSON pointer and in the same words as a descriptor's problems; an error
/// when the schema itself is not one.
pub fn problems_against(schema: &Value, value: &Value) -> Result<Vec<Problem>, String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("not a usable JSON Schema: {e}"))?;
    Ok(schema_problems(&validator, value))
}

fn schema_problems(validator: &Validator, value: &Value) -> Vec<Problem> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for error in validator.iter_errors(value) {
        let base = error.instance_path().to_string();
        let found: Vec<Problem> = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let prop = property.as_str().map(str::to_owned).unwrap_or_else(|| property.to_string());
                vec![Problem::new(format!("{base}/{}", escape_pointer(&prop)), "is required")]
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
                .iter()
                .map(|u| Problem::new(format!("{base}/{}", escape_pointer(u)), "is not an allowed field here"))
                .collect(),
            ValidationErrorKind::Type { .. } => {
                let text = error.to_string();
                let wanted = text.rsplit_once(" is not of type ").map(|(_, t)| t.to_owned()).unwrap_or(text);
                vec![Problem::new(base, format!("must be of type {wanted}"))]
            }
            _ => vec![Problem::new(base, error.to_string())],
        };
        for p in found {
            if seen.insert((p.path.clone(), p.message.clone())) {
                out.push(p);
            }
        }
    }
    out
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn format_problems(v: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let api_version = v["apiVersion"].as_str().unwrap_or_default();
    if !model::is_valid_api_version(api_version) {
        out.push(Problem::new(
            "/apiVersion",
            format!("\"{api_version}\" is not a valid apiVersion; expected [dns-subdomain/]version"),
        ));
    }
    let kind = v["kind"].as_str().unwrap_or_default();
    if !model::is_valid_kind(kind) {
        out.push(Problem::new("/kind", format!("\"{kind}\" is not a valid kind; expected a letter followed by letters and digits, at most 63 characters")));
    }
    let meta = &v["metadata"];
    if let Some(name) = meta["name"].as_str()
        && !model::is_valid_object_name(name)
    {
        out.push(Problem::new(
                "/metadata/name",
                format!("\"{name}\" is not a valid name; expected a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total"),
            ));
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && !model::is_valid_dns_label(ns)
    {
        out.push(Problem::new(
                "/metadata/namespace",
                format!("\"{ns}\" is not a valid namespace; expected a lower-case DNS label: [a-z0-9] separated by [-], at most 63 characters"),
            ));
    }
    let pairs = |field: &str| meta.get(field).and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    for (key, value) in &pairs("labels") {
        if !model::is_valid_label_key(key) {
            out.push(Problem::new(
                format!("/metadata/labels/{}", escape_pointer(key)),
                format!("\"{key}\" is not a valid label key"),
            ));
        }
        if let Some(s) = value.as_str()
            && !model::is_valid_label_value(s)
        {
            out.push(Problem::new(
                format!("/metadata/labels/{}", escape_pointer(key)),
                format!("\"{s}\" is not a valid label value"),
            ));
        }
    }
    for key in pairs("annotations").keys() {
        if !model::is_valid_label_key(key) {
            out.push(Problem::new(
                format!("/metadata/annotations/{}", escape_pointer(key)),
                format!("\"{key}\" is not a valid annotation key"),
            ));
        }
    }
    if let Some(tags) = meta.get("tags").and_then(Value::as_array) {
        for (i, tag) in tags.iter().enumerate() {
            if let Some(t) = tag.as_str()
                && !model::is_valid_tag(t)
            {
                out.push(Problem::new(
                    format!("/metadata/tags/{i}"),
                    format!(
                        "\"{t}\" is not a valid tag; expected [a-z0-9:+#] words joined by '-', at most 63 characters"
                    ),
                ));
            }
        }
    }
    out
}

/// Is this value a substitution placeholder (`{"$text": ...}` and nothing else)?
pub fn placeholder(v: &Value) -> Option<(&str, &Value)> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let (k, target) = obj.iter().next()?;
    matches!(k.as_str(), "$text" | "$json" | "$yaml").then_some((k.as_str(), target))
}

/// One placeholder found in a document: its JSON pointer, its key (`$text`, `$json`, `$yaml`)
/// and its target as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPlaceholder {
    pub path: String,
    pub key: String,
    pub target: String,
}

/// Every placeholder in a document, outermost first (a placeholder's insides are not searched).
pub fn placeholders(v: &Value) -> Vec<FoundPlaceholder> {
    fn walk(v: &Value, path: &mut String, out: &mut Vec<FoundPlaceholder>) {
        if let Some((key, target)) = placeholder(v) {
            out.push(FoundPlaceholder {
                path: path.clone(),
                key: key.to_owned(),
                target: target.as_str().unwrap_or_default().to_owned(),
            });
            return;
        }
        let len = path.len();
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    path.push('/');
                    path.push_str(&escape_pointer(k));
                    walk(x, path, out);
                    path.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push('/');
                    path.push_str(&i.to_string());
                    walk(x, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ref_lists_sort_like_javascript_and_mixed_lists_stay() {
        // UTF-16 code units: upper case before lower case; U+FF21 (BMP) after U+1F600 (a
        // surrogate pair starting 0xD83D), unlike UTF-8 byte order.
        let mut spec = json!({
            "dependsOn": ["component:b", "Component:a", "component:a"],
            "providesApis": ["\u{ff21}", "\u{1f600}", "z"],
            "consumesApis": ["b", {"$text": "x"}, "a"],
            "owner": "team-b",
            "tags": ["b", "a"],
        });
        sort_ref_lists(&mut spec);
        assert_eq!(spec["dependsOn"], json!(["Component:a", "component:a", "component:b"]));
        assert_eq!(spec["providesApis"], json!(["z", "\u{1f600}", "\u{ff21}"]));
        assert_eq!(spec["consumesApis"], json!(["b", {"$text": "x"}, "a"]));
        assert_eq!(spec["tags"], json!(["b", "a"]), "only the ref lists");
    }
}
