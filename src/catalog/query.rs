//! Backstage's catalog query surface, as pure logic: what `GET /entities`, `GET /entities/by-query`
//! and `POST /entities/by-query` accept, and the SQL fragments that answer them.
//!
//! - [`Predicate`] and [`parse_predicate`]: the `query` body of `POST /entities/by-query`
//!   (`{"kind": "component", "spec.type": {"$in": ["service"]}}`, `$all`, `$any`, `$not`,
//!   `$exists`, `$hasPrefix`). [`filter_sets_to_predicate`] turns the `filter` parameter into the
//!   same shape, so both query styles share [`predicate_sql`].
//! - [`fulltext_sql`]: `fullTextFilterTerm` / `fullTextFilter` (case-insensitive substring).
//! - [`OrderField`], its three parsers and [`order_sql`]: sorting by any searchable field,
//!   entities without the field last, `e.entity_ref` as the final tiebreaker.
//! - [`parse_fields`] and [`project`]: the `fields` projection.
//! - [`Cursor`], [`encode`], [`decode`], [`seek_sql`] and [`paginate`]: cursor pagination that
//!   seeks past the last item shown (stable while entities change), with `totalItems` counted once.
//! - [`QueryRequest`]: the whole by-query request, from a query string or a JSON body.
//! - [`PageParams`]: `offset`, `limit` and `after` of `GET /entities`.
//!
//! Every SQL fragment is written over `entities e` with `?` placeholders (rewritten to `$n` for
//! PostgreSQL by `db::placeholders`), and all matching is on the lower-cased `search` rows and
//! `relations` table, as `store.rs` does. Parsers return messages fit for a 400 response.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::relations::canonical_type;
use super::store::{Condition, FilterSet};

/// How many items a by-query page holds when the request names no `limit` (Backstage's default).
pub const DEFAULT_QUERY_LIMIT: u64 = 20;

/// The longest cursor [`decode`] accepts, in characters.
pub const MAX_CURSOR_LEN: usize = 1 << 20;

/// How deeply `$all`, `$any` and `$not` may nest.
const MAX_DEPTH: usize = 64;

/// The SQL literal that makes a backslash the escape character of a `LIKE` pattern.
const LIKE_ESCAPE: &str = "ESCAPE '\\'";

// ---------------------------------------------------------------------------------------------
// Predicates
// ---------------------------------------------------------------------------------------------

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

