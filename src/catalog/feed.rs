//! The change feed (Backstage RFC #8219): `GET /api/catalog/events`.
//!
//! Every transaction that adds, rewrites or removes entities appends one event per entity, in
//! commit order (see `store::record_changes`). Readers page through them with an opaque cursor
//! (the last id seen), which stays valid across restarts because it lives in the database. With
//! `Accept: text/event-stream` the same events stream as Server-Sent Events, resuming from
//! `after` or the `Last-Event-ID` header, and new events follow as they commit.

use std::collections::VecDeque;
use std::sync::Weak;
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::Catalog;
use super::{filter, store};
use crate::db::{Pool, now_ms, rfc3339};
use crate::error::ApiError;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// How often a stream looks for new events.
const POLL: Duration = Duration::from_millis(300);
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn parse_cursor(text: &str) -> Result<i64, ApiError> {
    text.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::input(format!("Invalid after cursor \"{text}\": use the nextCursor of an earlier answer"))
    })
}

fn single(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    let values = filter::query_values(req.query_string(), name);
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(ApiError::input(format!("Invalid {name}: give it once"))),
    }
}

fn event_json(e: &store::EventRow) -> serde_json::Value {
    json!({"id": e.id.to_string(), "type": e.kind, "entityRef": e.entity_ref, "at": rfc3339(e.at)})
}

/// `GET /api/catalog/events?after=<cursor>&limit=<n>`.
pub async fn list_events(state: web::Data<Catalog>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let header_id = req.headers().get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let after = match single(&req, "after")?.or(header_id) {
        Some(text) => parse_cursor(&text)?,
        None => 0,
    };
    let limit = match single(&req, "limit")? {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::input(format!("Invalid limit \"{text}\": between 1 and {MAX_LIMIT}")))?,
    };
    let streaming = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if streaming {
        return Ok(stream(state.pool.clone(), after, state.alive.clone()));
    }
    let pool = state.pool.clone();
    let (items, first) = web::block(move || {
        Ok::<_, anyhow::Error>((store::events_after(&pool, after, limit)?, store::first_event_id(&pool)?))
    })
    .await??;
    let next = items.last().map(|e| e.id).unwrap_or(after);
    // Events between the cursor and the oldest kept one were dropped by retention.
    let truncated = first.is_some_and(|f| after > 0 && after < f - 1);
    Ok(HttpResponse::Ok().json(json!({
        "items": items.iter().map(event_json).collect::<Vec<_>>(),
        "nextCursor": next.to_string(),
        "truncated": truncated,
    })))
}

struct StreamState {
    pool: Pool,
    after: i64,
    pending: VecDeque<store::EventRow>,
    last_sent: Instant,
    alive: Weak<()>,
}

fn stream(pool: Pool, after: i64, alive: Weak<()>) -> HttpResponse {
    let state = StreamState { pool, after, pending: VecDeque::new(), last_sent: Instant::now(), alive };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            st.alive.upgrade()?;
            if let Some(e) = st.pending.pop_front() {
                st.after = e.id;
                st.last_sent = Instant::now();
                let text = format!("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.kind, event_json(&e));
                return Some((Ok::<_, actix_web::Error>(Bytes::from(text)), st));
            }
            let pool = st.pool.clone();
            let after = st.after;
            match tokio::task::spawn_blocking(move || store::events_after(&pool, after, MAX_LIMIT)).await {
                Ok(Ok(rows)) if !rows.is_empty() => {
                    st.pending.extend(rows);
                    continue;
                }
                Ok(Err(e)) => tracing::warn!(error.cause = %e, "Could not read the change feed for a stream."),
                _ => {}
            }
            if st.last_sent.elapsed() >= KEEP_ALIVE {
                st.last_sent = Instant::now();
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st));
            }
            tokio::time::sleep(POLL).await;
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events)
}

/// Drops events older than the retention, hourly, while `alive` lives.
pub fn spawn_pruning(pool: Pool, retention_days: u64, alive: Weak<()>) {
    if retention_days == 0 {
        return;
    }
    tokio::spawn(async move {
        while alive.upgrade().is_some() {
            let cutoff = now_ms() - (retention_days as i64).saturating_mul(86_400_000);
            let p = pool.clone();
            match tokio::task::spawn_blocking(move || store::prune_events(&p, cutoff)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "Pruned old change-feed events."),
                Ok(Err(e)) => tracing::warn!(error.cause = %e, "Could not prune the change feed."),
                _ => {}
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}
