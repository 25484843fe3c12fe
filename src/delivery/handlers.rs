//! HTTP handlers of the delivery office: extract, compute the typed view off the async workers,
//! answer it.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::model::Period;
use super::views::{self, Filter};
use super::{Delivery, UpdateInput};
use crate::auth::Identity;
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::catalog::roadmap::parse_plan_date;
use crate::db::{Pool, now_ms};
use crate::error::{ApiError, Body, ErrorCode, Query};
use crate::state::AppState;

/// Runs a view off the async workers, with the domain and the pool.
async fn view<T: Send + 'static>(
    d: &web::Data<Delivery>,
    state: &web::Data<AppState>,
    f: impl FnOnce(&Delivery, &Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (d, pool): (Arc<Delivery>, Pool) = (d.clone().into_inner(), state.pool.clone());
    web::block(move || f(&d, &pool)).await?
}

/// A full ref or a plain name, as a ref key.
fn key(raw: &str, default_kind: &str, what: &str) -> Result<String, ApiError> {
    EntityRef::parse(raw, Some(default_kind), DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{what}: {e}")))
}

fn day(raw: &str, what: &str) -> Result<chrono::NaiveDate, ApiError> {
    parse_plan_date(raw)
        .ok_or_else(|| ApiError::input(format!("{what}: \"{raw}\" is not a date (YYYY-MM-DD) or a quarter (2027-Q1)")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadmapQuery {
    pub product: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
    pub domain: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RoadmapQuery {
    pub fn filter(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            product: self.product.as_deref().map(|p| key(p, "product", "product")).transpose()?,
            platform: self.platform.as_deref().map(|p| key(p, "platform", "platform")).transpose()?,
            team: self.team.as_deref().map(|t| key(t, "group", "team")).transpose()?,
            domain: self.domain.as_deref().map(|t| key(t, "domain", "domain")).transpose()?,
            from: self.from.as_deref().map(|f| day(f, "from")).transpose()?,
            to: self.to.as_deref().map(|t| day(t, "to")).transpose()?,
        })
    }
}

/// `GET /api/portal/roadmaps?product=|platform=|team=|domain=&from=&to=`.
pub async fn roadmaps(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    q: Query<RoadmapQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.into_inner().filter()?;
    let v = view(&d, &state, move |d, p| Ok(views::roadmaps(&d.snapshot(p)?.context(), &f))).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /api/portal/platforms/{namespace}/{name}/demand`.
pub async fn demand(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let platform = EntityRef::new("platform", &ns, &name).key();
    let v = view(&d, &state, move |d, p| {
        let s = d.snapshot(p)?;
        if s.graph.get(&platform).is_none_or(|e| !e.is("platform")) {
            return Err(ApiError::not_found(format!("No platform named '{platform}' found")));
        }
        Ok(views::demand(&s.context(), &platform))
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The entity of `/api/portal/roadmap/{kind}/{namespace}/{name}/{item}/...`.
fn item_path(kind: &str, ns: &str, name: &str) -> Result<String, ApiError> {
    let kind = kind.to_ascii_lowercase();
    if kind != "product" && kind != "platform" {
        return Err(ApiError::not_found(format!(
            "No roadmap of kind '{kind}': roadmaps belong to a product or a platform"
        )));
    }
    Ok(EntityRef::new(&kind, ns, name).key())
}

/// `POST /api/portal/roadmap/{kind}/{namespace}/{name}/{item}/updates` `{health, note, progress?}`
/// (`plan:write` tokens, admins, or the entity's owner).
pub async fn post_update(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    path: web::Path<(String, String, String, String)>,
    body: Body<UpdateInput>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let (kind, ns, name, item) = path.into_inner();
    let entity = item_path(&kind, &ns, &name)?;
    if !identity.admin && !identity.has_scope("plan:write") {
        crate::auth::require_owner(&state.pool, &identity, vec![entity.clone()], "record updates of this roadmap")
            .await?;
    }
    let by = identity.actor();
    let input = body.into_inner();
    let v = view(&d, &state, move |d, p| d.record_update(p, &entity, &item, input, &by)).await?;
    Ok(HttpResponse::Created().json(v))
}

/// `GET /api/portal/roadmap/{kind}/{namespace}/{name}/{item}/updates`.
pub async fn get_updates(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, ns, name, item) = path.into_inner();
    let entity = item_path(&kind, &ns, &name)?;
    Ok(HttpResponse::Ok().json(view(&d, &state, move |d, p| d.updates(p, &entity, &item)).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub period: Option<String>,
    pub domain: Option<String>,
    pub format: Option<String>,
}

/// A period as asked for, or the current one.
pub fn period_of(d: &Delivery, raw: Option<&str>) -> Result<Period, ApiError> {
    match raw {
        None => Ok(d.current_period(now_ms())),
        Some(p) => Period::parse(p)
            .ok_or_else(|| ApiError::input(format!("period: \"{p}\" is not a month (2026-11) or a quarter (2026-Q4)"))),
    }
}

/// `GET /api/portal/reports/value?period=&domain=&format=json|csv`.
pub async fn value_report(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    q: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::input(format!("format: \"{other}\" is not json or csv"))),
    };
    let period = period_of(&d, q.period.as_deref())?;
    let domain = q.domain.as_deref().map(|t| key(t, "domain", "domain")).transpose()?;
    let r = view(&d, &state, move |d, p| Ok(d.report(p, period, now_ms())?.within(domain.as_deref()))).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", format!("attachment; filename=\"value-report-{}.csv\"", r.period)))
            .body(super::report::csv(&r)));
    }
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub domain: Option<String>,
}

/// `GET /api/portal/reports/value/history?domain=`.
pub async fn value_history(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    q: Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let domain = q.into_inner().domain.as_deref().map(|t| key(t, "domain", "domain")).transpose()?;
    Ok(HttpResponse::Ok().json(view(&d, &state, move |d, p| Ok(d.history(p, domain.as_deref())?)).await?))
}

/// `POST /api/portal/reports/value/{period}/publish` (admins).
pub async fn publish_report(
    state: web::Data<AppState>,
    d: web::Data<Delivery>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let raw = path.into_inner();
    let period = period_of(&d, Some(&raw))?;
    // A snapshot is never rewritten: one of a period still running would keep its first days
    // for good (and the period-end task could not store the whole period).
    let now = now_ms();
    if super::model::day_of(now) < period.end() {
        return Err(ApiError::input(format!(
            "period: {period} has not ended (its last day is {}); a report is stored once its period is over",
            period.last_day()
        )));
    }
    match view(&d, &state, move |d, p| Ok(d.publish(p, period, now)?)).await? {
        Some(r) => Ok(HttpResponse::Created().json(r)),
        None => Err(ApiError::with_code(
            ErrorCode::Conflict,
            format!("the value report of {period} is stored already; it keeps what was true when it was stored"),
        )),
    }
}
