//! Backstage's catalog query surface, as pure logic: what `GET /entities`, `GET /entities/by-query`
//! and `POST /entities/by-query` accept. No SQL here: the store compiles these values into SQL
//! (`store::sql`).
//!
//! - [`limits`]: what one request may ask for (sort terms, predicate leaves and depth, fields,
//!   facets), so that every query compiles to SQL both databases accept.
//! - [`predicate`]: [`Predicate`] and [`parse_predicate`], the `query` body of a POST;
//!   [`filter_sets_to_predicate`] turns the `filter` parameter into the same shape.
//! - [`fulltext`]: [`FullTextFilter`], `fullTextFilterTerm` / `fullTextFilter`.
//! - [`order`]: [`OrderField`], its three parsers and [`sort_values`].
//! - [`fields`]: [`parse_fields`] and [`project`], the `fields` projection.
//! - [`page`]: [`Cursor`], [`encode`], [`decode`] and [`paginate`] (cursor pagination that seeks
//!   past the last item shown, with `totalItems` counted once), [`QueryRequest`] (the whole
//!   by-query request) and [`PageParams`] (`offset`, `limit` and `after` of `GET /entities`).
//!
//! Parsers return messages fit for a 400 response.

pub mod fields;
pub mod fulltext;
pub mod limits;
pub mod order;
pub mod page;
pub mod predicate;
#[cfg(test)]
pub mod testing;

pub use fields::*;
pub use fulltext::*;
pub use limits::*;
pub use order::*;
pub use page::*;
pub use predicate::*;

use serde_json::Value;

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
