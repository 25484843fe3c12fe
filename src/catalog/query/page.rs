//! Paging: by-query cursors ([`Cursor`], [`encode`], [`decode`], [`paginate`]) that seek past the
//! last item shown, with `totalItems` counted once; the whole by-query request
//! ([`QueryRequest`], from a query string or a JSON body); and `offset`, `limit` and `after` of
//! `GET /entities` ([`PageParams`], [`next_link`]).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::parse_fields;
use super::fulltext::{FullTextFilter, parse_fulltext_body, parse_fulltext_params};
use super::limits::check_query;
use super::order::{OrderField, parse_order_by, parse_order_field_params};
use super::predicate::{Predicate, filter_sets_to_predicate, parse_predicate};
use super::{describe, json_non_negative, parse_integer, parse_non_negative, single_value, strings};

/// How many items a by-query page holds when the request names no `limit` (Backstage's default).
pub const DEFAULT_QUERY_LIMIT: u64 = 20;

/// The longest cursor [`decode`] accepts, in characters.
pub const MAX_CURSOR_LEN: usize = 1 << 20;

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

    /// True when this cursor asks for the page before its position.
    pub fn is_backward(&self) -> bool {
        self.is_previous && self.position.is_some()
    }
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
    check_query(&cursor).map_err(|e| format!("Invalid cursor: {e}"))?;
    if let Some(ft) = &cursor.full_text_filter {
        super::fulltext::check_term(&ft.term, "cursor")?;
    }
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
        let values = |name: &str| crate::catalog::filter::query_values(query, name);
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
            Some(filter_sets_to_predicate(&crate::catalog::filter::parse(&filter_params)?))
        };
        let cursor = Cursor {
            filter,
            full_text_filter: parse_fulltext_params(&values("fullTextFilterTerm"), &values("fullTextFilterFields"))?,
            order_fields: parse_order_field_params(&values("orderField"))?,
            ..Cursor::default()
        };
        check_query(&cursor)?;
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
        check_query(&cursor)?;
        Ok(QueryRequest { cursor, from_cursor: false, fields, limit, offset, count })
    }
}

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
        let values = |name: &str| crate::catalog::filter::query_values(query, name);
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
    use crate::catalog::query::Matcher;
    use crate::catalog::query::testing::*;
    use serde_json::json;

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
    fn queries_and_cursors_past_the_limits_are_refused() {
        // 200 filter sets of 200 conditions each: 40,000 leaves.
        let set = (0..200).map(|i| format!("spec.f{i}=x")).collect::<Vec<_>>().join(",");
        let qs = (0..200).map(|_| format!("filter={set}")).collect::<Vec<_>>().join("&");
        let e = QueryRequest::from_query_string(&qs.replace(',', "%2C")).unwrap_err();
        assert!(e.starts_with("at most 500 predicate leaves") && e.ends_with("; got 40000"), "{e}");
        let wide = json!({"$any": (0..200).map(|i| json!({"spec.f": {"$in": [i.to_string(), "x", "y"]}})).collect::<Vec<_>>()});
        let e = QueryRequest::from_body(&json!({"query": wide})).unwrap_err();
        assert!(e.ends_with("; got 600"), "{e}");
        // A cursor carries its query: one made by hand is held to the same limits.
        let order = (0..11).map(|i| OrderField::asc(&format!("spec.f{i}"))).collect();
        let e = decode(&encode(&Cursor { order_fields: order, ..Cursor::default() })).unwrap_err();
        assert_eq!(e, "Invalid cursor: at most 10 sort terms per request; got 11");
        let half = Predicate::Any((0..300).map(|i| field("spec.f", Matcher::Eq(i.to_string()))).collect());
        let c = Cursor { filter: Some(half.clone()), query: Some(half.clone()), ..Cursor::default() };
        assert!(decode(&encode(&c)).unwrap_err().ends_with("; got 600"));
        let c = Cursor { filter: Some(half), ..Cursor::default() };
        assert_eq!(decode(&encode(&c)).unwrap(), c);
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
}