fn parse_node(value: &Value, path: &str, depth: usize) -> Result<Predicate, String> {
    if depth > MAX_DEPTH {
        return Err(problem(path, &format!("nested more than {MAX_DEPTH} levels deep")));
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
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_node(item, &pointer(&inner_path, &i.to_string()), depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if op == "$all" { Predicate::All(parsed) } else { Predicate::Any(parsed) });
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

fn problem(path: &str, message: &str) -> String {
    if path.is_empty() { format!("invalid query: {message}") } else { format!("invalid query at {path}: {message}") }
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("the string \"{}...\"", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
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

/// The WHERE fragment of a predicate over `entities e`, with `?` placeholders and their values.
///
/// Fields match the `search` rows; `relations.<type>` keys match the `relations` table (the type
/// by [`canonical_type`], the value against the lower-cased target ref), and an unknown relation
/// type matches nothing. `$hasPrefix` is a `LIKE` with `%`, `_` and `\` escaped, `$not` a
/// `NOT (...)`, and `$exists: false` a `NOT IN`. Always parenthesised where it matters, so the
/// fragment can be AND-ed with others as it is.
pub fn predicate_sql(predicate: &Predicate) -> (String, Vec<String>) {
    let mut binds = Vec::new();
    let sql = write_predicate(predicate, &mut binds);
    (sql, binds)
}

fn write_predicate(predicate: &Predicate, binds: &mut Vec<String>) -> String {
    match predicate {
        Predicate::All(items) => join_sql(items, " AND ", "1 = 1", binds),
        Predicate::Any(items) => join_sql(items, " OR ", "1 = 0", binds),
        Predicate::Not(inner) => format!("NOT ({})", write_predicate(inner, binds)),
        Predicate::Field { key, matcher } => field_sql(key, matcher, binds),
    }
}

fn join_sql(items: &[Predicate], separator: &str, empty: &str, binds: &mut Vec<String>) -> String {
    match items {
        [] => empty.to_owned(),
        [one] => write_predicate(one, binds),
        _ => {
            let parts: Vec<String> = items.iter().map(|p| write_predicate(p, binds)).collect();
            format!("({})", parts.join(separator))
        }
    }
}

fn field_sql(key: &str, matcher: &Matcher, binds: &mut Vec<String>) -> String {
    if let Matcher::In(values) = matcher
        && values.is_empty()
    {
        return "1 = 0".into();
    }
    let key = key.to_lowercase();
    // Kind, namespace and name are columns of their own (lower-cased, indexed): no search rows.
    if let Some(column) = match key.as_str() {
        "kind" => Some("e.kind"),
        "metadata.namespace" => Some("e.namespace"),
        "metadata.name" => Some("e.name"),
        _ => None,
    } {
        return match matcher {
            Matcher::Exists(exists) => if *exists { "1 = 1" } else { "1 = 0" }.into(),
            Matcher::Eq(value) => {
                binds.push(value.to_lowercase());
                format!("{column} = ?")
            }
            Matcher::In(values) => {
                binds.extend(values.iter().map(|v| v.to_lowercase()));
                format!("{column} IN ({})", marks(values.len()))
            }
            Matcher::HasPrefix(prefix) => {
                binds.push(format!("{}%", escape_like(&prefix.to_lowercase())));
                format!("{column} LIKE ? {LIKE_ESCAPE}")
            }
        };
    }
    let (subject, rows, column) = match key.strip_prefix("relations.") {
        Some(relation) => {
            let Some(kind) = canonical_type(relation) else {
                // No entity has a relation of a type that does not exist.
                return if *matcher == Matcher::Exists(false) { "1 = 1".into() } else { "1 = 0".into() };
            };
            // Every relation is stored with its inverse, clustered by source: "E has T to R" is
            // read as "R has inverse(T) to E", an index range per R.
            let values: Option<Vec<String>> = match matcher {
                Matcher::Eq(v) => Some(vec![v.to_lowercase()]),
                Matcher::In(vs) => Some(vs.iter().map(|v| v.to_lowercase()).collect()),
                _ => None,
            };
            if let (Some(values), Some(inverse)) = (values, super::relations::inverse_of(kind)) {
                let n = values.len();
                binds.extend(values);
                binds.push(inverse.to_owned());
                return format!(
                    "e.entity_ref IN (SELECT target_key FROM relations WHERE source_key IN ({}) AND type = ?)",
                    marks(n)
                );
            }
            binds.push(kind.to_owned());
            ("e.entity_ref", "SELECT source_key FROM relations WHERE type = ?", "target_key")
        }
        None => {
            binds.push(key);
            ("e.id", "SELECT entity_id FROM search WHERE key = ?", "value")
        }
    };
    match matcher {
        Matcher::Exists(true) => format!("{subject} IN ({rows})"),
        Matcher::Exists(false) => format!("{subject} NOT IN ({rows})"),
        Matcher::Eq(value) => {
            binds.push(value.to_lowercase());
            format!("{subject} IN ({rows} AND {column} = ?)")
        }
        Matcher::In(values) => {
            binds.extend(values.iter().map(|v| v.to_lowercase()));
            format!("{subject} IN ({rows} AND {column} IN ({}))", marks(values.len()))
        }
        Matcher::HasPrefix(prefix) => {
            binds.push(format!("{}%", escape_like(&prefix.to_lowercase())));
            format!("{subject} IN ({rows} AND {column} LIKE ? {LIKE_ESCAPE})")
        }
    }
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Escapes `\`, `%` and `_` for a `LIKE ... ESCAPE '\'` pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// ANDs WHERE fragments, leaving out the ones that are always true.
fn and_sql(parts: Vec<(String, Vec<String>)>) -> (String, Vec<String>) {
    let kept: Vec<(String, Vec<String>)> = parts.into_iter().filter(|(sql, _)| sql != "1 = 1").collect();
    match kept.len() {
        0 => ("1 = 1".into(), Vec::new()),
        1 => kept.into_iter().next().unwrap_or_default(),
        _ => {
            let mut binds = Vec::new();
            let sqls: Vec<String> = kept
                .into_iter()
                .map(|(sql, b)| {
                    binds.extend(b);
                    format!("({sql})")
                })
                .collect();
            (sqls.join(" AND "), binds)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Full-text filter
// ---------------------------------------------------------------------------------------------

/// A full-text filter: a term and the fields to look for it in (none: every searchable value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullTextFilter {
    /// Trimmed; never empty.
    pub term: String,
    /// Lower-cased dotted field keys; empty means every searchable value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl FullTextFilter {
    /// A filter, or `None` when the trimmed term is empty (Backstage then filters nothing).
    pub fn new(term: &str, fields: &[String]) -> Option<Self> {
        let term = term.trim();
        if term.is_empty() {
            return None;
        }
        Some(FullTextFilter { term: term.to_owned(), fields: normalize_fields(fields) })
    }
}

/// Splits comma-separated field lists, trims and lower-cases each field, drops empty ones and
/// duplicates.
fn normalize_fields(fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in fields.iter().flat_map(|f| f.split(',')) {
        let field = field.trim().to_lowercase();
        if !field.is_empty() && !out.contains(&field) {
            out.push(field);
        }
    }
    out
}

/// The WHERE fragment of a full-text filter over `entities e`: some value of the named fields
/// contains the trimmed, lower-cased term (a `LIKE '%term%'` with `%`, `_` and `\` escaped).
///
/// With no fields named, any searchable value of the entity may contain it. (Backstage instead
/// falls back to the first sort field, or to `metadata.uid` when unsorted; see
/// [`backstage_fulltext_fields`] for that choice.) `relations.<type>` fields search the target
/// refs of that relation type. A blank term filters nothing (`1 = 1`).
pub fn fulltext_sql(term: &str, fields: &[String]) -> (String, Vec<String>) {
    let term = term.trim().to_lowercase();
    if term.is_empty() {
        return ("1 = 1".into(), Vec::new());
    }
    let pattern = format!("%{}%", escape_like(&term));
    let fields = normalize_fields(fields);
    if fields.is_empty() {
        return (format!("e.id IN (SELECT entity_id FROM search WHERE value LIKE ? {LIKE_ESCAPE})"), vec![pattern]);
    }
    let mut keys: Vec<String> = Vec::new();
    let mut relation_types: Vec<String> = Vec::new();
    for field in fields {
        match field.strip_prefix("relations.") {
            Some(relation) => {
                if let Some(kind) = canonical_type(relation)
                    && !relation_types.iter().any(|t| t == kind)
                {
                    relation_types.push(kind.to_owned());
                }
            }
            None => keys.push(field),
        }
    }
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    if !keys.is_empty() {
        parts.push(format!(
            "e.id IN (SELECT entity_id FROM search WHERE key IN ({}) AND value LIKE ? {LIKE_ESCAPE})",
            marks(keys.len())
        ));
        binds.extend(keys);
        binds.push(pattern.clone());
    }
    if !relation_types.is_empty() {
        parts.push(format!(
            "e.entity_ref IN (SELECT source_key FROM relations WHERE type IN ({}) AND target_key LIKE ? {LIKE_ESCAPE})",
            marks(relation_types.len())
        ));
        binds.extend(relation_types);
        binds.push(pattern);
    }
    match parts.len() {
        // Only unknown relation types were named: nothing can contain the term.
        0 => ("1 = 0".into(), Vec::new()),
        1 => (parts.remove(0), binds),
        _ => (format!("({})", parts.join(" OR ")), binds),
    }
}

/// The fields Backstage's `queryEntities` searches when a full-text filter names none: the first
/// sort field, or `metadata.uid` when the query is unsorted.
pub fn backstage_fulltext_fields(order: &[OrderField]) -> Vec<String> {
    vec![order.first().map_or_else(|| "metadata.uid".to_owned(), |o| o.field.clone())]
}

/// Parses `fullTextFilterTerm` and `fullTextFilterFields` of `GET /entities/by-query` (all values
/// of each). The term may be given once; fields are comma-separated and may be repeated.
pub fn parse_fulltext_params(terms: &[String], fields: &[String]) -> Result<Option<FullTextFilter>, String> {
    let term = single_value(terms, "fullTextFilterTerm")?.unwrap_or_default();
    Ok(FullTextFilter::new(&term, fields))
}

/// Parses the `fullTextFilter` object of a `POST /entities/by-query` body: `{"term": "...",
/// "fields": ["metadata.name"]}`, both optional.
pub fn parse_fulltext_body(value: &Value) -> Result<Option<FullTextFilter>, String> {
    let Value::Object(obj) = value else {
        return Err(format!("Invalid fullTextFilter, expected an object with a term, got {}", describe(value)));
    };
    if let Some(key) = obj.keys().find(|k| !matches!(k.as_str(), "term" | "fields")) {
        return Err(format!("Invalid fullTextFilter, unknown key \"{key}\" (expected term and fields)"));
    }
    let term = match obj.get("term") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("Invalid fullTextFilter.term, expected a string, got {}", describe(other))),
    };
    let fields = match obj.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => strings(v, "fullTextFilter.fields")?,
    };
    Ok(FullTextFilter::new(&term, &fields))
}

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

/// One sort key: a dotted field (lower-cased, as search keys are) and its direction.
///
/// As JSON (in cursors and `orderBy` bodies): `{"field": "metadata.name", "order": "asc"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OrderFieldJson", try_from = "OrderFieldJson")]
pub struct OrderField {
    pub field: String,
    pub desc: bool,
}

impl OrderField {
    /// An ascending sort on `field` (lower-cased).
    pub fn asc(field: &str) -> Self {
        OrderField { field: field.to_lowercase(), desc: false }
    }

    /// A descending sort on `field` (lower-cased).
    pub fn desc(field: &str) -> Self {
        OrderField { field: field.to_lowercase(), desc: true }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFieldJson {
    field: String,
    #[serde(default)]
    order: Option<String>,
}

impl From<OrderField> for OrderFieldJson {
    fn from(o: OrderField) -> Self {
        OrderFieldJson { field: o.field, order: Some(if o.desc { "desc" } else { "asc" }.into()) }
    }
}

impl TryFrom<OrderFieldJson> for OrderField {
    type Error = String;

    fn try_from(j: OrderFieldJson) -> Result<Self, String> {
        let field = j.field.trim().to_lowercase();
        if field.is_empty() {
            return Err("Invalid order field, the field name is empty".into());
        }
        match j.order.as_deref() {
            None | Some("asc") => Ok(OrderField { field, desc: false }),
            Some("desc") => Ok(OrderField { field, desc: true }),
            Some(other) => Err(format!("Invalid order field order \"{other}\", must be asc or desc")),
        }
    }
}

/// Parses the `order` parameters of `GET /entities`: each `asc:<field>` or `desc:<field>`.
pub fn parse_order_params(values: &[String]) -> Result<Vec<OrderField>, String> {
    values
        .iter()
        .map(|item| {
            let parsed =
                item.split_once(':').filter(|(_, field)| !field.trim().is_empty()).and_then(|(dir, field)| match dir {
                    "asc" => Some(OrderField::asc(field.trim())),
                    "desc" => Some(OrderField::desc(field.trim())),
                    _ => None,
                });
            parsed.ok_or_else(|| format!("Invalid order parameter \"{item}\", expected \"<asc or desc>:<field name>\""))
        })
        .collect()
}

/// Parses the `orderField` parameters of `GET /entities/by-query`: each `<field>` or
/// `<field>,asc` or `<field>,desc`.
pub fn parse_order_field_params(values: &[String]) -> Result<Vec<OrderField>, String> {
    values
        .iter()
        .map(|item| {
            let mut parts = item.split(',');
            let field = parts.next().unwrap_or_default().trim();
            let order = parts.next().map(str::trim);
            if field.is_empty() {
                return Err(format!("Invalid orderField \"{item}\", expected \"<field name>,<asc or desc>\""));
            }
            match order {
                None | Some("asc") => Ok(OrderField::asc(field)),
                Some("desc") => Ok(OrderField::desc(field)),
                Some(other) => {
                    Err(format!("Invalid order field order \"{other}\" in orderField \"{item}\", must be asc or desc"))
                }
            }
        })
        .collect()
}

/// Parses the `orderBy` of a `POST /entities/by-query` body: an array (or one object) of
/// `{"field": "metadata.name", "order": "asc" | "desc"}`.
pub fn parse_order_by(value: &Value) -> Result<Vec<OrderField>, String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        _ => {
            return Err(format!(
                "Invalid orderBy, expected an array of {{\"field\": ..., \"order\": \"asc\" or \"desc\"}}, got {}",
                describe(value)
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<OrderField>(item.clone()).map_err(|e| {
                format!("Invalid orderBy[{i}]: {e}; expected {{\"field\": \"metadata.name\", \"order\": \"asc\"}}")
            })
        })
        .collect()
}

/// The SQL that sorts entities: `(joins, order_by, binds)`.
///
/// `joins` follows `FROM entities e` and adds one `LEFT JOIN` per field, aliased `ord0`, `ord1`,
/// ..., each giving the entity's sort value as `ord<i>.value`: its lower-cased search value (the
/// smallest when the field has several values and the sort is ascending, the largest when
/// descending; a `relations.<type>` field sorts by target ref, an unknown type as absent). `binds`
/// belong to `joins`, which comes before WHERE in the statement. `order_by` sorts by those values
/// with entities lacking the field (or whose value is too long to be searchable) last in either
/// direction, as Backstage does, then by `e.entity_ref` ascending, so the order is total and
/// stable.
pub fn order_sql(order: &[OrderField]) -> (String, String, Vec<String>) {
    let mut joins = String::new();
    let mut binds = Vec::new();
    for (i, o) in order.iter().enumerate() {
        let agg = if o.desc { "MAX" } else { "MIN" };
        let field = o.field.to_lowercase();
        let relation = field.strip_prefix("relations.").and_then(canonical_type);
        match relation {
            Some(kind) => {
                joins.push_str(&format!(
                    " LEFT JOIN (SELECT source_key AS subject, {agg}(target_key) AS value FROM relations \
                     WHERE type = ? GROUP BY source_key) ord{i} ON ord{i}.subject = e.entity_ref"
                ));
                binds.push(kind.to_owned());
            }
            None => {
                joins.push_str(&format!(
                    " LEFT JOIN (SELECT entity_id AS subject, {agg}(value) AS value FROM search \
                     WHERE key = ? GROUP BY entity_id) ord{i} ON ord{i}.subject = e.id"
                ));
                binds.push(field);
            }
        }
    }
    (joins, order_by_sql(order, false), binds)
}

/// The ORDER BY list of [`order_sql`]; `backward` reverses it entirely (for a previous page, whose
/// rows are then read in reverse).
pub fn order_by_sql(order: &[OrderField], backward: bool) -> String {
    let mut items: Vec<String> = order
        .iter()
        .enumerate()
        .map(|(i, o)| match (o.desc, backward) {
            (false, false) => format!("ord{i}.value ASC NULLS LAST"),
            (true, false) => format!("ord{i}.value DESC NULLS LAST"),
            (false, true) => format!("ord{i}.value DESC NULLS FIRST"),
            (true, true) => format!("ord{i}.value ASC NULLS FIRST"),
        })
        .collect();
    items.push(if backward { "e.entity_ref DESC".into() } else { "e.entity_ref ASC".into() });
    items.join(", ")
}

/// The sort values [`order_sql`] gives an entity, computed from its served JSON (the relations
/// array must be present for `relations.<type>` fields): what a [`Position`] holds.
///
/// They equal the SQL values on SQLite, and on PostgreSQL with a `C` collation; with another
/// collation, a field with several values may pick a different smallest or largest one.
pub fn sort_values(entity: &Value, order: &[OrderField]) -> Vec<Option<String>> {
    let rows = super::search::rows(entity);
    order
        .iter()
        .map(|o| {
            let field = o.field.to_lowercase();
            let candidates: Vec<String> = match field.strip_prefix("relations.").and_then(canonical_type) {
                Some(kind) => entity
                    .get("relations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.get("type").and_then(Value::as_str) == Some(kind))
                    .filter_map(|r| r.get("targetRef").and_then(Value::as_str))
                    .map(str::to_ascii_lowercase)
                    .collect(),
                None => rows.iter().filter(|(k, _)| *k == field).map(|(_, v)| v.clone()).collect(),
            };
            if o.desc { candidates.into_iter().max() } else { candidates.into_iter().min() }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Projection
// ---------------------------------------------------------------------------------------------

/// Parses the `fields` parameters (each comma-separated, repeatable) into trimmed dot paths.
///
/// No paths (or only blank ones) means no projection. Array indexing is refused, as Backstage does.
pub fn parse_fields(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for field in values.iter().flat_map(|v| v.split(',')) {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        if field.contains('[') {
            return Err(format!("invalid fields, array type fields are not supported: \"{field}\""));
        }
        if !out.iter().any(|f| f == field) {
            out.push(field.to_owned());
        }
    }
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

// ---------------------------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------------------------

/// Where a page starts or ends: the sort values (one per order field, `None` for an entity that
/// lacks the field) and the `entities.entity_ref` key (lower-cased `kind:namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Position {
    pub values: Vec<Option<String>>,
    pub entity_ref: String,
}

/// The whole state of a by-query pagination: the query itself, `totalItems` (counted once, on the
/// first page), and where to continue.
///
/// Its JSON holds a `query` key exactly when the query came from a `POST /entities/by-query`
/// predicate: `@backstage/catalog-client` looks for that key to send the cursor back to the POST
/// endpoint rather than to `GET /entities/by-query`. Either endpoint can serve any cursor, since the
/// cursor carries everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cursor {
    /// The `filter` parameters of a GET query, as a predicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Predicate>,
    /// The `query` predicate of a POST query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Predicate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text_filter: Option<FullTextFilter>,
    #[serde(default)]
    pub order_fields: Vec<OrderField>,
    /// How many entities match the whole query, counted on the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_items: Option<u64>,
    /// True for a `prevCursor`: the page is the one *before* `position`.
    #[serde(default)]
    pub is_previous: bool,
    /// The last item of the page before (or, with `is_previous`, the first of the page after);
    /// `None` on a first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

impl Cursor {
    /// The filtering part of the query: `filter` and `query` AND-ed (either may be absent).
    pub fn predicate(&self) -> Predicate {
        match (&self.filter, &self.query) {
            (None, None) => Predicate::everything(),
            (Some(p), None) | (None, Some(p)) => p.clone(),
            (Some(f), Some(q)) => Predicate::All(vec![f.clone(), q.clone()]),
        }
    }

    /// The WHERE fragment of the query's filters (predicate and full text), without the seek:
    /// what `totalItems` counts.
    pub fn filter_sql(&self) -> (String, Vec<String>) {
        let mut parts = vec![predicate_sql(&self.predicate())];
        if let Some(ft) = &self.full_text_filter {
            parts.push(fulltext_sql(&ft.term, &ft.fields));
        }
        and_sql(parts)
    }

    /// True when this cursor asks for the page before its position.
    pub fn is_backward(&self) -> bool {
        self.is_previous && self.position.is_some()
    }

    /// Every SQL part of this cursor's page.
    pub fn sql(&self) -> QuerySql {
        let (joins, forward_order, join_binds) = order_sql(&self.order_fields);
        let (filter, filter_binds) = self.filter_sql();
        let (seek, seek_binds) = seek_sql(self, &self.order_fields);
        let order_by = if self.is_backward() { order_by_sql(&self.order_fields, true) } else { forward_order };
        QuerySql { joins, join_binds, filter, filter_binds, seek, seek_binds, order_by }
    }
}

/// The SQL of one by-query page, from [`Cursor::sql`]. Binds go in statement order: `join_binds`,
/// then `filter_binds`, then `seek_binds` ([`QuerySql::page_sql`] and [`QuerySql::count_sql`] do
/// this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySql {
    /// `LEFT JOIN`s after `FROM entities e`, defining `ord0.value`, `ord1.value`, ...
    pub joins: String,
    pub join_binds: Vec<String>,
    /// The query's filters: what `totalItems` counts.
    pub filter: String,
    pub filter_binds: Vec<String>,
    /// After (or before) the cursor position; `1 = 1` on a first page.
    pub seek: String,
    pub seek_binds: Vec<String>,
    /// Reversed for a previous page: read its rows back to front ([`paginate`] does).
    pub order_by: String,
}

impl QuerySql {
    /// `SELECT <columns> FROM entities e ... WHERE ... ORDER BY ... LIMIT ...` with its binds.
    ///
    /// With a limit, one row more than `limit` is fetched, so that [`paginate`] (or the caller)
    /// can tell whether more follow. `offset` is for first pages only (cursor pages seek instead).
    pub fn page_sql(&self, columns: &str, limit: Option<u64>, offset: u64) -> (String, Vec<String>) {
        let mut sql = format!(
            "SELECT {columns} FROM entities e{} WHERE ({}) AND ({}) ORDER BY {}",
            self.joins, self.filter, self.seek, self.order_by
        );
        match limit {
            Some(limit) => sql.push_str(&format!(" LIMIT {}", limit.saturating_add(1).min(i64::MAX as u64))),
            // SQLite needs a LIMIT before an OFFSET; PostgreSQL refuses a negative one.
            None if offset > 0 => sql.push_str(&format!(" LIMIT {}", i64::MAX)),
            None => {}
        }
        if offset > 0 {
            sql.push_str(&format!(" OFFSET {}", offset.min(i64::MAX as u64)));
        }
        let mut binds = self.join_binds.clone();
        binds.extend(self.filter_binds.iter().cloned());
        binds.extend(self.seek_binds.iter().cloned());
        (sql, binds)
    }

    /// `SELECT COUNT(*) AS count FROM entities e WHERE <filter>`: the query's `totalItems`.
    pub fn count_sql(&self) -> (String, Vec<String>) {
        (format!("SELECT COUNT(*) AS count FROM entities e WHERE {}", self.filter), self.filter_binds.clone())
    }
}

/// The WHERE fragment that keeps what follows the cursor's position in the order of `order`
/// (normally `cursor.order_fields`), or what precedes it when the cursor `is_previous`; `1 = 1`
/// without a position. It refers to the `ord<i>` aliases of [`order_sql`], so those joins must be
/// in the statement.
///
/// Seeking by value rather than by offset keeps pages stable while entities are added or removed:
/// an entity added before the position does not push an item seen already onto the next page.
pub fn seek_sql(cursor: &Cursor, order: &[OrderField]) -> (String, Vec<String>) {
    let Some(position) = &cursor.position else {
        return ("1 = 1".into(), Vec::new());
    };
    let backward = cursor.is_previous;
    let value = |i: usize| position.values.get(i).cloned().flatten();
    let mut disjuncts = Vec::new();
    let mut binds = Vec::new();
    // The row beats the position on field k and ties it on every field before k; k == order.len()
    // is the entity_ref tiebreaker.
    for k in 0..=order.len() {
        let mut conjuncts = Vec::new();
        let mut local = Vec::new();
        for (j, _) in order.iter().enumerate().take(k) {
            match value(j) {
                Some(v) => {
                    conjuncts.push(format!("ord{j}.value = ?"));
                    local.push(v);
                }
                None => conjuncts.push(format!("ord{j}.value IS NULL")),
            }
        }
        if k == order.len() {
            conjuncts.push(if backward { "e.entity_ref < ?".into() } else { "e.entity_ref > ?".into() });
            local.push(position.entity_ref.clone());
        } else {
            // Forward on an ascending field (or back on a descending one) wants greater values.
            let op = if order[k].desc == backward { ">" } else { "<" };
            match (value(k), backward) {
                // Values sort before nulls in both directions, so what follows includes the nulls.
                (Some(v), false) => {
                    conjuncts.push(format!("(ord{k}.value {op} ? OR ord{k}.value IS NULL)"));
                    local.push(v);
                }
                (Some(v), true) => {
                    conjuncts.push(format!("ord{k}.value {op} ?"));
                    local.push(v);
                }
                // Nothing sorts after a null on this field, every value before it.
                (None, false) => continue,
                (None, true) => conjuncts.push(format!("ord{k}.value IS NOT NULL")),
            }
        }
        disjuncts.push(format!("({})", conjuncts.join(" AND ")));
        binds.extend(local);
    }
    (format!("({})", disjuncts.join(" OR ")), binds)
}

/// Encodes a cursor: the standard base64 (with padding) of its JSON, as Backstage does.
///
/// Not base64url: `@backstage/catalog-client` decodes cursors with `atob`, which rejects `-` and
/// `_`, and would then send a predicate cursor to the wrong endpoint. Clients URL-encode cursors
/// in query strings.
pub fn encode(cursor: &Cursor) -> String {
    STANDARD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// Decodes a cursor from [`encode`]. Also accepts base64url, missing padding, and a `+` that a
/// query string turned into a space.
pub fn decode(text: &str) -> Result<Cursor, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Cursor cannot be empty".into());
    }
    if text.len() > MAX_CURSOR_LEN {
        return Err(format!("Malformed cursor: longer than {MAX_CURSOR_LEN} characters"));
    }
    let cleaned: String = text.chars().map(|c| if c == ' ' { '+' } else { c }).collect();
    let cleaned = cleaned.trim_end_matches('=');
    let engine = if cleaned.contains(['-', '_']) { &URL_SAFE_NO_PAD } else { &STANDARD_NO_PAD };
    let bytes = engine.decode(cleaned).map_err(|_| "Malformed cursor: not base64".to_owned())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|e| format!("Malformed cursor: {e}"))?;
    if let Some(position) = &cursor.position
        && position.values.len() != cursor.order_fields.len()
    {
        return Err(format!(
            "Malformed cursor: its position has {} sort values for {} order fields",
            position.values.len(),
            cursor.order_fields.len()
        ));
    }
    Ok(cursor)
}

/// One by-query page: its items and the cursors around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
    pub prev_cursor: Option<Cursor>,
}

/// Cuts fetched rows into a page and makes its cursors, as Backstage's `queryEntities` does.
///
/// `rows` are what [`QuerySql::page_sql`] returned for `cursor` with `Some(limit)`: up to
/// `limit + 1` rows, in reverse order for a previous page (they come back in reading order).
/// `total_items` is stored in the cursors; `position_of` gives a row's [`Position`] (see
/// [`sort_values`]). There is a next page when a row more than `limit` came back (or, on a previous
/// page, always); a previous page when the page was reached through a cursor, or, on a previous
/// page, when a row more came back. First pages (without a position) have no previous cursor, even
/// with an offset; `limit` 0 gives no items and no cursors.
pub fn paginate<T>(
    cursor: &Cursor,
    total_items: u64,
    mut rows: Vec<T>,
    limit: u64,
    position_of: impl Fn(&T) -> Position,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 {
        return Page { items: Vec::new(), next_cursor: None, prev_cursor: None };
    }
    let extra = rows.len() > limit;
    rows.truncate(limit);
    let backward = cursor.is_backward();
    let (has_next, has_prev) = if backward {
        rows.reverse();
        (!rows.is_empty(), extra)
    } else {
        (extra, cursor.position.is_some() && !rows.is_empty())
    };
    let at = |position: Position, is_previous: bool| Cursor {
        total_items: Some(total_items),
        is_previous,
        position: Some(position),
        ..cursor.clone()
    };
    let next_cursor = if has_next { rows.last().map(|r| at(position_of(r), false)) } else { None };
    let prev_cursor = if has_prev { rows.first().map(|r| at(position_of(r), true)) } else { None };
    Page { items: rows, next_cursor, prev_cursor }
}

// ---------------------------------------------------------------------------------------------
// Whole by-query requests
// ---------------------------------------------------------------------------------------------

/// A parsed `GET` or `POST /entities/by-query` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// The query from its first page, or the decoded cursor of a later page.
    pub cursor: Cursor,
    /// True when the request carried a cursor (its filters, order and full-text filter then come
    /// from the cursor, and `offset` is 0).
    pub from_cursor: bool,
    /// The `fields` projection (empty: whole entities).
    pub fields: Vec<String>,
    /// Page size, [`DEFAULT_QUERY_LIMIT`] unless given; 0 answers only `totalItems`.
    pub limit: u64,
    /// Rows skipped before the first page.
    pub offset: u64,
    /// `totalItems=exclude` asks not to count (the answer then says 0).
    pub count: bool,
}

/// `totalItems`: `include` (the default) or `exclude`; booleans are accepted too.
fn parse_total_items(value: Option<&Value>) -> Result<bool, String> {
    match value {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "include" || s == "true" => Ok(true),
        Some(Value::String(s)) if s == "exclude" || s == "false" => Ok(false),
        Some(other) => Err(format!("Invalid totalItems, expected \"include\" or \"exclude\", got {}", describe(other))),
    }
}

impl QueryRequest {
    /// Parses the query string of `GET /entities/by-query`: `filter` (repeatable), `orderField`
    /// (repeatable), `fullTextFilterTerm`, `fullTextFilterFields`, `fields`, `limit`, `offset`,
    /// `cursor`. With a non-empty `cursor`, only `fields` and `limit` are read besides it.
    pub fn from_query_string(query: &str) -> Result<Self, String> {
        let values = |name: &str| super::filter::query_values(query, name);
        let fields = parse_fields(&values("fields"))?;
        let limit = parse_non_negative(single_value(&values("limit"), "limit")?.as_deref(), "limit")?;
        let limit = limit.unwrap_or(DEFAULT_QUERY_LIMIT);
        let count = parse_total_items(single_value(&values("totalItems"), "totalItems")?.map(Value::String).as_ref())?;
        if let Some(text) = single_value(&values("cursor"), "cursor")?.filter(|c| !c.is_empty()) {
            return Ok(QueryRequest { cursor: decode(&text)?, from_cursor: true, fields, limit, offset: 0, count });
        }
        let offset = parse_non_negative(single_value(&values("offset"), "offset")?.as_deref(), "offset")?;
        let filter_params = values("filter");
        let filter = if filter_params.is_empty() {
            None
        } else {
            Some(filter_sets_to_predicate(&super::filter::parse(&filter_params)?))
        };
        let cursor = Cursor {
            filter,
            full_text_filter: parse_fulltext_params(&values("fullTextFilterTerm"), &values("fullTextFilterFields"))?,
            order_fields: parse_order_field_params(&values("orderField"))?,
            ..Cursor::default()
        };
        Ok(QueryRequest { cursor, from_cursor: false, fields, limit, offset: offset.unwrap_or(0), count })
    }

    /// Parses the JSON body of `POST /entities/by-query`: `query`, `orderBy` (or the older
    /// `orderField` strings), `fullTextFilter`, `fields`, `limit`, `offset`, `cursor`. With a
    /// `cursor`, only `fields` and `limit` are read besides it. Unknown keys are refused.
    pub fn from_body(body: &Value) -> Result<Self, String> {
        const KEYS: [&str; 9] =
            ["cursor", "query", "orderBy", "orderField", "fullTextFilter", "fields", "limit", "offset", "totalItems"];
        let Value::Object(obj) = body else {
            return Err(format!("Expected body to be a JSON object, got {}", describe(body)));
        };
        if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("Unknown key \"{key}\" in the request body; expected any of {}", KEYS.join(", ")));
        }
        let present = |key: &str| obj.get(key).filter(|v| !v.is_null());
        let fields = match present("fields") {
            Some(v) => parse_fields(&strings(v, "fields")?)?,
            None => Vec::new(),
        };
        let limit = json_non_negative(present("limit"), "limit")?.unwrap_or(DEFAULT_QUERY_LIMIT);
        let count = parse_total_items(present("totalItems"))?;
        if let Some(cursor) = present("cursor") {
            let Value::String(text) = cursor else {
                return Err(format!("Invalid cursor, expected a string, got {}", describe(cursor)));
            };
            return Ok(QueryRequest { cursor: decode(text)?, from_cursor: true, fields, limit, offset: 0, count });
        }
        let offset = json_non_negative(present("offset"), "offset")?.unwrap_or(0);
        let query = present("query").map(parse_predicate).transpose()?;
        let order_fields = match (present("orderBy"), present("orderField")) {
            (Some(_), Some(_)) => return Err("Give either orderBy or orderField, not both".into()),
            (Some(v), None) => parse_order_by(v)?,
            (None, Some(v)) => parse_order_field_params(&strings(v, "orderField")?)?,
            (None, None) => Vec::new(),
        };
        let full_text_filter = present("fullTextFilter").map(parse_fulltext_body).transpose()?.flatten();
        let cursor = Cursor { query, full_text_filter, order_fields, ..Cursor::default() };
        Ok(QueryRequest { cursor, from_cursor: false, fields, limit, offset, count })
    }
}

/// A string, or an array of strings, as a list.
fn strings(value: &Value, name: &str) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("Invalid {name}, expected strings, got {}", describe(other))),
        })
        .collect()
}

