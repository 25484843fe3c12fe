//! The `fields` projection: which dot paths of an entity an answer keeps.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::limits::check_fields;

/// Parses the `fields` parameters (each comma-separated, repeatable) into trimmed dot paths.
///
/// No paths (or only blank ones) means no projection. Array indexing is refused, as Backstage does,
/// and so are more than [`MAX_FIELDS`](super::limits::MAX_FIELDS) distinct paths.
pub fn parse_fields(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for field in values.iter().flat_map(|v| v.split(',')) {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        if field.contains('[') {
            return Err(format!("invalid fields, array type fields are not supported: \"{field}\""));
        }
        if seen.insert(field) {
            out.push(field.to_owned());
        }
    }
    check_fields(out.len(), "fields").map_err(|e| format!("invalid fields: {e}"))?;
    Ok(out)
}

/// Keeps only the listed dot paths of an entity (`kind`, `metadata.name`, `spec`), in the entity's
/// own key order; no paths returns the entity whole.
///
/// A path segment may itself contain dots (`metadata.annotations.backstage.io/techdocs-ref`): at
/// each level the shortest run of segments that names an existing key is taken, backtracking when
/// that leads nowhere. A path that names nothing adds nothing; paths do not descend into arrays.
/// (Backstage's own walk drops the dots inside such keys and so falls back to the whole parent,
/// and keeps the parent of a missing path; here a path selects exactly what it names.)
pub fn project(value: &Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return value.clone();
    }
    let mut root = Selection::default();
    for field in fields {
        let segments: Vec<&str> = field.split('.').collect();
        if let Some(path) = resolve_path(value, &segments) {
            root.insert(&path);
        }
    }
    if root.children.is_empty() && !root.whole {
        return Value::Object(Map::new());
    }
    root.apply(value)
}

/// The parts of a JSON value a projection keeps.
#[derive(Default)]
struct Selection {
    whole: bool,
    children: BTreeMap<String, Selection>,
}

impl Selection {
    fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.whole = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    fn apply(&self, value: &Value) -> Value {
        if self.whole {
            return value.clone();
        }
        let mut out = Map::new();
        if let Value::Object(obj) = value {
            for (k, v) in obj {
                if let Some(child) = self.children.get(k) {
                    out.insert(k.clone(), child.apply(v));
                }
            }
        }
        Value::Object(out)
    }
}

/// The actual keys a dotted path walks through, or `None` when it names nothing.
fn resolve_path(value: &Value, segments: &[&str]) -> Option<Vec<String>> {
    if segments.is_empty() {
        return Some(Vec::new());
    }
    let obj = value.as_object()?;
    for take in 1..=segments.len() {
        let key = segments[..take].join(".");
        if let Some(child) = obj.get(&key)
            && let Some(mut rest) = resolve_path(child, &segments[take..])
        {
            rest.insert(0, key);
            return Some(rest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::testing::*;
    use serde_json::json;

    #[test]
    fn fields_are_split_on_commas_and_repeatable() {
        assert_eq!(
            parse_fields(&strs(&["kind, metadata.name", "spec,kind", " ,"])).unwrap(),
            strs(&["kind", "metadata.name", "spec"])
        );
        assert!(
            parse_fields(&strs(&["metadata.tags[0]"])).unwrap_err().contains("array type fields are not supported")
        );
        assert!(parse_fields(&strs(&["", ","])).unwrap().is_empty());
        let many = |n: usize| vec![(0..n).map(|i| format!("spec.f{i}")).collect::<Vec<_>>().join(",")];
        assert_eq!(parse_fields(&many(500)).unwrap().len(), 500);
        assert_eq!(parse_fields(&many(501)).unwrap_err(), "invalid fields: at most 500 fields per request; got 501");
        assert_eq!(parse_fields(&vec!["kind".to_owned(); 10_000]).unwrap(), strs(&["kind"]));
    }

    fn sample_entity() -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "n", "tags": ["t1"], "annotations": {"test.com/url-like": "u", "other": "o"}, "title": null},
            "spec": {"type": "service", "owner": "team-a"}
        })
    }

    #[test]
    fn projection_keeps_only_the_listed_paths_in_entity_order() {
        let out = project(&sample_entity(), &strs(&["spec.type", "kind", "metadata.name"]));
        assert_eq!(out, json!({"kind": "Component", "metadata": {"name": "n"}, "spec": {"type": "service"}}));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["kind", "metadata", "spec"]);
    }

    #[test]
    fn projection_of_a_parent_keeps_it_whole() {
        let out = project(&sample_entity(), &strs(&["metadata", "metadata.name"]));
        assert_eq!(out, json!({"metadata": sample_entity()["metadata"]}));
    }

    #[test]
    fn projection_finds_keys_that_contain_dots() {
        let out = project(&sample_entity(), &strs(&["metadata.annotations.test.com/url-like"]));
        assert_eq!(out, json!({"metadata": {"annotations": {"test.com/url-like": "u"}}}));
    }

    #[test]
    fn projection_skips_missing_paths_but_keeps_nulls() {
        let out = project(&sample_entity(), &strs(&["metadata.description", "spec.nope.deeper", "metadata.title"]));
        assert_eq!(out, json!({"metadata": {"title": null}}));
        assert_eq!(project(&sample_entity(), &strs(&["nothing"])), json!({}));
        assert_eq!(project(&sample_entity(), &strs(&["metadata.tags.0"])), json!({}));
    }

    #[test]
    fn no_fields_means_the_whole_entity() {
        assert_eq!(project(&sample_entity(), &[]), sample_entity());
    }
}
