//! Predicates: the `query` body of `POST /entities/by-query` (`{"kind": "component",
//! "spec.type": {"$in": ["service"]}}`, `$all`, `$any`, `$not`, `$exists`, `$hasPrefix`), and the
//! `filter` parameter turned into the same shape, so both query styles are answered alike.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::describe;
use super::limits::MAX_DEPTH;
use crate::catalog::filter::{Condition, FilterSet};

/// The most items one `$all`, `$any` or `$in` (or one object's field conditions, or one key's
/// values in a `filter` set) may hold: larger lists exceed what the databases can compile.
pub const MAX_ITEMS: usize = 500;

/// The message for a list longer than [`MAX_ITEMS`]; `what` names the list.
pub fn too_many_items(what: &str, n: usize) -> String {
    format!("{what} has {n} items, more than the limit of {MAX_ITEMS}")
}

/// A filter predicate: the `query` of `POST /entities/by-query`, or a converted `filter`.
///
/// Keys and values are held lower-cased, as they are matched against the lower-cased search rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// Every predicate holds (`$all`; also several field keys in one object). Empty: always true.
    All(Vec<Predicate>),
    /// At least one predicate holds (`$any`). Empty: never true.
    Any(Vec<Predicate>),
    /// The predicate does not hold (`$not`).
    Not(Box<Predicate>),
    /// A dotted field key (`spec.owner`, `relations.ownedby`) and how its value must match.
    Field { key: String, matcher: Matcher },
}

/// How a field's value must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Equal to this value (a string, number or boolean in the query, compared as text).
    Eq(String),
    /// Equal to any of these values (`$in`); an empty list never matches.
    In(Vec<String>),
    /// The field exists (`{"$exists": true}`) or does not (`false`).
    Exists(bool),
    /// The value starts with this text (`$hasPrefix`).
    HasPrefix(String),
}

impl Predicate {
    /// The predicate that matches every entity.
    pub fn everything() -> Self {
        Predicate::All(Vec::new())
    }

    /// The predicate as query JSON, in a form [`parse_predicate`] reads back to an equal value.
    pub fn to_json(&self) -> Value {
        match self {
            Predicate::All(items) => single("$all", Value::Array(items.iter().map(Predicate::to_json).collect())),
            Predicate::Any(items) => single("$any", Value::Array(items.iter().map(Predicate::to_json).collect())),
            Predicate::Not(inner) => single("$not", inner.to_json()),
            Predicate::Field { key, matcher } => single(key, matcher.to_json()),
        }
    }
}

impl Matcher {
    fn to_json(&self) -> Value {
        match self {
            Matcher::Eq(v) => Value::String(v.clone()),
            Matcher::In(vs) => single("$in", Value::Array(vs.iter().cloned().map(Value::String).collect())),
            Matcher::Exists(b) => single("$exists", Value::Bool(*b)),
            Matcher::HasPrefix(p) => single("$hasPrefix", Value::String(p.clone())),
        }
    }
}

fn single(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    Value::Object(m)
}

impl Serialize for Predicate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_predicate(&value).map_err(serde::de::Error::custom)
    }
}

/// Parses the `query` of a `POST /entities/by-query` body.
///
/// The root must be an object. Each key is a dotted field path (matched case-insensitively) whose
/// value is a string, number or boolean (equality, case-insensitive), or an object with exactly one
/// of `{"$in": [values]}`, `{"$exists": bool}` or `{"$hasPrefix": "text"}`; several keys in one
/// object must all hold. `$all: [..]`, `$any: [..]` and `$not: {..}` combine predicates and must be
/// the only key of their object. Errors name the JSON pointer of the offending part, such as
/// `invalid query at /$all/1/spec.type: ...`.
pub fn parse_predicate(value: &Value) -> Result<Predicate, String> {
    if !value.is_object() {
        return Err(format!(
            "invalid query: must be an object such as {{\"kind\": \"component\"}}, got {}",
            describe(value)
        ));
    }
    parse_node(value, "", 0)
}

