//! Products and platforms: lists, and one page each.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::catalog::{entity_href, entity_link, params};
use super::chart;
use super::layout::{Ctx, page, urlencode};
use super::{html as respond, json_of, query, s};
use crate::error::ApiError;
use crate::governance::handlers as portal;
use crate::state::AppState;

fn filters(p: &std::collections::HashMap<String, String>, action: &str) -> Markup {
    let v = |k: &str| p.get(k).cloned().unwrap_or_default();
    html! {
        form class="search" method="get" action=(action) role="search" {
            label { "Text" input type="search" name="text" value=(v("text")); }
            label { "Owner" input type="text" name="owner" value=(v("owner")) placeholder="group:default/team"; }
            label { "Lifecycle" input type="text" name="lifecycle" value=(v("lifecycle")); }
            button type="submit" { "Filter" }
        }
    }
}

async fn list(state: web::Data<AppState>, req: HttpRequest, kind: &str) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let q =
        query(&[("text", g("text")), ("owner", g("owner")), ("lifecycle", g("lifecycle")), ("domain", g("domain"))])?;
    let v = if kind == "product" {
        json_of(portal::list_products(state.clone(), q).await).await?
    } else {
        json_of(portal::list_platforms(state.clone(), q).await).await?
    };
    let plural = format!("/{kind}s");
    let body = html! {
        (filters(&p, &plural))
        table {
            thead { tr { th { "Name" } th { "Owner" } th { "Domain" } th { "Lifecycle" } th class="num" { "Parts" } th class="num" { "Findings" } th { "Scorecard" } } }
            tbody {
                @for e in v["items"].as_array().into_iter().flatten() {
                    tr {
                        td { a href={ (plural) "/" (urlencode(s(e, "/namespace"))) "/" (urlencode(s(e, "/name"))) } {
                            (if s(e, "/title").is_empty() { s(e, "/name") } else { s(e, "/title") }) } }
                        td { (s(e, "/owner")) }
                        td { (s(e, "/domain")) }
                        td { (s(e, "/lifecycle")) }
                        td class="num" { (e["partsCount"]) }
                        td class="num" { (count(&e["findings"])) }
                        td { (level(&e["scorecard"])) }
                    }
                }
            }
        }
    };
    Ok(respond(page(&ctx, if kind == "product" { "Products" } else { "Platforms" }, body)))
}

fn count(v: &Value) -> String {
    match v {
        Value::Array(a) => a.len().to_string(),
        Value::Object(o) => o.values().filter_map(Value::as_u64).sum::<u64>().to_string(),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    }
}

fn level(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(_) => s(v, "/level").to_owned(),
        _ => String::new(),
    }
}

pub async fn list_products(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    list(state, req, "product").await
}

pub async fn list_platforms(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    list(state, req, "platform").await
}

fn progress(p: &Value) -> Markup {
    let pct = (p.as_f64().unwrap_or(0.0).clamp(0.0, 1.0) * 10.0).round() as u32 * 10;
    html! { span class="progress" role="img" aria-label={ (pct) "% of target" } { span class={ "w" (pct) } {} } }
}

