//! HTTP handlers of standards as code: thin, the work off the async workers.

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use super::Standards;
use super::views::{self, ScorecardQuery};
use crate::auth::Identity;
use crate::catalog::model::EntityRef;
use crate::db::Pool;
use crate::error::{ApiError, Query};
use crate::state::AppState;

async fn blocking<T: Send + 'static>(
    s: &web::Data<Standards>,
    state: &web::Data<AppState>,
    f: impl FnOnce(&Standards, &Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (s, pool): (Arc<Standards>, Pool) = (s.clone().into_inner(), state.pool.clone());
    web::block(move || f(&s, &pool)).await?
}

fn scorecard_key(ns: &str, name: &str) -> Result<String, ApiError> {
    EntityRef::parse(&format!("scorecard:{ns}/{name}"), None, crate::catalog::model::DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("scorecard: {e}")))
}

fn not_found(key: &str) -> ApiError {
    ApiError::not_found(format!("No scorecard named '{key}' found"))
}

/// `GET /api/portal/scorecards/{namespace}/{name}`: the scorecard, its levels, checks with pass
/// rates, and its entities with level, score and failing checks (`format=csv`: the entities).
pub async fn get_scorecard(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
    q: Query<ScorecardQuery>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let key = scorecard_key(&ns, &name)?;
    let q = q.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => return Err(ApiError::input(format!("format: \"{f}\" is not json or csv"))),
    };
    let v = blocking(&s, &state, move |s, pool| s.view(pool, &key, &q)).await?;
    if csv {
        return Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(views::csv(&v)));
    }
    Ok(HttpResponse::Ok().json(v))
}

/// `POST /api/portal/scorecards/{namespace}/{name}/evaluate`: judges the scorecard again now,
/// with fresh facts (its owner, admins, `catalog:write` tokens).
pub async fn evaluate(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let key = scorecard_key(&ns, &name)?;
    let k = key.clone();
    blocking(&s, &state, move |s, pool| {
        let g = s.org.snapshot(pool)?;
        s.scorecard(pool, &g, &k)?.map(|_| ()).ok_or_else(|| not_found(&k))
    })
    .await?;
    crate::auth::require_owner(&state.pool, &identity, vec![key.clone()], "evaluate this scorecard").await?;
    let judged = blocking(&s, &state, move |s, pool| Ok(s.evaluate_all(pool, Some(&key))?)).await?;
    Ok(HttpResponse::Ok().json(judged))
}