/// `depth` is how many levels (see [`MAX_DEPTH`]) enclose `value`.
fn parse_node(value: &Value, path: &str, depth: usize) -> Result<Predicate, String> {
    if depth > MAX_DEPTH {
        return Err(too_deep(path));
    }
    let Value::Object(obj) = value else {
        return Err(problem(
            path,
            &format!("expected an object such as {{\"kind\": \"component\"}}, got {}", describe(value)),
        ));
    };
    if let Some(op) = obj.keys().find(|k| matches!(k.as_str(), "$all" | "$any" | "$not")) {
        if obj.len() > 1 {
            let others: Vec<String> = obj.keys().filter(|k| *k != op).map(|k| format!("\"{k}\"")).collect();
            return Err(problem(
                path,
                &format!(
                    "\"{op}\" must be the only key of its object, but {} sit beside it; \
                     put each condition in its own object inside \"$all\"",
                    others.join(", ")
                ),
            ));
        }
        let inner = &obj[op.as_str()];
        let inner_path = pointer(path, op);
        if op == "$not" {
            return Ok(Predicate::Not(Box::new(parse_node(inner, &inner_path, depth + 1)?)));
        }
        let Value::Array(items) = inner else {
            return Err(problem(&inner_path, &format!("expected an array of predicates, got {}", describe(inner))));
        };
        if items.len() > MAX_ITEMS {
            return Err(problem(&inner_path, &too_many_items(&format!("\"{op}\""), items.len())));
        }
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_node(item, &pointer(&inner_path, &i.to_string()), depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if op == "$all" { Predicate::All(parsed) } else { Predicate::Any(parsed) });
    }
    if obj.len() > MAX_ITEMS {
        return Err(problem(path, &too_many_items("this object of field conditions", obj.len())));
    }
    // Several conditions are an implicit `$all`: one level more.
    if obj.len() > 1 && depth >= MAX_DEPTH {
        return Err(too_deep(path));
    }
    let mut fields = Vec::with_capacity(obj.len());
    for (key, v) in obj {
        let field_path = pointer(path, key);
        if key.starts_with('$') {
            return Err(problem(
                &field_path,
                &format!(
                    "unknown operator \"{key}\": the logical operators are $all, $any and $not, and $in, \
                     $exists and $hasPrefix go inside a field, as in {{\"spec.type\": {{\"$in\": [\"service\"]}}}}"
                ),
            ));
        }
        if key.trim().is_empty() {
            return Err(problem(&field_path, "a field name cannot be empty"));
        }
        fields.push(Predicate::Field { key: key.to_lowercase(), matcher: parse_matcher(v, &field_path)? });
    }
    Ok(if fields.len() == 1 { fields.remove(0) } else { Predicate::All(fields) })
}

const VALUE_EXPECTED: &str =
    "expected a string, number or boolean, or an object with one of $in, $exists or $hasPrefix";

