//! The flattened search rows of an entity, which make Backstage's filters plain indexed SQL.
//!
//! Every leaf becomes a lower-cased `(key, value)` row with a dotted key (`spec.owner`,
//! `metadata.annotations.backstage.io/techdocs-ref`). Array items repeat the array's key, and a
//! string item also yields `path.item = "true"`, as Backstage does. Relations are not copied
//! here: filters on `relations.<type>` read the relations table directly, which is always current.

use serde_json::Value;

/// Keys and values longer than this are not searchable by value (the key still exists).
const MAX_LEN: usize = 200;

/// Flattens an entity into search rows.
pub fn rows(entity: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(32);
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
    out.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect()
}

fn visit(path: &str, v: &Value, out: &mut Vec<(String, Option<String>)>) {
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
                    push(out, format!("{path}.{}", s.to_lowercase()), Some("true".into()));
                }
            }
        }
        Value::Null => push(out, path.to_owned(), None),
        Value::Bool(b) => push(out, path.to_owned(), Some(b.to_string())),
        Value::Number(n) => push(out, path.to_owned(), Some(n.to_string())),
        Value::String(s) => push(out, path.to_owned(), Some(s.to_lowercase())),
    }
}

fn push(out: &mut Vec<(String, Option<String>)>, key: String, value: Option<String>) {
    if key.len() > MAX_LEN {
        return;
    }
    let value = value.filter(|v| v.len() <= MAX_LEN);
    if !out.iter().any(|(k, v)| *k == key && *v == value) {
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
    fn long_values_keep_their_key_but_not_their_value() {
        let r = rows(&json!({"spec": {"definition": "x".repeat(500)}}));
        assert_eq!(r, vec![("spec.definition".into(), String::new())]);
    }
}