fn json_non_negative(value: Option<&Value>, name: &str) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(format!("Invalid {name}, must be an integer, zero or greater; got {}", describe(other))),
    }
}

/// The one value of a parameter that may be given once.
fn single_value(values: &[String], name: &str) -> Result<Option<String>, String> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(format!("Invalid {name}, expected a single value but it was given {} times", values.len())),
    }
}

/// An integer parameter in Backstage's strict form: the canonical decimal digits, nothing else.
fn parse_integer(text: &str, name: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|n| n.to_string() == text)
        .ok_or_else(|| format!("Invalid {name}, not an integer: \"{text}\""))
}

fn parse_non_negative(text: Option<&str>, name: &str) -> Result<Option<u64>, String> {
    let Some(text) = text else { return Ok(None) };
    let n = parse_integer(text, name)?;
    u64::try_from(n).map(Some).map_err(|_| format!("Invalid {name}, must be zero or greater"))
}

// ---------------------------------------------------------------------------------------------
// GET /entities pagination
// ---------------------------------------------------------------------------------------------

/// The `offset`, `limit` and `after` of `GET /entities`, resolved: an `after` cursor (from the
/// `Link: <...>; rel="next"` header of the previous page) supplies the limit and offset it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageParams {
    /// At most this many entities (greater than zero); `None`: all of them.
    pub limit: Option<u64>,
    /// Skip this many first.
    pub offset: Option<u64>,
}

