//! The flattened search rows of an entity, which make Backstage's filters plain indexed SQL.
//!
//! Every leaf becomes a lower-cased `(key, value)` row with a dotted key (`spec.owner`,
//! `metadata.annotations.backstage.io/techdocs-ref`). Array items repeat the array's key, and a
//! string item also yields `path.item = "true"`, as Backstage does. Relations are not copied
//! here: filters on `relations.<type>` read the relations table directly, which is always current.

use serde_json::Value;

/// Keys and values longer than this are not searchable by value (the key still exists).
const MAX_LEN: usize = 200;

/// Flattens an entity into `(key, value)` search rows.
pub fn rows(entity: &Value) -> Vec<(String, String)> {
    rows_with_original(entity).into_iter().map(|(k, v, _)| (k, v)).collect()
}

/// A leaf: its lower-cased value, and its own spelling when that differs.
type Leaf = Option<(String, Option<String>)>;

/// Flattens an entity into `(key, value, original)` rows; `original` is the value as written,
/// given only when it differs from the lower-cased `value` (facets show it).
pub fn rows_with_original(entity: &Value) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, Leaf)> = Vec::with_capacity(32);
    if let Some(obj) = entity.as_object() {
        for (k, v) in obj {
            if matches!(k.as_str(), "relations" | "status") {
                continue;
            }
            if k == "metadata" {
                // The etag changes with every edit and is never a useful filter.
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta.iter().filter(|(mk, _)| mk.as_str() != "etag") {
                        visit(&format!("metadata.{}", mk.to_lowercase()), mv, &mut out);
                    }
                }
                continue;
            }
            visit(&k.to_ascii_lowercase(), v, &mut out);
        }
    }
    // Stored as '' when there is no searchable value: the key still exists.
    out.into_iter()
        .map(|(k, v)| match v {
            Some((lower, original)) => (k, lower, original),
            None => (k, String::new(), None),
        })
        .collect()
}

fn leaf(text: String) -> Leaf {
    Some((text, None))
}

fn visit(path: &str, v: &Value, out: &mut Vec<(String, Leaf)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                visit(&format!("{path}.{}", k.to_lowercase()), x, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                visit(path, item, out);
                if let Value::String(s) = item {
                    push(out, format!("{path}.{}", s.to_lowercase()), leaf("true".into()));
                }
            }
        }
        Value::Null => push(out, path.to_owned(), None),
        Value::Bool(b) => push(out, path.to_owned(), leaf(b.to_string())),
        Value::Number(n) => push(out, path.to_owned(), leaf(n.to_string())),
        Value::String(s) => {
            let lower = s.to_lowercase();
            let original = (lower != *s).then(|| s.clone());
            push(out, path.to_owned(), Some((lower, original)))
        }
    }
}

fn push(out: &mut Vec<(String, Leaf)>, key: String, value: Leaf) {
    if key.len() > MAX_LEN {
        return;
    }
    let value = value.filter(|(v, _)| v.len() <= MAX_LEN);
    let lower = value.as_ref().map(|(v, _)| v);
    if !out.iter().any(|(k, v)| *k == key && v.as_ref().map(|(x, _)| x) == lower) {
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_lower_cased_with_dotted_keys() {
        let r = rows(&json!({"kind": "Component", "metadata": {"name": "Svc", "tags": ["Java"]}, "relations": [1]}));
        assert!(r.contains(&("kind".into(), "component".into())));
        assert!(r.contains(&("metadata.name".into(), "svc".into())));
        assert!(r.contains(&("metadata.tags".into(), "java".into())));
        assert!(r.contains(&("metadata.tags.java".into(), "true".into())));
        assert!(!r.iter().any(|(k, _)| k.starts_with("relations")));
    }

    #[test]
    fn originals_are_kept_only_when_they_differ() {
        let r = rows_with_original(&json!({"kind": "Component", "spec": {"type": "service"}}));
        assert!(r.contains(&("kind".into(), "component".into(), Some("Component".into()))));
        assert!(r.contains(&("spec.type".into(), "service".into(), None)));
    }

    #[test]
    fn long_values_keep_their_key_but_not_their_value() {
        let r = rows(&json!({"spec": {"definition": "x".repeat(500)}}));
        assert_eq!(r, vec![("spec.definition".into(), String::new())]);
    }
}
