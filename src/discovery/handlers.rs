//! HTTP handlers of the providers API: list providers, their runs, and run one now.

use actix_web::{HttpResponse, web};

use super::{Discovery, views};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/providers`: every configured provider with its schedule and latest run.
pub async fn list_providers(discovery: web::Data<Discovery>) -> Result<HttpResponse, ApiError> {
    let discovery = discovery.into_inner();
    let items = web::block(move || views::providers(&discovery)).await??;
    Ok(HttpResponse::Ok().json(items))
}

fn known(discovery: &Discovery, id: &str) -> Result<(), ApiError> {
    match discovery.get(id) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("No provider with id '{id}' is configured"))),
    }
}

/// `GET /api/providers/{id}/runs`: the provider's latest 50 runs, newest first.
pub async fn list_provider_runs(
    state: web::Data<AppState>,
    discovery: web::Data<Discovery>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known(&discovery, &id)?;
    let pool = state.pool.clone();
    let runs = web::block(move || views::runs(&pool, &id)).await??;
    Ok(HttpResponse::Ok().json(runs))
}

/// `POST /api/providers/{id}/run`: runs the provider now (after any run in progress) and answers
/// its outcome.
pub async fn run_provider(discovery: web::Data<Discovery>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known(&discovery, &id)?;
    let run = discovery.into_inner().run_now(&id, "api").await.map_err(|e| match e {
        super::RunError::Busy(m) => ApiError::conflict(m),
        super::RunError::Internal(e) => ApiError::Internal(e),
    })?;
    Ok(HttpResponse::Ok().json(run.view()))
}