fn parse_matcher(value: &Value, path: &str) -> Result<Matcher, String> {
    if let Some(text) = primitive_text(value) {
        return Ok(Matcher::Eq(text));
    }
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(problem(
                path,
                &format!("{VALUE_EXPECTED}, got an array; to match any of several values use {{\"$in\": [...]}}"),
            ));
        }
        _ => return Err(problem(path, &format!("{VALUE_EXPECTED}, got {}", describe(value)))),
    };
    let mut entries = obj.iter();
    let (Some((op, arg)), None) = (entries.next(), entries.next()) else {
        return Err(problem(path, &format!("{VALUE_EXPECTED}, got an object with {} keys", obj.len())));
    };
    let op_path = pointer(path, op);
    match op.as_str() {
        "$in" => {
            let Value::Array(items) = arg else {
                return Err(problem(&op_path, &format!("expected an array of values, got {}", describe(arg))));
            };
            if items.len() > MAX_ITEMS {
                return Err(problem(&op_path, &too_many_items("\"$in\"", items.len())));
            }
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    primitive_text(item).ok_or_else(|| {
                        problem(
                            &pointer(&op_path, &i.to_string()),
                            &format!("expected a string, number or boolean, got {}", describe(item)),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Matcher::In(values))
        }
        "$exists" => match arg {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => Err(problem(&op_path, &format!("expected true or false, got {}", describe(arg)))),
        },
        "$hasPrefix" => match arg {
            Value::String(s) => Ok(Matcher::HasPrefix(s.to_lowercase())),
            _ => Err(problem(&op_path, &format!("expected a string, got {}", describe(arg)))),
        },
        _ if op.starts_with('$') => Err(problem(
            &op_path,
            &format!("unknown operator \"{op}\": the catalog supports $in, $exists and $hasPrefix on a field"),
        )),
        _ => Err(problem(
            path,
            &format!(
                "{VALUE_EXPECTED}, got a nested object; name nested fields with a dotted key such as \
                 \"{}.{op}\"",
                path.rsplit('/').next().unwrap_or_default().replace("~1", "/").replace("~0", "~")
            ),
        )),
    }
}

/// A string, number or boolean as the lower-cased text the search rows hold.
fn primitive_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Appends one key to a JSON pointer, escaped as RFC 6901 says.
fn pointer(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn too_deep(path: &str) -> String {
    problem(
        path,
        &format!(
            "nested more than {MAX_DEPTH} levels deep; a query may nest at most {MAX_DEPTH} levels of $all, $any \
             and $not (an object of several conditions counts as one $all)"
        ),
    )
}

fn problem(path: &str, message: &str) -> String {
    if path.is_empty() { format!("invalid query: {message}") } else { format!("invalid query at {path}: {message}") }
}

/// Converts parsed `filter` parameters into a predicate: sets are alternatives (`$any`), the
/// conditions of a set must all hold, a bare key means `$exists: true`, several values `$in`.
///
/// As in Backstage, an empty set (`filter=` or `filter=,`) is dropped rather than matching
/// everything; with no set left the predicate matches every entity. A key starting with `$` can
/// name no entity field and matches nothing.
pub fn filter_sets_to_predicate(sets: &[FilterSet]) -> Predicate {
    let mut alternatives: Vec<Predicate> = sets
        .iter()
        .filter(|set| !set.is_empty())
        .map(|set| {
            let mut conditions: Vec<Predicate> = set.iter().map(condition_predicate).collect();
            if conditions.len() == 1 { conditions.remove(0) } else { Predicate::All(conditions) }
        })
        .collect();
    match alternatives.len() {
        0 => Predicate::everything(),
        1 => alternatives.remove(0),
        _ => Predicate::Any(alternatives),
    }
}

fn condition_predicate(condition: &Condition) -> Predicate {
    if condition.key.starts_with('$') {
        return Predicate::Any(Vec::new());
    }
    let matcher = match &condition.values {
        None => Matcher::Exists(true),
        Some(values) if values.len() == 1 => Matcher::Eq(values[0].to_lowercase()),
        Some(values) => Matcher::In(values.iter().map(|v| v.to_lowercase()).collect()),
    };
    Predicate::Field { key: condition.key.to_lowercase(), matcher }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::testing::*;
    use serde_json::json;

    #[test]
    fn lists_longer_than_the_limit_are_refused_with_the_limit() {
        let items = |n: usize| (0..n).map(|i| json!({"metadata.name": format!("n{i}")})).collect::<Vec<_>>();
        let values = |n: usize| (0..n).map(|i| json!(format!("v{i}"))).collect::<Vec<_>>();
        for op in ["$any", "$all"] {
            assert!(parse_predicate(&json!({ op: items(MAX_ITEMS) })).is_ok());
            let e = parse_predicate(&json!({ op: items(999) })).unwrap_err();
            assert_eq!(e, format!("invalid query at /{op}: \"{op}\" has 999 items, more than the limit of 500"));
        }
        assert!(parse_predicate(&json!({"kind": {"$in": values(MAX_ITEMS)}})).is_ok());
        let e = parse_predicate(&json!({"$not": {"kind": {"$in": values(501)}}})).unwrap_err();
        assert_eq!(e, "invalid query at /$not/kind/$in: \"$in\" has 501 items, more than the limit of 500");
        let wide: Map<String, Value> = (0..501).map(|i| (format!("spec.f{i}"), json!("x"))).collect();
        assert!(parse_predicate(&Value::Object(wide)).unwrap_err().contains("more than the limit of 500"));
    }

    #[test]
    fn a_field_with_a_string_is_a_lower_cased_equality() {
        let p = parse_predicate(&json!({"Kind": "Component"})).unwrap();
        assert_eq!(p, field("kind", Matcher::Eq("component".into())));
    }

    #[test]
    fn numbers_and_booleans_compare_as_their_text() {
        let p = parse_predicate(&json!({"spec.replicas": 3, "spec.public": true})).unwrap();
        assert_eq!(
            p,
            Predicate::All(vec![
                field("spec.replicas", Matcher::Eq("3".into())),
                field("spec.public", Matcher::Eq("true".into()))
            ])
        );
    }

    #[test]
    fn several_keys_in_one_object_are_anded_in_order() {
        let p = parse_predicate(&json!({"kind": "api", "spec.type": "openapi"})).unwrap();
        let Predicate::All(items) = p else { panic!("expected $all") };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], field("kind", Matcher::Eq("api".into())));
    }

    #[test]
    fn value_operators_parse_into_matchers() {
        let p = parse_predicate(&json!({
            "kind": {"$in": ["API", 7, false]},
            "spec.owner": {"$exists": false},
            "metadata.name": {"$hasPrefix": "Pay"}
        }))
        .unwrap();
        assert_eq!(
            p,
            Predicate::All(vec![
                field("kind", Matcher::In(strs(&["api", "7", "false"]))),
                field("spec.owner", Matcher::Exists(false)),
                field("metadata.name", Matcher::HasPrefix("pay".into())),
            ])
        );
    }

    #[test]
    fn logical_operators_nest() {
        let p = parse_predicate(&json!({
            "$all": [{"kind": "component"}, {"$any": [{"spec.type": "service"}, {"spec.type": "website"}]},
                     {"$not": {"spec.lifecycle": "experimental"}}]
        }))
        .unwrap();
        assert_eq!(
            p,
            Predicate::All(vec![
                field("kind", Matcher::Eq("component".into())),
                Predicate::Any(vec![
                    field("spec.type", Matcher::Eq("service".into())),
                    field("spec.type", Matcher::Eq("website".into()))
                ]),
                Predicate::Not(Box::new(field("spec.lifecycle", Matcher::Eq("experimental".into())))),
            ])
        );
    }

    #[test]
    fn an_empty_object_matches_everything() {
        assert_eq!(parse_predicate(&json!({})).unwrap(), Predicate::everything());
    }

    #[test]
    fn a_root_that_is_not_an_object_is_refused() {
        let e = parse_predicate(&json!("component")).unwrap_err();
        assert!(e.starts_with("invalid query: must be an object"), "{e}");
        assert!(parse_predicate(&json!([{"kind": "api"}])).is_err());
    }

    #[test]
    fn errors_name_the_json_pointer_of_the_bad_part() {
        let e = parse_predicate(&json!({"$all": [{"kind": "api"}, {"spec.type": null}]})).unwrap_err();
        assert!(e.starts_with("invalid query at /$all/1/spec.type: "), "{e}");
        assert!(e.contains("got null"), "{e}");
        let e = parse_predicate(&json!({"kind": {"$in": ["api", {"x": 1}]}})).unwrap_err();
        assert!(e.starts_with("invalid query at /kind/$in/1: "), "{e}");
    }

    #[test]
    fn slashes_in_keys_are_escaped_in_the_pointer() {
        let e = parse_predicate(&json!({"metadata.annotations.backstage.io/x": []})).unwrap_err();
        assert!(e.starts_with("invalid query at /metadata.annotations.backstage.io~1x: "), "{e}");
    }

    #[test]
    fn an_array_value_suggests_in() {
        let e = parse_predicate(&json!({"kind": ["api", "component"]})).unwrap_err();
        assert!(e.contains("$in"), "{e}");
    }

    #[test]
    fn unknown_operators_are_refused_with_the_supported_ones() {
        let e = parse_predicate(&json!({"$or": [{"kind": "api"}]})).unwrap_err();
        assert!(e.contains("unknown operator \"$or\"") && e.contains("$any"), "{e}");
        let e = parse_predicate(&json!({"kind": {"$contains": {"x": 1}}})).unwrap_err();
        assert!(e.starts_with("invalid query at /kind/$contains: unknown operator"), "{e}");
    }

    #[test]
    fn a_logical_operator_cannot_share_its_object() {
        let e = parse_predicate(&json!({"$all": [], "kind": "api"})).unwrap_err();
        assert!(e.contains("must be the only key") && e.contains("\"kind\""), "{e}");
    }

    #[test]
    fn operator_arguments_must_have_the_right_type() {
        for (q, path) in [
            (json!({"$all": {"kind": "api"}}), "/$all"),
            (json!({"$any": "x"}), "/$any"),
            (json!({"$not": [{"kind": "api"}]}), "/$not"),
            (json!({"kind": {"$in": "api"}}), "/kind/$in"),
            (json!({"kind": {"$exists": "yes"}}), "/kind/$exists"),
            (json!({"kind": {"$hasPrefix": 1}}), "/kind/$hasPrefix"),
        ] {
            let e = parse_predicate(&q).unwrap_err();
            assert!(e.starts_with(&format!("invalid query at {path}: ")), "{q}: {e}");
        }
    }

    #[test]
    fn a_value_object_needs_exactly_one_operator() {
        let e = parse_predicate(&json!({"kind": {"$in": ["a"], "$exists": true}})).unwrap_err();
        assert!(e.contains("2 keys"), "{e}");
        assert!(parse_predicate(&json!({"kind": {}})).is_err());
    }

    #[test]
    fn a_nested_object_suggests_a_dotted_key() {
        let e = parse_predicate(&json!({"spec": {"owner": "team-a"}})).unwrap_err();
        assert!(e.contains("\"spec.owner\""), "{e}");
    }

    #[test]
    fn an_empty_field_name_is_refused() {
        assert!(parse_predicate(&json!({"": "x"})).unwrap_err().contains("cannot be empty"));
    }

    #[test]
    fn nesting_is_limited_to_8_levels() {
        let nest = |levels: usize, leaf: Value| (0..levels).fold(leaf, |q, _| json!({ "$not": q }));
        let one = json!({"kind": "api"});
        let two = json!({"kind": "api", "spec.type": "openapi"});
        assert_eq!(parse_predicate(&nest(MAX_DEPTH, one.clone())).unwrap().depth(), MAX_DEPTH);
        assert!(parse_predicate(&nest(MAX_DEPTH - 1, two.clone())).is_ok());
        for q in [nest(MAX_DEPTH + 1, one), nest(MAX_DEPTH, two), nest(200, json!({}))] {
            let e = parse_predicate(&q).unwrap_err();
            assert!(e.contains("nested more than 8 levels deep"), "{e}");
        }
        // Every accepted predicate reads back from its JSON (as a cursor holds it).
        let wide = (0..MAX_DEPTH - 1).fold(json!({"a": "1", "b": "2"}), |q, _| json!({"$any": [q, {"c": "3"}]}));
        let p = parse_predicate(&wide).unwrap();
        assert_eq!(p.depth(), MAX_DEPTH);
        assert_eq!(parse_predicate(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn predicates_round_trip_through_json() {
        let q = json!({"$any": [{"kind": "API", "spec.owner": {"$exists": true}},
                                {"$not": {"metadata.name": {"$hasPrefix": "x_"}}},
                                {"spec.type": {"$in": ["a", 1]}}, {}]});
        let p = parse_predicate(&q).unwrap();
        assert_eq!(parse_predicate(&p.to_json()).unwrap(), p);
        let back: Predicate = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn filter_sets_become_any_of_all() {
        let sets =
            crate::catalog::filter::parse(&strs(&["kind=component,spec.type=service,spec.type=website", "spec.owner"]))
                .unwrap();
        assert_eq!(
            filter_sets_to_predicate(&sets),
            Predicate::Any(vec![
                Predicate::All(vec![
                    field("kind", Matcher::Eq("component".into())),
                    field("spec.type", Matcher::In(strs(&["service", "website"]))),
                ]),
                field("spec.owner", Matcher::Exists(true)),
            ])
        );
    }

    #[test]
    fn empty_filter_sets_are_dropped_as_backstage_does() {
        let sets = crate::catalog::filter::parse(&strs(&["", "kind=api", ","])).unwrap();
        assert_eq!(filter_sets_to_predicate(&sets), field("kind", Matcher::Eq("api".into())));
        let only_empty = crate::catalog::filter::parse(&strs(&[""])).unwrap();
        assert_eq!(filter_sets_to_predicate(&only_empty), Predicate::everything());
        assert_eq!(filter_sets_to_predicate(&[]), Predicate::everything());
    }
}
