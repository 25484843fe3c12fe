//! What one request may ask of the database, whichever route and spelling it uses: sort terms
//! (`order`, `orderField`, `orderBy`, and a cursor's order), predicate leaves (the `filter`
//! parameters and a `query` predicate together), nesting, and the lists of fields and facets.
//!
//! Within these limits every query compiles to SQL both databases accept: at most a few thousand
//! bound values (SQLite takes 32,766, PostgreSQL 65,535), a dozen joined tables (SQLite joins at
//! most 64) and an expression tree far from SQLite's depth limit of 1,000.

use super::page::Cursor;
use super::predicate::{Matcher, Predicate};

/// The most sort terms one request may give: each is one joined table.
pub const MAX_SORT_TERMS: usize = 10;

/// The most predicate leaves one request may give, `filter` and `query` together. A leaf is one
/// compared value: a condition, and each further value of a `$in` or of a key repeated in a
/// `filter` set.
pub const MAX_LEAVES: usize = 500;

/// How deeply a predicate may nest: each `$all`, `$any` and `$not`, and each object of several
/// field conditions (an implicit `$all`), is one level.
pub const MAX_DEPTH: usize = 8;

/// The most distinct fields one `fields` projection or full-text filter may name.
pub const MAX_FIELDS: usize = 500;

/// The most facets one `entity-facets` request may ask for: each is one statement.
pub const MAX_FACETS: usize = 100;

/// Refuses more than [`MAX_SORT_TERMS`] sort terms.
pub fn check_sort_terms(n: usize) -> Result<(), String> {
    if n > MAX_SORT_TERMS {
        return Err(format!("at most {MAX_SORT_TERMS} sort terms per request; got {n}"));
    }
    Ok(())
}

/// Refuses predicates with more than [`MAX_LEAVES`] leaves in total.
pub fn check_leaves<'a>(predicates: impl IntoIterator<Item = &'a Predicate>) -> Result<(), String> {
    let n: usize = predicates.into_iter().map(Predicate::leaves).sum();
    if n > MAX_LEAVES {
        return Err(format!(
            "at most {MAX_LEAVES} predicate leaves (conditions and $in or repeated filter values) per request; got {n}"
        ));
    }
    Ok(())
}

/// Refuses more than [`MAX_FIELDS`] fields in the list `name`.
pub fn check_fields(n: usize, name: &str) -> Result<(), String> {
    if n > MAX_FIELDS {
        return Err(format!("at most {MAX_FIELDS} {name} per request; got {n}"));
    }
    Ok(())
}

/// Refuses more than [`MAX_FACETS`] facets.
pub fn check_facets(n: usize) -> Result<(), String> {
    if n > MAX_FACETS {
        return Err(format!("at most {MAX_FACETS} facets per request; got {n}"));
    }
    Ok(())
}

/// Refuses a by-query request (or a cursor) past the limits: its sort terms, the leaves of its
/// `filter` and `query` together, and its full-text fields. (Nesting is refused as a predicate is
/// parsed.)
pub fn check_query(cursor: &Cursor) -> Result<(), String> {
    check_sort_terms(cursor.order_fields.len())?;
    check_leaves(cursor.filter.iter().chain(cursor.query.iter()))?;
    check_fields(cursor.full_text_filter.as_ref().map_or(0, |f| f.fields.len()), "full-text fields")
}

impl Predicate {
    /// How many leaves the predicate has: one per compared value (a `$in` counts each of its
    /// values, an empty one counts one), and one per empty `$all` or `$any`.
    pub fn leaves(&self) -> usize {
        match self {
            Predicate::All(items) | Predicate::Any(items) if items.is_empty() => 1,
            Predicate::All(items) | Predicate::Any(items) => items.iter().map(Predicate::leaves).sum(),
            Predicate::Not(inner) => inner.leaves(),
            Predicate::Field { matcher: Matcher::In(values), .. } => values.len().max(1),
            Predicate::Field { .. } => 1,
        }
    }

    /// How many levels of `$all`, `$any` and `$not` the predicate has (a single field: 0).
    pub fn depth(&self) -> usize {
        match self {
            Predicate::All(items) | Predicate::Any(items) => 1 + items.iter().map(Predicate::depth).max().unwrap_or(0),
            Predicate::Not(inner) => 1 + inner.depth(),
            Predicate::Field { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::parse_predicate;
    use crate::catalog::query::testing::*;
    use serde_json::json;

    #[test]
    fn leaves_count_every_compared_value() {
        let p = parse_predicate(&json!({
            "$any": [{"kind": "api", "spec.type": {"$in": ["a", "b", "c"]}}, {"$not": {"spec.owner": {"$exists": true}}},
                     {"$all": []}, {"metadata.name": {"$in": []}}]
        }))
        .unwrap();
        assert_eq!(p.leaves(), 1 + 3 + 1 + 1 + 1);
        assert_eq!(p.depth(), 2);
        assert_eq!(field("kind", Matcher::Eq("x".into())).depth(), 0);
    }

    #[test]
    fn limits_name_themselves_and_what_was_given() {
        assert!(check_sort_terms(MAX_SORT_TERMS).is_ok());
        assert_eq!(check_sort_terms(64).unwrap_err(), "at most 10 sort terms per request; got 64");
        let wide = Predicate::Any((0..501).map(|i| field("spec.x", Matcher::Eq(i.to_string()))).collect());
        assert!(check_leaves([&Predicate::everything()]).is_ok());
        let e = check_leaves([&wide, &Predicate::everything()]).unwrap_err();
        assert!(e.starts_with("at most 500 predicate leaves") && e.ends_with("; got 502"), "{e}");
        let half = Predicate::Any((0..250).map(|i| field("spec.x", Matcher::Eq(i.to_string()))).collect());
        assert!(check_leaves([&half, &half]).is_ok());
        assert!(check_leaves([&half, &half, &half]).unwrap_err().ends_with("got 750"));
        assert_eq!(check_fields(501, "fields").unwrap_err(), "at most 500 fields per request; got 501");
        assert_eq!(check_facets(101).unwrap_err(), "at most 100 facets per request; got 101");
    }
}
