//! HTTP handlers of consumption: the intake, the views and product KPIs. Thin: extract, call
//! the domain off the async workers, shape the answer.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

use super::Usage;
use super::intake::{self, BatchId, Options, Recorded};
use super::views::{self, AdoptionQuery, ConsumptionQuery, ScopeQuery};
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    backfill: Option<bool>,
}

/// Reads a body up to `limit` bytes; beyond it, 413.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::input(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::with_code(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than server.max_body_bytes ({limit} bytes); split the batch"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `POST /api/usage/events[?backfill=true]`: a JSON array or NDJSON of events; an
/// `Idempotency-Key` header (the caller's own: keys of different callers never meet) makes a
/// retried batch count once, and the same key with another body is a 409.
pub async fn post_events(
    state: web::Data<AppState>,
    usage: web::Data<Usage>,
    req: HttpRequest,
    payload: web::Payload,
    q: Query<EventsQuery>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let backfill = q.backfill.unwrap_or(false);
    if backfill && !identity.admin {
        return Err(ApiError::with_code(
            ErrorCode::Forbidden,
            "backfill: only admins may send events older than usage.late_days",
        ));
    }
    let batch_id = match req.headers().get("idempotency-key") {
        Some(v) => {
            let v = v.to_str().map_err(|_| ApiError::input("Idempotency-Key: printable ASCII only"))?.trim();
            if v.is_empty() || v.len() > 200 {
                return Err(ApiError::input("Idempotency-Key: between 1 and 200 characters"));
            }
            Some(intake::http_batch_id(&identity, v))
        }
        None => None,
    };
    let ndjson = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("ndjson") || v.contains("jsonlines"));
    let body = read_body(payload, state.settings.server.max_body_bytes).await?;
    let (events, body_hash) =
        web::block(move || intake::parse_body(&body, ndjson).map(|e| (e, intake::body_hash(&body)))).await??;
    let pool = state.pool.clone();
    let usage = usage.into_inner();
    let recorded = web::block(move || {
        let batch = batch_id.as_deref().map(|id| BatchId { id, body_hash: &body_hash });
        intake::record_batch(&usage, &pool, batch, events, Options { backfill })
    })
    .await??;
    match recorded {
        Recorded::Counted(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        Recorded::Conflict => Err(ApiError::with_code(
            ErrorCode::IdempotencyConflict,
            "Idempotency-Key: this key was already used for a batch with another body; send a new key for a new batch",
        )),
    }
}

/// Runs a view off the async workers, with the domain and the pool.
async fn view<T: Send + 'static>(
    usage: &web::Data<Usage>,
    state: &web::Data<AppState>,
    f: impl FnOnce(&Usage, &crate::db::Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (usage, pool) = (usage.clone().into_inner(), state.pool.clone());
    web::block(move || f(&usage, &pool)).await?
}

/// `GET /api/portal/consumption?api=|platform=|consumer=|team=&from=&to=&bucket=&format=csv`.
pub async fn consumption(
    state: web::Data<AppState>,
    usage: web::Data<Usage>,
    q: Query<ConsumptionQuery>,
) -> Result<HttpResponse, ApiError> {
    let r = views::consumption_request(q.into_inner())?;
    let csv = r.csv;
    let (g, c) = view(&usage, &state, move |u, p| views::consumption_of(u, p, &r)).await?;
    if csv {
        return Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(views::consumption_csv(&c)));
    }
    Ok(HttpResponse::Ok().json(views::consumption_view(&g, &c)))
}

/// `GET /api/portal/adoption?platform=|api=&weeks=12`.
pub async fn adoption(
    state: web::Data<AppState>,
    usage: web::Data<Usage>,
    q: Query<AdoptionQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    Ok(HttpResponse::Ok().json(view(&usage, &state, move |u, p| views::adoption_of(u, p, &q)).await?))
}

/// `GET /api/portal/declared-vs-observed?platform=|api=`.
pub async fn declared_vs_observed(
    state: web::Data<AppState>,
    usage: web::Data<Usage>,
    q: Query<ScopeQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    Ok(HttpResponse::Ok().json(view(&usage, &state, move |u, p| views::comparison_of(u, p, &q)).await?))
}

/// `GET /api/usage/status`: the folder's backlog.
pub async fn status(state: web::Data<AppState>, usage: web::Data<Usage>) -> Result<HttpResponse, ApiError> {
    let (records, events) = view(&usage, &state, |_, p| Ok(super::fold::backlog(p)?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"unfolded": {"records": records, "events": events}})))
}

/// `POST /api/portal/products/{namespace}/{name}/kpis`: `[{kpi, time, value}]` (tokens with
/// `kpi:write`, admins, or the product's owner).
pub async fn post_kpis(
    state: web::Data<AppState>,
    usage: web::Data<Usage>,
    path: web::Path<(String, String)>,
    body: crate::error::Body<Vec<serde_json::Value>>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let (namespace, name) = path.into_inner();
    let product = crate::catalog::model::EntityRef::new("product", &namespace, &name).key();
    let g = view(&usage, &state, |u, p| Ok(u.org.snapshot(p)?)).await?;
    if g.get(&product).is_none_or(|p| !p.is("product")) {
        return Err(ApiError::not_found(format!("No product named '{product}' found")));
    }
    if !identity.admin && !identity.has_scope("kpi:write") {
        crate::auth::require_owner(&state.pool, &identity, vec![product.clone()], "report this product's KPIs").await?;
    }
    let rows = body.into_inner();
    if rows.len() > super::MAX_EVENTS {
        return Err(ApiError::with_code(
            ErrorCode::PayloadTooLarge,
            format!("at most {} values per request", super::MAX_EVENTS),
        ));
    }
    let pool = state.pool.clone();
    let v = web::block(move || super::kpis::record(&pool, &g, &product, rows)).await??;
    Ok(HttpResponse::Ok().json(v))
}
