//! The SQL that answers catalog queries: [`predicate_sql`], [`fulltext_sql`], [`order_sql`] and
//! [`seek_sql`] compile the pure query values of `catalog::query` into WHERE, JOIN and ORDER BY
//! fragments, and [`CursorSql::sql`] puts a by-query page together ([`QuerySql`]).
//!
//! Every fragment is written over `entities e` with `?` placeholders (rewritten to `$n` for
//! PostgreSQL by `db::placeholders`), and all matching is on the lower-cased `search` rows and
//! the `relations` table. Kind, namespace and name read the indexed columns of `entities`.

use crate::catalog::query::{Cursor, Matcher, OrderField, Predicate, normalize_fields};
use crate::catalog::relations::{canonical_type, inverse_of};
use crate::db::Backend;

/// The SQL literal that makes a backslash the escape character of a `LIKE` pattern.
const LIKE_ESCAPE: &str = "ESCAPE '\\'";

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
            if let (Some(values), Some(inverse)) = (values, inverse_of(kind)) {
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

/// Terms of at least this many characters are looked up in SQLite's trigram index first; shorter
/// ones (no trigram to look up) are matched by the scan alone.
pub const INDEXED_TERM_CHARS: usize = 3;

/// The WHERE fragment of a full-text filter over `entities e`: some value of the named fields
/// contains the trimmed, lower-cased term (a `LIKE '%term%'` with `%`, `_` and `\` escaped).
///
/// With no fields named, any searchable value of the entity may contain it. (Backstage instead
/// falls back to the first sort field, or to `metadata.uid` when unsorted; see
/// [`backstage_fulltext_fields`] for that choice.) `relations.<type>` fields search the target
/// refs of that relation type. A blank term filters nothing (`1 = 1`).
///
/// Through an index, with exactly the matches of the substring scan: on SQLite, a term of
/// [`INDEXED_TERM_CHARS`] or more searched in every value first reads the candidate entities
/// from the trigram index `entity_text` (a phrase query: every value containing the term puts it
/// in its entity's text), then checks the candidates' own search rows with the same `LIKE`; on
/// PostgreSQL the `LIKE` itself reads the trigram GIN index of `search.value`, which PostgreSQL
/// rechecks. Named fields read the `(key, value)` index's range of each key on SQLite (checking
/// every candidate's rows for one key costs more than the range when a term is common).
pub fn fulltext_sql(term: &str, fields: &[String], backend: Backend) -> (String, Vec<String>) {
    let term = term.trim().to_lowercase();
    if term.is_empty() {
        return ("1 = 1".into(), Vec::new());
    }
    let pattern = format!("%{}%", escape_like(&term));
    let fields = normalize_fields(fields);
    if fields.is_empty() {
        if backend == Backend::Sqlite && term.chars().count() >= INDEXED_TERM_CHARS {
            // An FTS5 phrase: the term in double quotes, its own double quotes doubled.
            let phrase = format!("\"{}\"", term.replace('"', "\"\""));
            return (
                format!(
                    "(e.rowid IN (SELECT rowid FROM entity_text WHERE entity_text MATCH ?) AND \
                     EXISTS (SELECT 1 FROM search s WHERE s.entity_id = e.id AND s.value LIKE ? {LIKE_ESCAPE}))"
                ),
                vec![phrase, pattern],
            );
        }
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

/// The SQL of one by-query page, from [`CursorSql::sql`]. Binds go in statement order: `join_binds`,
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
    /// Reversed for a previous page: read its rows back to front (`query::paginate` does).
    pub order_by: String,
}

impl QuerySql {
    /// `SELECT <columns> FROM entities e ... WHERE ... ORDER BY ... LIMIT ...` with its binds.
    ///
    /// With a limit, one row more than `limit` is fetched, so that `query::paginate` (or the caller)
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

/// The SQL of a cursor's query.
pub trait CursorSql {
    /// The WHERE fragment of the query's filters (predicate and full text), without the seek:
    /// what `totalItems` counts.
    fn filter_sql(&self, backend: Backend) -> (String, Vec<String>);
    /// Every SQL part of this cursor's page, for that backend (full text differs).
    fn sql(&self, backend: Backend) -> QuerySql;
}

impl CursorSql for Cursor {
    fn filter_sql(&self, backend: Backend) -> (String, Vec<String>) {
        let mut parts = vec![predicate_sql(&self.predicate())];
        if let Some(ft) = &self.full_text_filter {
            parts.push(fulltext_sql(&ft.term, &ft.fields, backend));
        }
        and_sql(parts)
    }

    fn sql(&self, backend: Backend) -> QuerySql {
        let (joins, forward_order, join_binds) = order_sql(&self.order_fields);
        let (filter, filter_binds) = self.filter_sql(backend);
        let (seek, seek_binds) = seek_sql(self, &self.order_fields);
        let order_by = if self.is_backward() { order_by_sql(&self.order_fields, true) } else { forward_order };
        QuerySql { joins, join_binds, filter, filter_binds, seek, seek_binds, order_by }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::testing::*;
    use crate::catalog::query::{Position, decode, encode, filter_sets_to_predicate, parse_predicate};
    use serde_json::json;

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
    fn a_filter_key_starting_with_a_dollar_matches_nothing_and_survives_a_cursor() {
        let sets = crate::catalog::filter::parse(&strs(&["$x=1"])).unwrap();
        let p = filter_sets_to_predicate(&sets);
        assert_eq!(predicate_sql(&p).0, "1 = 0");
        let c = Cursor { filter: Some(p.clone()), ..Cursor::default() };
        assert_eq!(decode(&encode(&c)).unwrap().filter, Some(p));
    }

    #[test]
    fn full_text_trims_lowercases_and_escapes_the_term() {
        let (sql, binds) =
            fulltext_sql("  50%_Off ", &strs(&["Metadata.Title, metadata.name", "metadata.title"]), Backend::Postgres);
        assert_eq!(sql, "e.id IN (SELECT entity_id FROM search WHERE key IN (?, ?) AND value LIKE ? ESCAPE '\\')");
        assert_eq!(binds, strs(&["metadata.title", "metadata.name", "%50\\%\\_off%"]));
    }

    #[test]
    fn full_text_without_fields_searches_every_value_and_a_blank_term_nothing() {
        let (sql, binds) = fulltext_sql("x", &[], Backend::Postgres);
        assert_eq!(sql, "e.id IN (SELECT entity_id FROM search WHERE value LIKE ? ESCAPE '\\')");
        assert_eq!(binds, strs(&["%x%"]));
        assert_eq!(fulltext_sql("   ", &strs(&["metadata.name"]), Backend::Postgres), ("1 = 1".into(), vec![]));
    }

    #[test]
    fn full_text_of_3_characters_or_more_reads_sqlite_trigram_index_then_checks_the_rows() {
        let (sql, binds) = fulltext_sql(" Say \"Hi\"% ", &[], Backend::Sqlite);
        assert_eq!(
            sql,
            "(e.rowid IN (SELECT rowid FROM entity_text WHERE entity_text MATCH ?) AND \
             EXISTS (SELECT 1 FROM search s WHERE s.entity_id = e.id AND s.value LIKE ? ESCAPE '\\'))"
        );
        assert_eq!(binds, strs(&["\"say \"\"hi\"\"%\"", "%say \"hi\"\\%%"]));
        // Two characters hold no trigram: the scan; PostgreSQL's LIKE finds its own index.
        assert_eq!(fulltext_sql("ab", &[], Backend::Sqlite), fulltext_sql("ab", &[], Backend::Postgres));
        assert!(fulltext_sql("abc", &[], Backend::Postgres).0.starts_with("e.id IN (SELECT entity_id FROM search"));
    }

    #[test]
    fn full_text_on_relation_fields_searches_target_refs() {
        let (sql, binds) =
            fulltext_sql("team", &strs(&["metadata.name", "relations.ownedBy", "relations.nope"]), Backend::Postgres);
        assert!(sql.starts_with("(e.id IN") && sql.contains(" OR e.entity_ref IN (SELECT source_key FROM relations"));
        assert_eq!(binds, strs(&["metadata.name", "%team%", "ownedBy", "%team%"]));
        assert_eq!(fulltext_sql("team", &strs(&["relations.nope"]), Backend::Postgres).0, "1 = 0");
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
        let q = c.sql(Backend::Sqlite);
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
        assert!(c.sql(Backend::Sqlite).order_by.ends_with("e.entity_ref DESC"));
        let first = Cursor { is_previous: true, position: None, ..sample_cursor() };
        assert!(first.sql(Backend::Sqlite).order_by.ends_with("e.entity_ref ASC"));
    }
}

#[cfg(test)]
mod db_tests;