async fn detail(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: (String, String),
    kind: &str,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let e = if kind == "product" {
        json_of(portal::get_product(state.clone(), web::Path::from(path.clone())).await).await?
    } else {
        json_of(portal::get_platform(state.clone(), web::Path::from(path.clone())).await).await?
    };
    let entity_ref = s(&e, "/entityRef").to_owned();
    let body = html! {
        @if !s(&e, "/description").is_empty() { p { (s(&e, "/description")) } }
        dl class="meta" {
            dt { "Ref" } dd { (entity_link(&entity_ref)) }
            dt { "Owner" } dd { (entity_link(s(&e, "/owner"))) }
            @if !s(&e, "/domain").is_empty() { dt { "Domain" } dd { (entity_link(s(&e, "/domain"))) } }
            dt { "Lifecycle" } dd { (s(&e, "/lifecycle")) }
            dt { "Scorecard" } dd { (level(&e["scorecard"])) }
        }
        p {
            a href={ "/governance/graph?entity=" (urlencode(&entity_ref)) } { "Dependency graph" }
            @if kind == "platform" { " · " a href={ "/dashboard?platform=" (urlencode(&entity_ref)) } { "Consumption dashboard" } }
        }
        h2 { "Parts" }
        table { thead { tr { th { "Part" } th { "Kind" } th { "Owner" } } } tbody {
            @for part in e["parts"].as_array().into_iter().flatten() {
                tr { td { a href=(entity_href(s(part, "/entityRef"))) { (if s(part, "/title").is_empty() { s(part, "/entityRef") } else { s(part, "/title") }) } } td { (s(part, "/kind")) } td { (s(part, "/owner")) } }
            }
        } }
        h2 { "APIs" }
        table { thead { tr { th { "API" } th { "Lifecycle" } @if kind == "platform" { th { "Consumers" } } } } tbody {
            @for a in e["apis"].as_array().into_iter().flatten() {
                tr {
                    td { (entity_link(s(a, "/entityRef"))) }
                    td { (s(a, "/lifecycle")) }
                    @if kind == "platform" { td {
                        @for c in a["consumers"].as_array().into_iter().flatten() { (entity_link(s(c, "/entityRef"))) " " }
                    } }
                }
            }
        } }
        @if kind == "product" {
            h2 { "Dependencies" }
            table { thead { tr { th { "From" } th { "Relation" } th { "To" } th { "Platforms" } } } tbody {
                @for d in e["dependencies"].as_array().into_iter().flatten() {
                    tr { td { (entity_link(s(d, "/source"))) } td { (s(d, "/relation")) } td { (entity_link(s(d, "/target"))) }
                        td { @for p in d["platforms"].as_array().into_iter().flatten() { (entity_link(p.as_str().unwrap_or(""))) " " } } }
                }
            } }
            h2 { "KPIs" }
            @for k in e["kpis"].as_array().into_iter().flatten() {
                h3 { (s(k, "/name")) " " span class="muted" { "(" (s(k, "/unit")) ")" } }
                p { "Target " (k["target"]) " (" (s(k, "/direction")) "), now " (k["current"]) ", before " (k["previous"]) " · "
                    @if k["onTrack"] == Value::Bool(true) { span class="ok" { "on track" } } @else { span class="bad" { "off track" } } }
                @let pts: Vec<(String, f64)> = k["series"].as_array().into_iter().flatten().map(|p| (s(p, "/t").to_owned(), p["value"].as_f64().unwrap_or(0.0))).collect();
                (chart::lines(&format!("{} over time", s(k, "/name")), &pts.iter().map(|p| p.0.clone()).collect::<Vec<_>>(), &[(s(k, "/name"), pts.iter().map(|p| Some(p.1)).collect())], k["target"].as_f64()))
            }
        } @else {
            h2 { "Offerings" }
            ul { @for o in e["offerings"].as_array().into_iter().flatten() {
                @let api = o.get("api").and_then(Value::as_str).unwrap_or("");
                li { (if api.is_empty() { o.to_string() } else { api.to_owned() }) }
            } }
            h2 { "Targets" }
            table { thead { tr { th { "Metric" } th { "API" } th class="num" { "Target" } th class="num" { "Current" } th { "Progress" } } } tbody {
                @for t in e["targets"].as_array().into_iter().flatten() {
                    tr { td { (s(t, "/metric")) } td { (s(t, "/api")) } td class="num" { (t["target"]) } td class="num" { (t["current"]) }
                        td { (progress(&t["progress"])) " " @if t["onTrack"] == Value::Bool(true) { span class="ok" { "on track" } } @else { span class="bad" { "off track" } } } }
                }
            } }
        }
    };
    let title = if s(&e, "/title").is_empty() { s(&e, "/name").to_owned() } else { s(&e, "/title").to_owned() };
    Ok(respond(page(&ctx, &title, body)))
}

pub async fn product(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, req, path.into_inner(), "product").await
}

pub async fn platform(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, req, path.into_inner(), "platform").await
}
