//! The full-text filter: `fullTextFilterTerm` / `fullTextFilterFields` of a GET, `fullTextFilter`
//! of a POST (a case-insensitive substring of the named fields, or of any searchable value).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits::check_fields;
use super::order::OrderField;
use super::{describe, single_value, strings};

/// The longest full-text term, in characters.
pub const MAX_TERM_CHARS: usize = 1_000;

/// Refuses a term longer than [`MAX_TERM_CHARS`], or holding a NUL character (no stored value
/// can hold one: PostgreSQL refuses it in text, and SQLite's `LIKE` would stop reading the
/// pattern there); `name` is the parameter or field that gave it.
pub(super) fn check_term(term: &str, name: &str) -> Result<(), String> {
    if term.contains('\0') {
        return Err(format!("Invalid {name}, the term holds a NUL character"));
    }
    let n = term.trim().chars().count();
    if n > MAX_TERM_CHARS {
        return Err(format!("Invalid {name}, the term has {n} characters, more than the limit of {MAX_TERM_CHARS}"));
    }
    Ok(())
}

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
pub fn normalize_fields(fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for field in fields.iter().flat_map(|f| f.split(',')) {
        let field = field.trim().to_lowercase();
        if !field.is_empty() && seen.insert(field.clone()) {
            out.push(field);
        }
    }
    out
}

/// Refuses a full-text filter naming more than [`MAX_FIELDS`](super::limits::MAX_FIELDS) fields
/// (each is one bound value); `name` is the parameter or field that gave them.
pub(super) fn check_fulltext_fields(filter: Option<&FullTextFilter>, name: &str) -> Result<(), String> {
    let n = filter.map_or(0, |f| f.fields.len());
    check_fields(n, "full-text fields").map_err(|e| format!("Invalid {name}: {e}"))
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
    check_term(&term, "fullTextFilterTerm")?;
    let filter = FullTextFilter::new(&term, fields);
    check_fulltext_fields(filter.as_ref(), "fullTextFilterFields")?;
    Ok(filter)
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
    check_term(&term, "fullTextFilter.term")?;
    let filter = FullTextFilter::new(&term, &fields);
    check_fulltext_fields(filter.as_ref(), "fullTextFilter.fields")?;
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::testing::*;
    use serde_json::json;

    #[test]
    fn backstage_searches_the_sort_field_or_the_uid_when_no_fields_are_named() {
        assert_eq!(backstage_fulltext_fields(&[]), strs(&["metadata.uid"]));
        assert_eq!(backstage_fulltext_fields(&[OrderField::desc("metadata.title")]), strs(&["metadata.title"]));
    }

    #[test]
    fn a_term_longer_than_1000_characters_is_refused_with_the_limit() {
        let ok = "é".repeat(MAX_TERM_CHARS);
        assert!(parse_fulltext_params(std::slice::from_ref(&ok), &[]).unwrap().is_some());
        assert!(parse_fulltext_body(&json!({ "term": ok })).unwrap().is_some());
        let long = "x".repeat(100_000);
        assert_eq!(
            parse_fulltext_params(std::slice::from_ref(&long), &[]).unwrap_err(),
            "Invalid fullTextFilterTerm, the term has 100000 characters, more than the limit of 1000"
        );
        assert!(parse_fulltext_body(&json!({ "term": long })).unwrap_err().starts_with("Invalid fullTextFilter.term,"));
        assert_eq!(
            parse_fulltext_params(&["a\0b".to_owned()], &[]).unwrap_err(),
            "Invalid fullTextFilterTerm, the term holds a NUL character"
        );
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

    #[test]
    fn more_than_500_full_text_fields_are_refused() {
        let fields = |n: usize| (0..n).map(|i| format!("spec.f{i}")).collect::<Vec<_>>();
        assert_eq!(parse_fulltext_params(&strs(&["x"]), &[fields(500).join(",")]).unwrap().unwrap().fields.len(), 500);
        assert_eq!(
            parse_fulltext_params(&strs(&["x"]), &fields(501)).unwrap_err(),
            "Invalid fullTextFilterFields: at most 500 full-text fields per request; got 501"
        );
        let e = parse_fulltext_body(&json!({"term": "x", "fields": fields(600)})).unwrap_err();
        assert!(e.starts_with("Invalid fullTextFilter.fields: at most 500"), "{e}");
    }
}
