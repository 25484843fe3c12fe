//! HTTP handlers of team health: take events, answer the views off the async workers.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::Health;
use super::intake::{self, Outcome};
use super::views::{self, HealthQuery};
use crate::db::Pool;
use crate::error::{ApiError, Body, Query};
use crate::state::AppState;

/// Runs blocking work off the async workers, with the domain and the pool.
async fn blocking<T: Send + 'static>(
    h: &web::Data<Health>,
    state: &web::Data<AppState>,
    f: impl FnOnce(&Health, &Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (h, pool): (Arc<Health>, Pool) = (h.clone().into_inner(), state.pool.clone());
    web::block(move || f(&h, &pool)).await?
}

/// A single event that was rejected is the request's error; a batch answers per event.
fn answer(single: bool, outcome: Outcome) -> Result<HttpResponse, ApiError> {
    if single && let Some(r) = outcome.rejected.first() {
        return Err(ApiError::input(r.message.clone()));
    }
    Ok(HttpResponse::Ok().json(outcome))
}

/// `POST /api/deployments`: one deployment event or an array of up to 1,000.
pub async fn post_deployments(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    body: Body<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let single = body.is_object();
    let events = intake::events_of(body)?;
    let outcome = blocking(&h, &state, move |h, p| Ok(h.record_deployments(p, events, "api")?)).await?;
    answer(single, outcome)
}

/// `POST /api/incidents`: one incident event or an array of up to 1,000.
pub async fn post_incidents(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    body: Body<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let single = body.is_object();
    let events = intake::events_of(body)?;
    let outcome = blocking(&h, &state, move |h, p| Ok(h.record_incidents(p, events, "api")?)).await?;
    answer(single, outcome)
}

fn csv(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body)
}

/// A view of a query, as JSON or (`format=csv`) as CSV.
async fn view<T: serde::Serialize + Send + 'static>(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    q: Query<HealthQuery>,
    compute: fn(&Health, &Pool, &views::Request) -> Result<T, ApiError>,
    csv_of: fn(&T) -> String,
) -> Result<HttpResponse, ApiError> {
    let r = q.into_inner().request()?;
    let as_csv = r.csv;
    let v = blocking(&h, &state, move |h, p| compute(h, p, &r)).await?;
    Ok(if as_csv { csv(csv_of(&v)) } else { HttpResponse::Ok().json(v) })
}

/// `GET /api/portal/dora?entity=|product=|platform=|team=&from=&to=&benchmark=&format=`.
pub async fn dora(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    q: Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    view(state, h, q, Health::dora, views::dora_csv).await
}

/// `GET /api/portal/deployments?...`.
pub async fn deployments(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    q: Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    view(state, h, q, Health::deployments, views::deployments_csv).await
}

/// `GET /api/portal/incidents?...`.
pub async fn incidents(
    state: web::Data<AppState>,
    h: web::Data<Health>,
    q: Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    view(state, h, q, Health::incidents, views::incidents_csv).await
}
