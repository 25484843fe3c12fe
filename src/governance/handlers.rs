//! HTTP handlers of the governance views: extract, compute the typed view off the async
//! workers ([`super::views`], [`super::graph`]), answer it as JSON.

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use super::Governance;
use super::graph::{self, Format, GraphQuery};
use super::views::{self, FindingsQuery, ListQuery};
use crate::db::Pool;
use crate::error::{ApiError, Query};
use crate::state::AppState;

/// Runs a view off the async workers, with the domain and the pool.
async fn view<T: Send + 'static>(
    gov: &web::Data<Governance>,
    state: &web::Data<AppState>,
    f: impl FnOnce(&Governance, &Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (gov, pool): (Arc<Governance>, Pool) = (gov.clone().into_inner(), state.pool.clone());
    web::block(move || f(&gov, &pool)).await?
}

/// `GET /api/portal/products?owner=&domain=&lifecycle=&text=`.
pub async fn list_products(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    q: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |g, p| views::list(g, p, &q, "product")).await?))
}

/// `GET /api/portal/platforms?owner=&domain=&lifecycle=&text=`.
pub async fn list_platforms(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    q: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |g, p| views::list(g, p, &q, "platform")).await?))
}

/// `GET /api/portal/products/{namespace}/{name}`.
pub async fn get_product(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |g, p| views::detail(g, p, "product", &ns, &name)).await?))
}

/// `GET /api/portal/platforms/{namespace}/{name}`.
pub async fn get_platform(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |g, p| views::detail(g, p, "platform", &ns, &name)).await?))
}

/// `GET /api/portal/teams/{namespace}/{name}`: what a group owns and whom it depends on.
pub async fn get_team(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |g, p| views::team(g, p, &ns, &name)).await?))
}

/// `GET /api/portal/findings?rule=&severity=&owner=&entity=`.
pub async fn list_findings(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    q: Query<FindingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = views::finding_filter_with(q.into_inner(), &gov.external_rules())?;
    Ok(HttpResponse::Ok().json(view(&gov, &state, move |_, p| views::findings(p, &filter)).await?))
}

/// `GET /api/portal/scorecards`: every product and platform with its level and checks.
pub async fn list_scorecards(state: web::Data<AppState>, gov: web::Data<Governance>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&gov, &state, views::scorecard_list).await?))
}

/// `GET /api/portal/graph?entity=&depth=&relations=&direction=&format=json|dot|mermaid`.
pub async fn get_graph(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    q: Query<GraphQuery>,
) -> Result<HttpResponse, ApiError> {
    let checked = graph::check(q.into_inner())?;
    let format = checked.format;
    let v = view(&gov, &state, move |g, p| graph::graph(g, p, &checked)).await?;
    Ok(match format {
        Format::Dot => HttpResponse::Ok().content_type("text/vnd.graphviz; charset=utf-8").body(v.dot()),
        Format::Mermaid => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(v.mermaid()),
        Format::Json => HttpResponse::Ok().json(v),
    })
}
