//! Operational endpoints: health, readiness, metrics, the JSON Schemas, and the fallback 404.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::catalog::{facade, validate};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    if web::block(move || pool.ping()).await? {
        Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": "reachable"})))
    } else {
        Err(ApiError::with_code(crate::error::ErrorCode::Unavailable, "the database is not reachable"))
    }
}

/// Prometheus text: request counters and latency, ingestion counters, entities by kind.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let counts = web::block(move || facade::count_by_kind(&pool)).await??;
    let mut text = state.metrics.render();
    text.push_str("# HELP portolan_entities Entities in the catalog, by kind.\n# TYPE portolan_entities gauge\n");
    for (kind, n) in counts {
        text.push_str(&format!("portolan_entities{{kind=\"{kind}\"}} {n}\n"));
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

/// Serves the embedded JSON Schemas, so editors can point `$schema` at the server.
pub async fn get_schema(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = path.into_inner();
    validate::SCHEMA_FILES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| HttpResponse::Ok().content_type("application/schema+json").body(*text))
        .ok_or_else(|| ApiError::not_found(format!("no schema named {file}")))
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // A path that is served, with another method: 405 with the methods it has, as HTTP asks.
    let Some(index) = req.app_data::<web::Data<crate::routes::RouteIndex>>() else {
        return Err(ApiError::not_found(format!("no route for {} {}", req.method(), req.path())));
    };
    let allowed: Vec<&str> = index
        .iter()
        .filter(|r| actix_web::dev::ResourceDef::new(r.path).is_match(req.path()))
        .map(|r| r.method)
        .collect();
    if !allowed.is_empty() {
        let allow = allowed.join(", ");
        let mut res = ApiError::with_code(
            crate::error::ErrorCode::MethodNotAllowed,
            format!("{} is not served on {}; it answers {allow}", req.method(), req.path()),
        )
        .error_response();
        res.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_str(&allow)
                .unwrap_or(actix_web::http::header::HeaderValue::from_static("GET")),
        );
        return Ok(res);
    }
    Err(ApiError::not_found(format!("no route for {} {}", req.method(), req.path())))
}
