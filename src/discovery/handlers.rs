//! HTTP handlers of the providers API: list providers, their runs, and run one now.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::store;
use crate::db::rfc3339;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/providers`: every configured provider with its schedule and latest run.
pub async fn list_providers(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let providers = state.discovery.clone();
    let items = web::block(move || {
        let mut items = Vec::new();
        for p in &providers.list {
            let row = store::get_provider(&providers.ingestor.pool, &p.id)?;
            let last = store::list_runs(&providers.ingestor.pool, &p.id, 1)?;
            items.push(json!({
                "id": p.id,
                "type": p.kind(),
                "target": p.target(),
                "origin": p.origin(),
                "scheduleSecs": p.schedule.as_secs(),
                "nextRunAt": row.as_ref().map(|r| rfc3339(r.next_run_at)),
                "running": row.as_ref().is_some_and(|r| r.lease_expires_at.is_some_and(|t| t > crate::db::now_ms())),
                "lastRun": last.first().map(|r| r.to_json()),
            }));
        }
        Ok::<_, anyhow::Error>(items)
    })
    .await??;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

fn known(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.discovery.get(id) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("No provider with id '{id}' is configured"))),
    }
}

/// `GET /api/providers/{id}/runs`: the provider's latest 50 runs, newest first.
pub async fn list_provider_runs(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known(&state, &id)?;
    let pool = state.pool.clone();
    let runs = web::block(move || store::list_runs(&pool, &id, 50)).await??;
    Ok(HttpResponse::Ok().json(json!({ "items": runs.iter().map(|r| r.to_json()).collect::<Vec<_>>() })))
}

/// `POST /api/providers/{id}/run`: runs the provider now (after any run in progress) and answers
/// its outcome.
pub async fn run_provider(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known(&state, &id)?;
    let run = state.discovery.run_now(&id, "api").await.map_err(|e| match e {
        super::RunError::Busy(m) => ApiError::conflict(m),
        super::RunError::Internal(e) => ApiError::Internal(e),
    })?;
    Ok(HttpResponse::Ok().json(run.to_json()))
}
