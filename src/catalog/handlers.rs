//! HTTP handlers of the catalog API: extract, make one store call, shape the response.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{filter, store};
use crate::error::ApiError;
use crate::startup::AppState;

fn json_array(items: Vec<String>) -> HttpResponse {
    let mut body = String::with_capacity(items.iter().map(String::len).sum::<usize>() + items.len() + 2);
    body.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push(']');
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// `GET /api/catalog/entities?filter=...`: a bare array of every match, as Backstage answers.
pub async fn list_entities(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let filters = filter::parse(&filter::query_values(req.query_string(), "filter")).map_err(ApiError::input)?;
    let pool = state.pool.clone();
    let items = web::block(move || store::list_entities(&pool, &filters)).await??;
    Ok(json_array(items))
}

/// `GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}`.
pub async fn get_entity_by_name(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, namespace, name) = path.into_inner();
    let key = super::model::EntityRef::new(&kind, &namespace, &name).key();
    let pool = state.pool.clone();
    let lookup = key.clone();
    match web::block(move || store::get_entity(&pool, &lookup)).await?? {
        Some(body) => Ok(HttpResponse::Ok().content_type("application/json").body(body)),
        None => Err(ApiError::not_found(format!("No entity named '{key}' found"))),
    }
}