impl PageParams {
    /// Parses every value given for `offset`, `limit` and `after`.
    pub fn parse(offset: &[String], limit: &[String], after: &[String]) -> Result<Self, String> {
        let offset = single_value(offset, "offset")?;
        let limit = single_value(limit, "limit")?;
        let after = single_value(after, "after")?;
        let mut page = PageParams::default();
        if let Some(text) = offset {
            let n = parse_integer(&text, "offset")?;
            page.offset = Some(u64::try_from(n).map_err(|_| "Invalid offset, must be zero or greater".to_owned())?);
        }
        if let Some(text) = limit {
            let n = parse_integer(&text, "limit")?;
            if n <= 0 {
                return Err("Invalid limit, must be greater than zero".into());
            }
            page.limit = Some(n as u64);
        }
        if let Some(text) = after {
            if text.is_empty() {
                return Err("Invalid after, must not be empty".into());
            }
            let after = decode_after(&text)?;
            page.limit = after.limit.or(page.limit);
            page.offset = after.offset.or(page.offset);
        }
        Ok(page)
    }

    /// Parses `offset`, `limit` and `after` out of a raw query string.
    pub fn from_query_string(query: &str) -> Result<Self, String> {
        let values = |name: &str| super::filter::query_values(query, name);
        Self::parse(&values("offset"), &values("limit"), &values("after"))
    }

    /// The `after` cursor of the next page, when a limit applies and `limit + 1` rows came back.
    pub fn next_after(&self) -> Option<String> {
        let limit = self.limit?;
        Some(encode_after(limit, self.offset.unwrap_or(0).saturating_add(limit)))
    }
}

/// Encodes an `after` cursor of `GET /entities`: base64 of `{"limit":..,"offset":..}`, as
/// Backstage does.
pub fn encode_after(limit: u64, offset: u64) -> String {
    STANDARD.encode(serde_json::json!({ "limit": limit, "offset": offset }).to_string())
}

fn decode_after(text: &str) -> Result<PageParams, String> {
    let malformed = || "Malformed after cursor, could not be parsed".to_owned();
    let cleaned: String = text.trim().chars().map(|c| if c == ' ' { '+' } else { c }).collect();
    let cleaned = cleaned.trim_end_matches('=');
    let engine = if cleaned.contains(['-', '_']) { &URL_SAFE_NO_PAD } else { &STANDARD_NO_PAD };
    let bytes = engine.decode(cleaned).map_err(|_| malformed())?;
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&bytes) else { return Err(malformed()) };
    let number = |name: &str| -> Result<Option<u64>, String> {
        match obj.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("Malformed after cursor, {name} was not a number")),
        }
    };
    let limit = number("limit")?;
    if limit == Some(0) {
        return Err("Malformed after cursor, limit must be greater than zero".into());
    }
    Ok(PageParams { limit, offset: number("offset")? })
}

