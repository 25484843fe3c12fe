//! The bodies of the fuzz targets: each takes the raw input and must not panic (a panic, or a
//! failed assertion, is a finding). Shared by `fuzz_targets/*.rs` and by the replay of kept
//! inputs in `tests/fuzz_regressions.rs` of the main crate.

#![allow(dead_code)]
use portolan::catalog::model::{self, EntityRef};
use portolan::catalog::query::page::{QueryRequest, decode, encode};
use portolan::catalog::query::predicate::parse_predicate;
use portolan::catalog::store::sql;
use portolan::catalog::{descriptor, validate};
use portolan::db::Backend;
use portolan::discovery::push::{read_github, read_gitlab};
use portolan::usage::intake::{parse_body, parse_time};

/// Descriptor files: split, parse (YAML or JSON by the first byte) and validate every document.
/// Never panics; every document is either an entity or a list of problems with a path.
pub fn descriptor(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let name = if selector & 1 == 0 { "catalog-info.yaml" } else { "catalog-info.json" };
    let Ok(documents) = descriptor::parse_file(bytes, name) else { return };
    let options = validate::Options { extra_kinds: vec!["Extra".into()], placeholders_unresolved: selector & 2 != 0 };
    for document in documents {
        if let Ok(body) = document.body {
            let _ = validate::describe(&body);
            let _ = validate::placeholders(&body);
            if let Ok(entity) = validate::validate(body, &options) {
                // A valid entity's ref reads back as itself.
                let key = entity.entity_ref.key();
                let again =
                    portolan::catalog::model::EntityRef::parse(&key, None, "default").expect("its own key parses");
                assert_eq!(again.key(), key);
            }
        }
    }
}

fn sql_of(request: &QueryRequest) {
    let cursor = &request.cursor;
    if let Some(filter) = &cursor.filter {
        let _ = sql::predicate_sql(filter);
        let json = filter.to_json();
        assert!(parse_predicate(&json).is_ok(), "a parsed predicate reads back: {json}");
    }
    if let Some(ft) = &cursor.full_text_filter {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let _ = sql::fulltext_sql(&ft.term, &ft.fields, backend);
        }
    }
    let _ = sql::order_sql(&cursor.order_fields);
    let _ = sql::seek_sql(cursor, &cursor.order_fields);
    let text = encode(cursor);
    decode(&text).expect("an encoded cursor decodes");
}

/// The filter and query parsers: a query string of `GET /entities/by-query` (filter, orderField,
/// fullTextFilterTerm, fields, limit, offset, cursor), and a `POST` body, into a cursor and its
/// SQL. Never panics; a parsed query's predicate survives its JSON round trip.
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(request) = QueryRequest::from_query_string(text) {
        sql_of(&request);
    }
    let _ = portolan::catalog::filter::parse(&text.split('&').map(str::to_owned).collect::<Vec<_>>());
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(request) = QueryRequest::from_body(&body) {
            sql_of(&request);
        }
        let _ = parse_predicate(&body);
    }
}

/// Entity refs: `[kind:][namespace/]name` with and without defaults. Never panics; a parsed
/// ref's lower-cased key parses back to itself.
pub fn entity_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for default_kind in [None, Some("group")] {
        if let Ok(r) = EntityRef::parse(text, default_kind, "default") {
            let key = r.key();
            let again = EntityRef::parse(&key, None, "other").expect("a ref's key parses");
            assert_eq!(again.key(), key, "the key of {text:?} reads back as itself");
            assert_eq!(r.to_string(), key);
        }
    }
    let _ = model::is_valid_object_name(text);
    let _ = model::is_valid_dns_subdomain(text);
    let _ = model::is_valid_label_key(text);
    let _ = model::is_valid_tag(text);
    let _ = model::is_valid_api_version(text);
}

/// Cursor decoding (`cursor=` of by-query, as clients send it back). Never panics; a decoded
/// cursor encodes and decodes to the same cursor.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cursor) = decode(text) {
        let again = decode(&encode(&cursor)).expect("an encoded cursor decodes");
        assert_eq!(again, cursor);
    }
}

/// Push webhook payloads (GitHub, by event name, and GitLab) read before any work. Never panics.
pub fn webhook(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    let delivery = match selector % 4 {
        0 => read_github("push", body),
        1 => read_github("repository", body),
        2 => read_github("ping", body),
        _ => read_gitlab(body),
    };
    if let Ok(delivery) = delivery {
        let _ = delivery.touched();
    }
}

/// Usage event batches (`POST /api/usage/events`): a JSON array or NDJSON. Never panics.
pub fn usage_batch(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    if let Ok(events) = parse_body(body, selector & 1 == 1) {
        assert!(events.len() <= portolan::usage::MAX_EVENTS);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = parse_time(text);
    }
}
