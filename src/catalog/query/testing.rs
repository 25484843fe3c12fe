//! Helpers shared by the query tests here and in the store.

use super::*;

pub fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub fn field(key: &str, matcher: Matcher) -> Predicate {
    Predicate::Field { key: key.into(), matcher }
}

pub fn sample_cursor() -> Cursor {
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