/// The `Link` header value pointing at the next page: `query` (the raw query string) without
/// `offset` and `after`, plus `after`, on `path`.
pub fn next_link(path: &str, query: &str, after: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != "offset" && k != "after" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("after", after);
    format!("<{path}?{}>; rel=\"next\"", out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn field(key: &str, matcher: Matcher) -> Predicate {
        Predicate::Field { key: key.into(), matcher }
    }

    // ----- predicate parsing -----

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
    fn nesting_is_limited() {
        let mut q = json!({"kind": "api"});
        for _ in 0..(MAX_DEPTH + 2) {
            q = json!({ "$not": q });
        }
        assert!(parse_predicate(&q).unwrap_err().contains("nested more than"));
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

    // ----- predicate SQL -----

    #[test]
    fn equality_reads_the_search_rows_with_binds_in_order() {
        let p = parse_predicate(&json!({"spec.lifecycle": "Production", "spec.type": {"$in": ["a", "B"]}})).unwrap();
        let (sql, binds) = predicate_sql(&p);
        assert_eq!(
            sql,
            "(e.id IN (SELECT entity_id FROM search WHERE key = ? AND value = ?) AND \
             e.id IN (SELECT entity_id FROM search WHERE key = ? AND value IN (?, ?)))"
        );
        assert_eq!(binds, strs(&["spec.lifecycle", "production", "spec.type", "a", "b"]));
        assert_eq!(sql.matches('?').count(), binds.len());
    }

    #[test]
    fn kind_namespace_and_name_read_their_own_columns() {
        let p = parse_predicate(
            &json!({"kind": "API", "metadata.name": {"$in": ["A", "b"]}, "metadata.namespace": {"$exists": true}}),
        )
        .unwrap();
        let (sql, binds) = predicate_sql(&p);
        assert_eq!(sql, "(e.kind = ? AND e.name IN (?, ?) AND 1 = 1)");
        assert_eq!(binds, strs(&["api", "a", "b"]));
        let (sql, binds) = predicate_sql(&field("metadata.name", Matcher::HasPrefix("a_b%c\\".into())));
        assert_eq!(sql, "e.name LIKE ? ESCAPE '\\'");
        assert_eq!(binds[0], "a\\_b\\%c\\\\%");
        assert_eq!(sql.matches('?').count(), binds.len());
    }

    #[test]
    fn relation_keys_read_the_relations_table_with_the_canonical_type() {
        let (sql, binds) = predicate_sql(&parse_predicate(&json!({"relations.OWNEDBY": "Group:default/A"})).unwrap());
        assert_eq!(sql, "e.entity_ref IN (SELECT target_key FROM relations WHERE source_key IN (?) AND type = ?)");
        assert_eq!(binds, strs(&["group:default/a", "ownerOf"]));
    }

    #[test]
    fn an_unknown_relation_type_matches_nothing_and_its_absence_everything() {
        assert_eq!(predicate_sql(&field("relations.lovedby", Matcher::Eq("x".into()))), ("1 = 0".into(), vec![]));
        assert_eq!(predicate_sql(&field("relations.lovedby", Matcher::Exists(false))), ("1 = 1".into(), vec![]));
    }

    #[test]
    fn has_prefix_escapes_like_wildcards() {
        let (sql, binds) = predicate_sql(&field("metadata.title", Matcher::HasPrefix("a_b%c\\".into())));
        assert!(sql.ends_with("value LIKE ? ESCAPE '\\')"), "{sql}");
        assert_eq!(binds[1], "a\\_b\\%c\\\\%");
    }

    #[test]
    fn exists_false_is_not_in_and_not_wraps() {
        let (sql, _) = predicate_sql(&field("spec.owner", Matcher::Exists(false)));
        assert_eq!(sql, "e.id NOT IN (SELECT entity_id FROM search WHERE key = ?)");
        let (sql, _) = predicate_sql(&Predicate::Not(Box::new(field("spec.type", Matcher::Eq("api".into())))));
        assert!(sql.starts_with("NOT (e.id IN"), "{sql}");
    }

    #[test]
    fn empty_combinations_are_true_for_all_and_false_for_any_and_in() {
        assert_eq!(predicate_sql(&Predicate::All(vec![])).0, "1 = 1");
        assert_eq!(predicate_sql(&Predicate::Any(vec![])).0, "1 = 0");
        assert_eq!(predicate_sql(&field("kind", Matcher::In(vec![]))), ("1 = 0".into(), vec![]));
    }

    #[test]
    fn filter_sets_become_any_of_all() {
        let sets =
            super::super::filter::parse(&strs(&["kind=component,spec.type=service,spec.type=website", "spec.owner"]))
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
        let sets = super::super::filter::parse(&strs(&["", "kind=api", ","])).unwrap();
        assert_eq!(filter_sets_to_predicate(&sets), field("kind", Matcher::Eq("api".into())));
        let only_empty = super::super::filter::parse(&strs(&[""])).unwrap();
        assert_eq!(filter_sets_to_predicate(&only_empty), Predicate::everything());
        assert_eq!(filter_sets_to_predicate(&[]), Predicate::everything());
    }

    #[test]
    fn a_filter_key_starting_with_a_dollar_matches_nothing_and_survives_a_cursor() {
        let sets = super::super::filter::parse(&strs(&["$x=1"])).unwrap();
        let p = filter_sets_to_predicate(&sets);
        assert_eq!(predicate_sql(&p).0, "1 = 0");
        let c = Cursor { filter: Some(p.clone()), ..Cursor::default() };
        assert_eq!(decode(&encode(&c)).unwrap().filter, Some(p));
    }

    // ----- full text -----

    #[test]
    fn full_text_trims_lowercases_and_escapes_the_term() {
        let (sql, binds) = fulltext_sql("  50%_Off ", &strs(&["Metadata.Title, metadata.name", "metadata.title"]));
        assert_eq!(sql, "e.id IN (SELECT entity_id FROM search WHERE key IN (?, ?) AND value LIKE ? ESCAPE '\\')");
        assert_eq!(binds, strs(&["metadata.title", "metadata.name", "%50\\%\\_off%"]));
    }

    #[test]
    fn full_text_without_fields_searches_every_value_and_a_blank_term_nothing() {
        let (sql, binds) = fulltext_sql("x", &[]);
        assert_eq!(sql, "e.id IN (SELECT entity_id FROM search WHERE value LIKE ? ESCAPE '\\')");
        assert_eq!(binds, strs(&["%x%"]));
        assert_eq!(fulltext_sql("   ", &strs(&["metadata.name"])), ("1 = 1".into(), vec![]));
    }

    #[test]
    fn full_text_on_relation_fields_searches_target_refs() {
        let (sql, binds) = fulltext_sql("team", &strs(&["metadata.name", "relations.ownedBy", "relations.nope"]));
        assert!(sql.starts_with("(e.id IN") && sql.contains(" OR e.entity_ref IN (SELECT source_key FROM relations"));
        assert_eq!(binds, strs(&["metadata.name", "%team%", "ownedBy", "%team%"]));
        assert_eq!(fulltext_sql("team", &strs(&["relations.nope"])).0, "1 = 0");
    }

    #[test]
    fn backstage_searches_the_sort_field_or_the_uid_when_no_fields_are_named() {
        assert_eq!(backstage_fulltext_fields(&[]), strs(&["metadata.uid"]));
        assert_eq!(backstage_fulltext_fields(&[OrderField::desc("metadata.title")]), strs(&["metadata.title"]));
    }

    #[test]
    fn full_text_parameters_parse_from_get_and_post() {
        let ft = parse_fulltext_params(&strs(&[" Foo "]), &strs(&["metadata.name,Spec.Type"])).unwrap().unwrap();
        assert_eq!(ft, FullTextFilter { term: "Foo".into(), fields: strs(&["metadata.name", "spec.type"]) });
        assert_eq!(parse_fulltext_params(&strs(&[""]), &[]).unwrap(), None);
        assert!(parse_fulltext_params(&strs(&["a", "b"]), &[]).unwrap_err().contains("given 2 times"));
        let ft = parse_fulltext_body(&json!({"term": "x", "fields": ["metadata.title"]})).unwrap().unwrap();
        assert_eq!(ft.fields, strs(&["metadata.title"]));
        assert_eq!(parse_fulltext_body(&json!({})).unwrap(), None);
        assert!(parse_fulltext_body(&json!({"term": 1})).unwrap_err().contains("fullTextFilter.term"));
        assert!(parse_fulltext_body(&json!({"terms": "x"})).unwrap_err().contains("\"terms\""));
    }

    // ----- ordering -----

    #[test]
    fn order_parameters_of_get_entities_need_a_direction_and_a_field() {
        assert_eq!(
            parse_order_params(&strs(&["asc:metadata.Name", "desc:kind"])).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("kind")]
        );
        for bad in ["metadata.name", "up:kind", "asc:", "ASC:kind"] {
            let e = parse_order_params(&strs(&[bad])).unwrap_err();
            assert_eq!(e, format!("Invalid order parameter \"{bad}\", expected \"<asc or desc>:<field name>\""));
        }
    }

    #[test]
    fn order_field_parameters_default_to_ascending() {
        assert_eq!(
            parse_order_field_params(&strs(&["metadata.name", "kind,desc", "spec.type,asc"])).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("kind"), OrderField::asc("spec.type")]
        );
        assert!(parse_order_field_params(&strs(&["kind,sideways"])).unwrap_err().contains("must be asc or desc"));
        assert!(parse_order_field_params(&strs(&["kind,"])).is_err());
        assert!(parse_order_field_params(&strs(&[",desc"])).is_err());
    }

    #[test]
    fn order_by_bodies_are_objects_with_field_and_order() {
        let v = json!([{"field": "metadata.name", "order": "asc"}, {"field": "metadata.namespace", "order": "desc"}]);
        assert_eq!(
            parse_order_by(&v).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("metadata.namespace")]
        );
        assert_eq!(parse_order_by(&json!({"field": "kind"})).unwrap(), vec![OrderField::asc("kind")]);
        let e = parse_order_by(&json!([{"field": "kind", "order": "sideways"}])).unwrap_err();
        assert!(e.contains("orderBy[0]") && e.contains("must be asc or desc"), "{e}");
        assert!(parse_order_by(&json!("kind")).is_err());
        assert!(parse_order_by(&json!([{"field": ""}])).is_err());
    }

    #[test]
    fn order_sql_joins_one_aggregate_per_field_and_ends_with_the_ref() {
        let (joins, order_by, binds) =
            order_sql(&[OrderField::asc("metadata.title"), OrderField::desc("relations.ownedBy")]);
        assert!(joins.contains("MIN(value) AS value FROM search WHERE key = ? GROUP BY entity_id) ord0"), "{joins}");
        assert!(joins.contains("MAX(target_key) AS value FROM relations WHERE type = ?"), "{joins}");
        assert_eq!(binds, strs(&["metadata.title", "ownedBy"]));
        assert_eq!(order_by, "ord0.value ASC NULLS LAST, ord1.value DESC NULLS LAST, e.entity_ref ASC");
        assert_eq!(
            order_by_sql(&[OrderField::asc("a"), OrderField::desc("b")], true),
            "ord0.value DESC NULLS FIRST, ord1.value ASC NULLS FIRST, e.entity_ref DESC"
        );
        assert_eq!(order_sql(&[]), (String::new(), "e.entity_ref ASC".into(), vec![]));
    }

    #[test]
    fn sort_values_take_the_smallest_value_ascending_and_the_largest_descending() {
        let entity = json!({"kind": "Component", "metadata": {"name": "A", "tags": ["web", "Java"]},
                            "relations": [{"type": "ownedBy", "targetRef": "group:default/Team-B"},
                                          {"type": "ownedBy", "targetRef": "group:default/team-a"}]});
        let order = [
            OrderField::asc("metadata.tags"),
            OrderField::desc("metadata.tags"),
            OrderField::asc("metadata.title"),
            OrderField::desc("relations.ownedby"),
        ];
        assert_eq!(
            sort_values(&entity, &order),
            vec![Some("java".into()), Some("web".into()), None, Some("group:default/team-b".into())]
        );
    }

    // ----- projection -----

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

    // ----- cursors -----

    fn sample_cursor() -> Cursor {
        Cursor {
            filter: Some(field("kind", Matcher::Eq("component".into()))),
            query: None,
            full_text_filter: FullTextFilter::new("pay", &strs(&["metadata.name"])),
            order_fields: vec![OrderField::desc("metadata.title")],
            total_items: Some(12),
            is_previous: false,
            position: Some(Position { values: vec![None], entity_ref: "component:default/a".into() }),
        }
    }

    #[test]
    fn cursors_round_trip() {
        let c = sample_cursor();
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        let c =
            Cursor { query: Some(parse_predicate(&json!({"$not": {"kind": "api"}})).unwrap()), ..Cursor::default() };
        assert_eq!(decode(&encode(&c)).unwrap(), c);
    }

    #[test]
    fn cursors_are_standard_base64_that_atob_accepts() {
        // Values chosen so the JSON's base64 would hold '+' and '/' (and so '-' and '_' in base64url).
        let c = Cursor { full_text_filter: FullTextFilter::new("????????????~~~~~~~~~~~~", &[]), ..sample_cursor() };
        let text = encode(&c);
        assert!(text.contains(['+', '/']), "{text}");
        assert!(!text.contains(['-', '_']));
        assert_eq!(text.len() % 4, 0);
        assert_eq!(STANDARD.decode(&text).unwrap(), serde_json::to_vec(&c).unwrap());
    }

    #[test]
    fn decode_accepts_base64url_unpadded_and_spaces_for_pluses() {
        let c = Cursor { full_text_filter: FullTextFilter::new("????????????~~~~~~~~~~~~", &[]), ..sample_cursor() };
        let json = serde_json::to_vec(&c).unwrap();
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode(&json)).unwrap(), c);
        assert_eq!(decode(&encode(&c).replace('+', " ")).unwrap(), c);
    }

    #[test]
    fn only_predicate_cursors_have_a_query_key() {
        let json_of = |c: &Cursor| -> Value { serde_json::from_slice(&STANDARD.decode(encode(c)).unwrap()).unwrap() };
        let get = json_of(&sample_cursor());
        assert!(get.get("query").is_none(), "{get}");
        let post = json_of(&Cursor { query: Some(Predicate::everything()), ..Cursor::default() });
        assert_eq!(post["query"], json!({"$all": []}));
    }

    #[test]
    fn malformed_cursors_are_refused_with_a_reason() {
        assert_eq!(decode("").unwrap_err(), "Cursor cannot be empty");
        assert!(decode("!!not-valid!!").unwrap_err().starts_with("Malformed cursor"));
        assert!(decode(&STANDARD.encode("not json")).unwrap_err().starts_with("Malformed cursor"));
        let foreign = STANDARD.encode(r#"{"orderFields":[],"orderFieldValues":[],"isPrevious":false}"#);
        assert!(decode(&foreign).unwrap_err().contains("orderFieldValues"));
        let bad_query = STANDARD.encode(r#"{"query":{"$or":[]}}"#);
        assert!(decode(&bad_query).unwrap_err().contains("unknown operator"));
        let mismatch =
            Cursor { position: Some(Position { values: vec![], entity_ref: "x".into() }), ..sample_cursor() };
        assert!(decode(&encode(&mismatch)).unwrap_err().contains("1 order fields"));
        assert!(decode(&"A".repeat(MAX_CURSOR_LEN + 1)).unwrap_err().contains("longer than"));
    }

    #[test]
    fn a_first_page_does_not_seek() {
        let c = Cursor { position: None, ..sample_cursor() };
        assert_eq!(seek_sql(&c, &c.order_fields), ("1 = 1".into(), vec![]));
    }

    #[test]
    fn seeking_after_a_value_includes_later_values_then_nulls_then_the_ref() {
        let c = Cursor {
            order_fields: vec![OrderField::asc("metadata.title")],
            position: Some(Position { values: vec![Some("m".into())], entity_ref: "component:default/x".into() }),
            ..Cursor::default()
        };
        let (sql, binds) = seek_sql(&c, &c.order_fields);
        assert_eq!(sql, "(((ord0.value > ? OR ord0.value IS NULL)) OR (ord0.value = ? AND e.entity_ref > ?))");
        assert_eq!(binds, strs(&["m", "m", "component:default/x"]));
    }

    #[test]
    fn seeking_after_a_null_only_continues_among_the_nulls() {
        let c = Cursor {
            order_fields: vec![OrderField::desc("metadata.title")],
            position: Some(Position { values: vec![None], entity_ref: "component:default/x".into() }),
            ..Cursor::default()
        };
        let (sql, binds) = seek_sql(&c, &c.order_fields);
        assert_eq!(sql, "((ord0.value IS NULL AND e.entity_ref > ?))");
        assert_eq!(binds, strs(&["component:default/x"]));
        let back = Cursor { is_previous: true, ..c };
        let (sql, _) = seek_sql(&back, &back.order_fields);
        assert_eq!(sql, "((ord0.value IS NOT NULL) OR (ord0.value IS NULL AND e.entity_ref < ?))");
    }

    #[test]
    fn the_page_sql_puts_binds_in_statement_order() {
        let c = sample_cursor();
        let q = c.sql();
        let (sql, binds) = q.page_sql("e.entity_ref", Some(10), 0);
        assert!(sql.ends_with(" LIMIT 11"), "{sql}");
        assert_eq!(sql.matches('?').count(), binds.len());
        assert_eq!(binds[0], "metadata.title");
        assert_eq!(binds[1], "component");
        assert_eq!(binds.last().unwrap(), "component:default/a");
        let (count, count_binds) = q.count_sql();
        assert!(count.starts_with("SELECT COUNT(*) AS count FROM entities e WHERE "));
        assert_eq!(count.matches('?').count(), count_binds.len());
        assert!(!count.contains("ord0"));
        let (sql, _) = q.page_sql("e.id", None, 5);
        assert!(sql.ends_with(&format!(" LIMIT {} OFFSET 5", i64::MAX)), "{sql}");
    }

    #[test]
    fn a_previous_cursor_reverses_the_order() {
        let c = Cursor { is_previous: true, ..sample_cursor() };
        assert!(c.sql().order_by.ends_with("e.entity_ref DESC"));
        let first = Cursor { is_previous: true, position: None, ..sample_cursor() };
        assert!(first.sql().order_by.ends_with("e.entity_ref ASC"));
    }

    fn pos(r: &&str) -> Position {
        Position { values: vec![], entity_ref: r.to_string() }
    }

    #[test]
    fn a_first_page_with_more_rows_has_only_a_next_cursor() {
        let c = Cursor::default();
        let page = paginate(&c, 5, vec!["a", "b", "c"], 2, pos);
        assert_eq!(page.items, vec!["a", "b"]);
        let next = page.next_cursor.unwrap();
        assert_eq!(next.position.unwrap().entity_ref, "b");
        assert!(!next.is_previous);
        assert_eq!(next.total_items, Some(5));
        assert_eq!(page.prev_cursor, None);
    }

    #[test]
    fn a_last_page_reached_forward_has_only_a_previous_cursor() {
        let c = Cursor { position: Some(pos(&"b")), total_items: Some(3), ..Cursor::default() };
        let page = paginate(&c, 3, vec!["c"], 2, pos);
        assert_eq!(page.next_cursor, None);
        let prev = page.prev_cursor.unwrap();
        assert!(prev.is_previous);
        assert_eq!(prev.position.unwrap().entity_ref, "c");
    }

    #[test]
    fn a_previous_page_reverses_its_rows_and_knows_whether_more_precede() {
        let c = Cursor { position: Some(pos(&"e")), is_previous: true, ..Cursor::default() };
        let page = paginate(&c, 5, vec!["d", "c", "b"], 2, pos);
        assert_eq!(page.items, vec!["c", "d"]);
        assert_eq!(page.next_cursor.unwrap().position.unwrap().entity_ref, "d");
        assert_eq!(page.prev_cursor.unwrap().position.unwrap().entity_ref, "c");
        let page = paginate(&c, 5, vec!["b", "a"], 2, pos);
        assert_eq!(page.items, vec!["a", "b"]);
        assert_eq!(page.prev_cursor, None);
        assert!(page.next_cursor.is_some());
    }

    #[test]
    fn a_zero_limit_gives_no_items_and_no_cursors() {
        let page = paginate(&Cursor::default(), 9, vec!["a"], 0, pos);
        assert_eq!(page, Page { items: vec![], next_cursor: None, prev_cursor: None });
    }

    // ----- whole requests -----

    #[test]
    fn a_get_query_string_parses_into_a_first_page() {
        let r = QueryRequest::from_query_string(
            "filter=kind=component&filter=kind=api&orderField=metadata.name,desc&fullTextFilterTerm=%20pay%20\
             &fullTextFilterFields=metadata.name,metadata.title&fields=kind,metadata.name&limit=5&offset=10",
        )
        .unwrap();
        assert!(!r.from_cursor);
        assert_eq!((r.limit, r.offset), (5, 10));
        assert_eq!(r.fields, strs(&["kind", "metadata.name"]));
        assert_eq!(r.cursor.order_fields, vec![OrderField::desc("metadata.name")]);
        assert_eq!(r.cursor.full_text_filter.unwrap().term, "pay");
        assert_eq!(
            r.cursor.filter,
            Some(Predicate::Any(vec![
                field("kind", Matcher::Eq("component".into())),
                field("kind", Matcher::Eq("api".into()))
            ]))
        );
        assert_eq!(r.cursor.query, None);
    }

    #[test]
    fn a_get_without_parameters_asks_for_everything_with_the_default_limit() {
        let r = QueryRequest::from_query_string("").unwrap();
        assert_eq!((r.limit, r.offset, r.from_cursor), (DEFAULT_QUERY_LIMIT, 0, false));
        assert_eq!(r.cursor, Cursor::default());
    }

    #[test]
    fn a_get_with_a_cursor_ignores_the_query_parameters() {
        let c = sample_cursor();
        let qs = format!(
            "cursor={}&filter=kind=api&limit=3&fields=kind",
            url::form_urlencoded::byte_serialize(encode(&c).as_bytes()).collect::<String>()
        );
        let r = QueryRequest::from_query_string(&qs).unwrap();
        assert!(r.from_cursor);
        assert_eq!(r.cursor, c);
        assert_eq!((r.limit, r.fields.clone()), (3, strs(&["kind"])));
        // An empty cursor parameter is a first page, as in Backstage's GET.
        assert!(!QueryRequest::from_query_string("cursor=").unwrap().from_cursor);
    }

    #[test]
    fn get_parameters_are_validated() {
        for (qs, needle) in [
            ("limit=-1", "Invalid limit, must be zero or greater"),
            ("limit=ten", "Invalid limit, not an integer"),
            ("offset=05", "Invalid offset, not an integer"),
            ("limit=1&limit=2", "Invalid limit, expected a single value"),
            ("orderField=kind,up", "must be asc or desc"),
            ("filter==x", "empty key"),
            ("fields=metadata.tags[0]", "array type fields"),
            ("cursor=@@@", "Malformed cursor"),
        ] {
            let e = QueryRequest::from_query_string(qs).unwrap_err();
            assert!(e.contains(needle), "{qs}: {e}");
        }
    }

    #[test]
    fn a_post_body_parses_into_a_first_page() {
        let r = QueryRequest::from_body(&json!({
            "query": {"kind": "Component"},
            "orderBy": [{"field": "metadata.name", "order": "asc"}],
            "fullTextFilter": {"term": "pay"},
            "fields": ["kind", "metadata.name"],
            "limit": 20,
            "offset": 40
        }))
        .unwrap();
        assert_eq!(r.cursor.query, Some(field("kind", Matcher::Eq("component".into()))));
        assert_eq!(r.cursor.filter, None);
        assert_eq!(r.cursor.order_fields, vec![OrderField::asc("metadata.name")]);
        assert_eq!((r.limit, r.offset), (20, 40));
        assert_eq!(QueryRequest::from_body(&json!({})).unwrap().cursor, Cursor::default());
        let old = QueryRequest::from_body(&json!({"orderField": ["kind,desc"]})).unwrap();
        assert_eq!(old.cursor.order_fields, vec![OrderField::desc("kind")]);
    }

    #[test]
    fn a_post_with_a_cursor_takes_everything_else_from_it() {
        let c = Cursor { query: Some(field("kind", Matcher::Eq("api".into()))), ..sample_cursor() };
        let r = QueryRequest::from_body(&json!({"cursor": encode(&c), "limit": 2, "query": {"kind": "x"}})).unwrap();
        assert!(r.from_cursor);
        assert_eq!(r.cursor, c);
        assert_eq!(r.limit, 2);
    }

    #[test]
    fn post_bodies_are_validated() {
        for (body, needle) in [
            (json!([]), "Expected body to be a JSON object"),
            (json!({"filter": "kind=api"}), "Unknown key \"filter\""),
            (json!({"cursor": ""}), "Cursor cannot be empty"),
            (json!({"cursor": 1}), "Invalid cursor"),
            (json!({"limit": -1}), "Invalid limit"),
            (json!({"limit": 1.5}), "Invalid limit"),
            (json!({"query": "kind"}), "invalid query: must be an object"),
            (json!({"orderBy": [], "orderField": []}), "either orderBy or orderField"),
            (json!({"fields": [1]}), "Invalid fields"),
        ] {
            let e = QueryRequest::from_body(&body).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }

    // ----- GET /entities paging -----

    #[test]
    fn page_parameters_follow_backstages_rules() {
        assert_eq!(PageParams::parse(&[], &[], &[]).unwrap(), PageParams::default());
        assert_eq!(
            PageParams::parse(&strs(&["0"]), &strs(&["10"]), &[]).unwrap(),
            PageParams { limit: Some(10), offset: Some(0) }
        );
        for (o, l, a, msg) in [
            ("-1", "", "", "Invalid offset, must be zero or greater"),
            ("", "0", "", "Invalid limit, must be greater than zero"),
            ("", "-5", "", "Invalid limit, must be greater than zero"),
            ("1.5", "", "", "Invalid offset, not an integer: \"1.5\""),
            ("", " 3", "", "Invalid limit, not an integer: \" 3\""),
            ("", "", "-", "Malformed after cursor, could not be parsed"),
        ] {
            let opt = |s: &str| if s.is_empty() { vec![] } else { vec![s.to_string()] };
            assert_eq!(PageParams::parse(&opt(o), &opt(l), &opt(a)).unwrap_err(), msg);
        }
        assert_eq!(PageParams::parse(&[], &[], &strs(&[""])).unwrap_err(), "Invalid after, must not be empty");
    }

    #[test]
    fn an_after_cursor_supplies_limit_and_offset() {
        let after = PageParams { limit: Some(10), offset: Some(20) }.next_after().unwrap();
        assert_eq!(STANDARD.decode(&after).unwrap(), br#"{"limit":10,"offset":30}"#);
        let p = PageParams::from_query_string(&format!("limit=99&offset=0&after={after}")).unwrap();
        assert_eq!(p, PageParams { limit: Some(10), offset: Some(30) });
        let bad = STANDARD.encode(r#"{"limit":"x"}"#);
        assert_eq!(PageParams::parse(&[], &[], &[bad]).unwrap_err(), "Malformed after cursor, limit was not a number");
        assert_eq!(PageParams::default().next_after(), None);
    }

    #[test]
    fn the_next_link_replaces_offset_and_after() {
        let link = next_link("/api/catalog/entities", "filter=kind%3Dapi&offset=5&limit=2&after=old", "NEW+/=");
        assert_eq!(link, "</api/catalog/entities?filter=kind%3Dapi&limit=2&after=NEW%2B%2F%3D>; rel=\"next\"");
    }

    // ----- against a real database -----

    mod sql {
        use super::*;
        use crate::db::{Pool, placeholders};
        use crate::with_conn;
        use diesel::prelude::*;
        use diesel::sql_types::Text;

        #[derive(QueryableByName)]
        struct RefRow {
            #[diesel(sql_type = Text)]
            entity_ref: String,
        }

        #[derive(QueryableByName)]
        struct CountRow {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }

        /// A fresh database with the real migrations; PostgreSQL ones are dropped afterwards.
        struct TestDb {
            pool: Option<Pool>,
            _dir: tempfile::TempDir,
            postgres: Option<(String, String)>,
        }

        impl TestDb {
            fn pool(&self) -> &Pool {
                self.pool.as_ref().expect("pool")
            }
        }

        impl Drop for TestDb {
            fn drop(&mut self) {
                self.pool.take();
                if let Some((base, name)) = &self.postgres
                    && let Ok(mut admin) = diesel::pg::PgConnection::establish(base)
                {
                    use diesel::connection::SimpleConnection;
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }

        /// SQLite always; PostgreSQL too when `PORTOLAN_TEST_POSTGRES_URL` names a server.
        fn databases() -> Vec<TestDb> {
            let mut out = Vec::new();
            let dir = tempfile::Builder::new().prefix("portolan-query").tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("q.db").display());
            out.push(TestDb { pool: Some(Pool::connect(&url, 2).unwrap()), _dir: dir, postgres: None });
            if let Ok(base) = std::env::var("PORTOLAN_TEST_POSTGRES_URL")
                && !base.is_empty()
            {
                use diesel::connection::SimpleConnection;
                let name = format!("portolan_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::pg::PgConnection::establish(&base).expect("connect to PostgreSQL");
                admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                let (prefix, _) = base.rsplit_once('/').unwrap();
                let pool = Pool::connect(&format!("{prefix}/{name}"), 2).unwrap();
                let dir = tempfile::tempdir().unwrap();
                out.push(TestDb { pool: Some(pool), _dir: dir, postgres: Some((base, name)) });
            }
            out
        }

        fn ref_key(entity: &Value) -> String {
            let s = |v: &Value| v.as_str().unwrap_or("default").to_ascii_lowercase();
            format!("{}:{}/{}", s(&entity["kind"]), s(&entity["metadata"]["namespace"]), s(&entity["metadata"]["name"]))
        }

        fn insert(pool: &Pool, entity: &Value, relations: &[(&str, &str)]) {
            let key = ref_key(entity);
            let id = uuid::Uuid::new_v4().to_string();
            let backend = pool.backend();
            let body = entity.to_string();
            let run = || -> anyhow::Result<()> {
                with_conn!(pool, |c| {
                    diesel::sql_query(placeholders(
                        "INSERT INTO entities (id, entity_ref, kind, namespace, name, location_id, source, hash, \
                         etag, body, status, created_at, updated_at) VALUES (?, ?, ?, 'default', ?, NULL, 'test', \
                         'h', 'h', ?, NULL, 0, 0)",
                        backend,
                    ))
                    .bind::<Text, _>(&id)
                    .bind::<Text, _>(&key)
                    .bind::<Text, _>(key.split(':').next().unwrap())
                    .bind::<Text, _>(key.rsplit('/').next().unwrap())
                    .bind::<Text, _>(&body)
                    .execute(c)?;
                    for (k, v) in crate::catalog::search::rows(entity) {
                        diesel::sql_query(placeholders(
                            "INSERT INTO search (entity_id, key, value) VALUES (?, ?, ?)",
                            backend,
                        ))
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(&k)
                        .bind::<Text, _>(&v)
                        .execute(c)?;
                    }
                    for (kind, target) in relations {
                        diesel::sql_query(placeholders(
                            "INSERT INTO relations (entity_id, source_key, type, target_ref, target_key) \
                             VALUES (?, ?, ?, ?, ?)",
                            backend,
                        ))
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(&key)
                        .bind::<Text, _>(*kind)
                        .bind::<Text, _>(*target)
                        .bind::<Text, _>(target.to_ascii_lowercase())
                        .execute(c)?;
                        // Every relation is stored with its inverse, as the store does.
                        diesel::sql_query(placeholders(
                            "INSERT INTO relations (entity_id, source_key, type, target_ref, target_key) \
                             VALUES (?, ?, ?, ?, ?)",
                            backend,
                        ))
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(target.to_ascii_lowercase())
                        .bind::<Text, _>(crate::catalog::relations::inverse_of(kind).unwrap_or(kind))
                        .bind::<Text, _>(&key)
                        .bind::<Text, _>(&key)
                        .execute(c)?;
                    }
                    Ok(())
                })
            };
            run().unwrap();
        }

        fn refs(pool: &Pool, sql: &str, binds: &[String]) -> Vec<String> {
            let sql = placeholders(sql, pool.backend());
            let run = || -> anyhow::Result<Vec<String>> {
                with_conn!(pool, |c| {
                    let mut q = diesel::sql_query(sql.clone()).into_boxed::<Db>();
                    for b in binds {
                        q = q.bind::<Text, _>(b.clone());
                    }
                    let rows: Vec<RefRow> = q.load(c)?;
                    Ok(rows.into_iter().map(|r| r.entity_ref).collect())
                })
            };
            run().unwrap_or_else(|e| panic!("{e}: {sql}"))
        }

        fn count(pool: &Pool, sql: &str, binds: &[String]) -> i64 {
            let sql = placeholders(sql, pool.backend());
            let run = || -> anyhow::Result<i64> {
                with_conn!(pool, |c| {
                    let mut q = diesel::sql_query(sql.clone()).into_boxed::<Db>();
                    for b in binds {
                        q = q.bind::<Text, _>(b.clone());
                    }
                    let row: CountRow = q.get_result(c)?;
                    Ok(row.count)
                })
            };
            run().unwrap()
        }

        fn entity(kind: &str, name: &str, metadata: Value, spec: Value) -> Value {
            let mut m = metadata;
            m["name"] = json!(name);
            json!({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": m, "spec": spec})
        }

        fn seed(pool: &Pool) {
            let team_a = [("ownedBy", "group:default/team-a")];
            let team_b = [("ownedBy", "group:default/team-b")];
            insert(
                pool,
                &entity(
                    "Component",
                    "alpha",
                    json!({"title": "Alpha Service", "tags": ["java", "web"]}),
                    json!({"type": "service", "owner": "team-a", "lifecycle": "production"}),
                ),
                &team_a,
            );
            insert(
                pool,
                &entity(
                    "Component",
                    "beta",
                    json!({"title": "beta site", "description": "version 2.0 site", "tags": ["python"]}),
                    json!({"type": "website", "owner": "team-b", "lifecycle": "experimental"}),
                ),
                &team_b,
            );
            insert(
                pool,
                &entity(
                    "Component",
                    "gamma_1",
                    json!({}),
                    json!({"type": "service", "owner": "team-c", "lifecycle": "production"}),
                ),
                &[("ownedBy", "group:default/team-c")],
            );
            insert(
                pool,
                &entity(
                    "Component",
                    "gammax1",
                    json!({"title": "Gamma X", "tags": ["go"]}),
                    json!({"type": "library", "owner": "team-a"}),
                ),
                &team_a,
            );
            insert(
                pool,
                &entity("API", "payments", json!({"tags": ["web"]}), json!({"type": "openapi", "owner": "Team-A"})),
                &team_a,
            );
            insert(
                pool,
                &entity("Group", "team-a", json!({}), json!({"type": "team"})),
                &[("ownerOf", "component:default/alpha"), ("ownerOf", "api:default/payments")],
            );
            insert(
                pool,
                &entity("System", "shop", json!({"description": "100% uptime"}), json!({"owner": "team-b"})),
                &team_b,
            );
        }

        fn matching(pool: &Pool, (cond, binds): (String, Vec<String>)) -> Vec<String> {
            refs(pool, &format!("SELECT e.entity_ref FROM entities e WHERE {cond} ORDER BY e.entity_ref"), &binds)
        }

        fn query(pool: &Pool, q: Value) -> Vec<String> {
            matching(pool, predicate_sql(&parse_predicate(&q).unwrap()))
        }

        #[test]
        fn predicates_select_the_right_entities() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                assert_eq!(
                    query(pool, json!({"kind": "COMPONENT", "spec.owner": "Team-A"})),
                    strs(&["component:default/alpha", "component:default/gammax1"])
                );
                assert_eq!(
                    query(pool, json!({"spec.type": {"$in": ["website", "OpenAPI"]}})),
                    strs(&["api:default/payments", "component:default/beta"])
                );
                assert_eq!(
                    query(pool, json!({"kind": "component", "spec.lifecycle": {"$exists": false}})),
                    strs(&["component:default/gammax1"])
                );
                assert_eq!(
                    query(pool, json!({"$all": [{"kind": "component"}, {"$not": {"metadata.tags": "web"}}]})),
                    strs(&["component:default/beta", "component:default/gamma_1", "component:default/gammax1"])
                );
                assert_eq!(
                    query(pool, json!({"$any": [{"kind": "system"}, {"metadata.tags.go": true}]})),
                    strs(&["component:default/gammax1", "system:default/shop"])
                );
                assert!(query(pool, json!({"$any": []})).is_empty());
                assert_eq!(query(pool, json!({"$all": []})).len(), 7);
            }
        }

        #[test]
        fn has_prefix_treats_wildcards_literally() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                assert_eq!(
                    query(pool, json!({"metadata.name": {"$hasPrefix": "GAMMA_"}})),
                    strs(&["component:default/gamma_1"])
                );
                assert_eq!(
                    query(pool, json!({"metadata.name": {"$hasPrefix": "gamma"}})),
                    strs(&["component:default/gamma_1", "component:default/gammax1"])
                );
                assert!(query(pool, json!({"metadata.name": {"$hasPrefix": "%"}})).is_empty());
                assert_eq!(
                    query(pool, json!({"metadata.description": {"$hasPrefix": "100%"}})),
                    strs(&["system:default/shop"])
                );
            }
        }

        #[test]
        fn relation_predicates_read_the_relations_table() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                assert_eq!(
                    query(pool, json!({"relations.ownedBy": "Group:Default/Team-A"})),
                    strs(&["api:default/payments", "component:default/alpha", "component:default/gammax1"])
                );
                assert_eq!(
                    query(pool, json!({"relations.ownerof": {"$hasPrefix": "api:"}})),
                    strs(&["group:default/team-a"])
                );
                assert_eq!(
                    query(pool, json!({"relations.ownedby": {"$exists": false}})),
                    strs(&["group:default/team-a"])
                );
                assert!(query(pool, json!({"relations.lovedby": "x"})).is_empty());
                assert_eq!(query(pool, json!({"relations.lovedby": {"$exists": false}})).len(), 7);
            }
        }

        #[test]
        fn filter_parameters_and_predicates_agree() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                let sets = crate::catalog::filter::parse(&strs(&[
                    "kind=component,spec.type=service,spec.type=library",
                    "kind=system,spec.owner",
                ]))
                .unwrap();
                let from_filter = matching(pool, predicate_sql(&filter_sets_to_predicate(&sets)));
                let from_query = query(
                    pool,
                    json!({"$any": [{"kind": "component", "spec.type": {"$in": ["service", "library"]}},
                                    {"kind": "system", "spec.owner": {"$exists": true}}]}),
                );
                assert_eq!(from_filter, from_query);
                assert_eq!(from_filter.len(), 4);
            }
        }

        #[test]
        fn full_text_matches_substrings_case_insensitively() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                assert_eq!(
                    matching(pool, fulltext_sql(" TEAM-a ", &[])),
                    strs(&[
                        "api:default/payments",
                        "component:default/alpha",
                        "component:default/gammax1",
                        "group:default/team-a"
                    ])
                );
                assert_eq!(
                    matching(pool, fulltext_sql("GAMMA", &strs(&["metadata.name"]))),
                    strs(&["component:default/gamma_1", "component:default/gammax1"])
                );
                // Escaped wildcards: "a_1" must not match "gammax1", "0%" must not match "2.0 site".
                assert_eq!(
                    matching(pool, fulltext_sql("a_1", &strs(&["metadata.name"]))),
                    strs(&["component:default/gamma_1"])
                );
                assert_eq!(matching(pool, fulltext_sql("0%", &[])), strs(&["system:default/shop"]));
                assert_eq!(
                    matching(pool, fulltext_sql("team-b", &strs(&["relations.ownedBy"]))),
                    strs(&["component:default/beta", "system:default/shop"])
                );
            }
        }

        fn ordered(pool: &Pool, order: &[OrderField]) -> Vec<String> {
            let (joins, order_by, binds) = order_sql(order);
            refs(pool, &format!("SELECT e.entity_ref FROM entities e{joins} ORDER BY {order_by}"), &binds)
        }

        #[test]
        fn ordering_puts_entities_without_the_field_last_in_both_directions() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                let nulls = [
                    "api:default/payments",
                    "component:default/gamma_1",
                    "group:default/team-a",
                    "system:default/shop",
                ];
                let mut asc = strs(&["component:default/alpha", "component:default/beta", "component:default/gammax1"]);
                asc.extend(strs(&nulls));
                assert_eq!(ordered(pool, &[OrderField::asc("metadata.title")]), asc);
                let mut desc =
                    strs(&["component:default/gammax1", "component:default/beta", "component:default/alpha"]);
                desc.extend(strs(&nulls));
                assert_eq!(ordered(pool, &[OrderField::desc("METADATA.TITLE")]), desc);
            }
        }

        #[test]
        fn ordering_by_several_fields_and_by_relations_works() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                assert_eq!(
                    ordered(pool, &[OrderField::desc("kind"), OrderField::asc("metadata.name")])[..3],
                    strs(&["system:default/shop", "group:default/team-a", "component:default/alpha"])
                );
                assert_eq!(
                    ordered(pool, &[OrderField::desc("relations.ownedby")])[..2],
                    strs(&["component:default/gamma_1", "component:default/beta"])
                );
                // Multi-valued fields sort by their smallest value ascending, as sort_values says.
                let rows = ordered(pool, &[OrderField::asc("metadata.tags")]);
                assert_eq!(
                    rows[..4],
                    strs(&[
                        "component:default/gammax1",
                        "component:default/alpha",
                        "component:default/beta",
                        "api:default/payments"
                    ])
                );
            }
        }

        fn all_rows(pool: &Pool) -> Vec<(String, Value)> {
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = Text)]
                entity_ref: String,
                #[diesel(sql_type = Text)]
                body: String,
            }
            let run = || -> anyhow::Result<Vec<(String, Value)>> {
                with_conn!(pool, |c| {
                    let rows: Vec<Row> = diesel::sql_query("SELECT entity_ref, body FROM entities").load(c)?;
                    Ok(rows.into_iter().map(|r| (r.entity_ref, serde_json::from_str(&r.body).unwrap())).collect())
                })
            };
            run().unwrap()
        }

        /// Runs one page of `cursor` and returns its refs and cursors, as a handler would.
        fn page(pool: &Pool, cursor: &Cursor, limit: u64) -> Page<String> {
            let bodies: std::collections::HashMap<String, Value> = all_rows(pool).into_iter().collect();
            let q = cursor.sql();
            let total = match cursor.total_items {
                Some(t) => t,
                None => {
                    let (sql, binds) = q.count_sql();
                    count(pool, &sql, &binds) as u64
                }
            };
            let (sql, binds) = q.page_sql("e.entity_ref", Some(limit), 0);
            let rows = refs(pool, &sql, &binds);
            paginate(cursor, total, rows, limit, |r| Position {
                values: sort_values(&bodies[r], &cursor.order_fields),
                entity_ref: r.clone(),
            })
        }

        #[test]
        fn cursor_pages_walk_the_whole_order_forward_and_back() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                for order in [
                    vec![OrderField::asc("metadata.title")],
                    vec![OrderField::desc("metadata.title")],
                    vec![OrderField::desc("metadata.tags"), OrderField::asc("spec.lifecycle")],
                    vec![],
                ] {
                    let expected = ordered(pool, &order);
                    let start = Cursor { order_fields: order.clone(), ..Cursor::default() };
                    let mut pages = vec![page(pool, &start, 2)];
                    while let Some(next) = pages.last().unwrap().next_cursor.clone() {
                        let decoded = decode(&encode(&next)).unwrap();
                        assert_eq!(decoded.total_items, Some(7));
                        pages.push(page(pool, &decoded, 2));
                    }
                    let forward: Vec<String> = pages.iter().flat_map(|p| p.items.clone()).collect();
                    assert_eq!(forward, expected, "forward, order {order:?}");
                    assert_eq!(pages.len(), 4);
                    // Back from the last page through the previous cursors.
                    let mut back = vec![pages.last().unwrap().items.clone()];
                    let mut prev = pages.last().unwrap().prev_cursor.clone();
                    while let Some(c) = prev {
                        let p = page(pool, &decode(&encode(&c)).unwrap(), 2);
                        back.push(p.items.clone());
                        assert!(p.next_cursor.is_some());
                        prev = p.prev_cursor;
                    }
                    back.reverse();
                    let expected_pages: Vec<Vec<String>> = pages.iter().map(|p| p.items.clone()).collect();
                    assert_eq!(back, expected_pages, "backward, order {order:?}");
                }
            }
        }

        #[test]
        fn cursor_pages_stay_stable_when_entities_are_added_before_the_position() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                let start = Cursor { order_fields: vec![OrderField::asc("metadata.title")], ..Cursor::default() };
                let first = page(pool, &start, 2);
                assert_eq!(first.items, strs(&["component:default/alpha", "component:default/beta"]));
                insert(pool, &entity("Component", "aardvark", json!({"title": "Aardvark"}), json!({})), &[]);
                let second = page(pool, first.next_cursor.as_ref().unwrap(), 2);
                assert_eq!(second.items, strs(&["component:default/gammax1", "api:default/payments"]));
                // totalItems was counted once, on the first page.
                assert_eq!(second.next_cursor.unwrap().total_items, Some(7));
            }
        }

        #[test]
        fn the_count_and_page_follow_filters_and_full_text() {
            for db in databases() {
                let pool = db.pool();
                seed(pool);
                let start = Cursor {
                    filter: Some(filter_sets_to_predicate(
                        &crate::catalog::filter::parse(&strs(&["kind=component"])).unwrap(),
                    )),
                    full_text_filter: FullTextFilter::new("A", &strs(&["metadata.name"])),
                    order_fields: vec![OrderField::desc("metadata.name")],
                    ..Cursor::default()
                };
                let p = page(pool, &start, 2);
                assert_eq!(p.items, strs(&["component:default/gammax1", "component:default/gamma_1"]));
                assert_eq!(p.next_cursor.as_ref().unwrap().total_items, Some(4));
                let p = page(pool, p.next_cursor.as_ref().unwrap(), 2);
                assert_eq!(p.items, strs(&["component:default/beta", "component:default/alpha"]));
                assert!(p.next_cursor.is_none());
                let (sql, binds) = start.sql().page_sql("e.entity_ref", Some(1), 3);
                assert_eq!(refs(pool, &sql, &binds), strs(&["component:default/alpha"]));
            }
        }
    }
}
