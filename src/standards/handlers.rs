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

/// The ref key of a `kind` (`scorecard`, `campaign`) named by a path's namespace and name.
fn path_key(kind: &str, ns: &str, name: &str) -> Result<String, ApiError> {
    EntityRef::parse(&format!("{kind}:{ns}/{name}"), None, crate::catalog::model::DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{kind}: {e}")))
}

fn scorecard_key(ns: &str, name: &str) -> Result<String, ApiError> {
    path_key("scorecard", ns, name)
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

/// `GET /api/portal/campaigns`: every campaign with its numbers and verdict.
pub async fn list_campaigns(state: web::Data<AppState>, s: web::Data<Standards>) -> Result<HttpResponse, ApiError> {
    let items = blocking(&s, &state, |s, pool| Ok(s.campaign_views(pool, None, crate::db::now_ms())?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// `GET /api/portal/campaigns/{namespace}/{name}`: one campaign, by owner and by day.
pub async fn get_campaign(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let key = path_key("campaign", &ns, &name)?;
    let k = key.clone();
    let mut found =
        blocking(&s, &state, move |s, pool| Ok(s.campaign_views(pool, Some(&k), crate::db::now_ms())?)).await?;
    match found.pop() {
        Some(v) => Ok(HttpResponse::Ok().json(v)),
        None => Err(ApiError::not_found(format!("No campaign named '{key}' found"))),
    }
}

/// The query of a scorecard's history.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

fn day(raw: &str, what: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::input(format!("{what}: \"{raw}\" is not a day (YYYY-MM-DD)")))
}

/// `GET /api/portal/scorecards/{namespace}/{name}/history?from=&to=`: one row per recorded day.
pub async fn history(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
    q: Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let key = scorecard_key(&ns, &name)?;
    let q = q.into_inner();
    let today = chrono::Utc::now().date_naive();
    let to = q.to.as_deref().map(|t| day(t, "to")).transpose()?.unwrap_or(today);
    let from = q.from.as_deref().map(|f| day(f, "from")).transpose()?.unwrap_or(to - chrono::Duration::days(90));
    if from > to {
        return Err(ApiError::input("from: after to"));
    }
    let (from, to) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let v = blocking(&s, &state, move |s, pool| s.history(pool, &key, &from, &to)).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The query of a snapshot.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    pub day: Option<String>,
}

/// `POST /api/portal/scorecards/snapshots?day=`: records a day's snapshot now, as the daily
/// task does (admins; a day recorded already is replaced).
pub async fn snapshot(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    q: Query<SnapshotQuery>,
) -> Result<HttpResponse, ApiError> {
    let d = match q.into_inner().day {
        Some(d) => day(&d, "day")?,
        None => chrono::Utc::now().date_naive(),
    };
    let v = blocking(&s, &state, move |s, pool| Ok(s.snapshot(pool, d, crate::db::now_ms())?)).await?;
    Ok(HttpResponse::Created().json(v))
}
