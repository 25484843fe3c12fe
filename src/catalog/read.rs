//! Serving entities: each stored body with its relations and its `status.items` (processing
//! errors first, then the items the seam's decorator adds, such as governance findings), as the
//! catalog API answers them.

use std::collections::HashMap;

use serde_json::Value;

use super::seam::Seam;
use super::store::{self, StoredEntity, sql::QuerySql};
use crate::db::Pool;

/// A served entity: its ref key and its JSON.
pub type Served = (String, String);

/// Serves stored entities, in their order, with the decorator's items.
pub fn serve(pool: &Pool, seam: &Seam, rows: Vec<StoredEntity>) -> anyhow::Result<Vec<Served>> {
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let mut extra = seam.status_items(pool, &keys)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let items = extra.remove(&r.key);
            let json = assemble(&r.body, r.relations, r.status.as_deref(), items.as_deref());
            (r.key, json)
        })
        .collect())
}

/// One served entity by ref key.
pub fn get_entity(pool: &Pool, seam: &Seam, key: &str) -> anyhow::Result<Option<String>> {
    let Some(row) = store::get_entity(pool, key)? else { return Ok(None) };
    Ok(serve(pool, seam, vec![row])?.pop().map(|(_, json)| json))
}

/// The served entities with these ref keys (missing ones are absent from the map).
pub fn entities_by_keys(pool: &Pool, seam: &Seam, keys: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let rows: Vec<StoredEntity> = store::entities_by_keys(pool, keys)?.into_values().collect();
    Ok(serve(pool, seam, rows)?.into_iter().collect())
}

/// The served entity with this uid, and its ref key.
pub fn entity_by_uid(pool: &Pool, seam: &Seam, uid: &str) -> anyhow::Result<Option<Served>> {
    let Some(row) = store::entity_by_uid(pool, uid)? else { return Ok(None) };
    Ok(serve(pool, seam, vec![row])?.pop())
}

/// One page of served entities for a query, and the number the whole query matches when `count`.
pub fn query_entities(
    pool: &Pool,
    seam: &Seam,
    sql: &QuerySql,
    limit: Option<u64>,
    offset: u64,
    count: bool,
) -> anyhow::Result<(Vec<Served>, Option<u64>)> {
    let (rows, total) = store::query_entities(pool, sql, limit, offset, count)?;
    Ok((serve(pool, seam, rows)?, total))
}

/// The served entities a location owns, in ref order.
pub fn entities_of_location(pool: &Pool, seam: &Seam, location_id: &str) -> anyhow::Result<Vec<String>> {
    let rows = store::entities_of_location(pool, location_id)?;
    Ok(serve(pool, seam, rows)?.into_iter().map(|(_, json)| json).collect())
}

/// Adds the relations (sorted, without duplicates) and status to a stored body. The decorator's
/// items follow the processing errors in `status.items`.
fn assemble(body: &str, mut rels: Vec<(String, String)>, status: Option<&str>, extra: Option<&[Value]>) -> String {
    let merged;
    let status = match extra {
        None => status,
        Some(items) => {
            let mut all: Vec<Value> = status
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|v| v.get("items").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            all.extend(items.iter().cloned());
            merged = serde_json::json!({ "items": all }).to_string();
            Some(merged.as_str())
        }
    };
    rels.sort();
    rels.dedup();
    let mut out = String::with_capacity(body.len() + rels.len() * 64 + 32);
    let trimmed = body.trim_end();
    out.push_str(trimmed.strip_suffix('}').unwrap_or(trimmed));
    out.push_str(",\"relations\":[");
    for (i, (kind, target)) in rels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::json!({"type": kind, "targetRef": target}).to_string());
    }
    out.push(']');
    if let Some(status) = status {
        out.push_str(",\"status\":");
        out.push_str(status);
    }
    out.push('}');
    out
}
