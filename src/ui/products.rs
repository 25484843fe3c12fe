//! Products and platforms: lists, and one page each.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::catalog::{entity_href, entity_link, params};
use super::chart;
use super::layout::{Ctx, page, urlencode};
use super::numbers;
use super::{blocking, html as respond, opt};
use crate::catalog::model::EntityRef;
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::scorecards::Level;
use crate::governance::views::{self, ListQuery};
use crate::health::Health;
use crate::health::views::Scope;
use crate::state::AppState;
use crate::usage::Usage;

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

async fn list(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    req: HttpRequest,
    kind: &'static str,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let q = ListQuery {
        text: opt(g("text")),
        owner: opt(g("owner")),
        lifecycle: opt(g("lifecycle")),
        domain: opt(g("domain")),
    };
    let v = blocking(&gov, &state, move |gov, pool| views::list(gov, pool, &q, kind)).await?;
    let plural = format!("/{kind}s");
    let body = html! {
        (filters(&p, &plural))
        div class="wide" tabindex="0" { table {
            thead { tr { th { "Name" } th { "Owner" } th { "Domain" } th { "Lifecycle" } th class="num" { "Parts" } th class="num" { "Findings" } th { "Scorecard" } } }
            tbody {
                @for e in &v.items {
                    tr {
                        td { a href={ (plural) "/" (urlencode(&e.namespace)) "/" (urlencode(&e.name)) } { (e.label()) } }
                        td { (e.owner.as_deref().unwrap_or("")) }
                        td { (e.domain.as_deref().unwrap_or("")) }
                        td { (e.lifecycle.as_deref().unwrap_or("")) }
                        td class="num" { (numbers::count(e.parts_count)) }
                        // As before: the entity's total plus its per-severity counts.
                        td class="num" { (numbers::int(e.findings.total + e.findings.error + e.findings.warning + e.findings.info)) }
                        td { (level(e.scorecard)) }
                    }
                }
            }
        } }
    };
    Ok(respond(page(&ctx, if kind == "product" { "Products" } else { "Platforms" }, body)))
}

fn level(l: Option<Level>) -> &'static str {
    l.map_or("", Level::as_str)
}

pub async fn list_products(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list(state, gov, req, "product").await
}

pub async fn list_platforms(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list(state, gov, req, "platform").await
}

/// A progress bar towards a target (tenths).
pub fn progress(p: Option<f64>) -> Markup {
    let pct = (p.unwrap_or(0.0).clamp(0.0, 1.0) * 10.0).round() as u32 * 10;
    html! { span class="progress" role="img" aria-label={ (pct) "% of target" } { span class={ "w" (pct) } {} } }
}

/// "on track" or "off track".
pub fn on_track(on: Option<bool>) -> Markup {
    html! { @if on == Some(true) { span class="ok" { "on track" } } @else { span class="bad" { "off track" } } }
}

/// A value for people ([`numbers::decimal`]: `34.9`, `1,235`), `none` when absent.
pub fn value(v: Option<f64>) -> Markup {
    html! { @match v { Some(v) => (numbers::decimal(v)), None => span class="muted" { "none" } } }
}

/// A target's value in its metric's unit: the shares `errorRate` and `adoption` in per cent,
/// `p95LatencyMs` in ms (or s), the counts as [`value`]; `none` when absent.
pub fn metric_value(metric: &str, v: Option<f64>) -> Markup {
    match (metric, v) {
        ("errorRate" | "adoption", Some(v)) => html! { (numbers::percent(v)) },
        ("p95LatencyMs", Some(v)) => html! { (numbers::ms(v)) },
        _ => value(v),
    }
}

/// The domains a product's or platform's page reads.
struct Domains {
    gov: web::Data<Governance>,
    usage: web::Data<Usage>,
    delivery: web::Data<Delivery>,
    health: web::Data<Health>,
}

async fn detail(
    state: web::Data<AppState>,
    domains: Domains,
    req: HttpRequest,
    path: (String, String),
    kind: &'static str,
) -> Result<HttpResponse, ApiError> {
    let Domains { gov, usage, delivery, health } = domains;
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path;
    let key = EntityRef::new(kind, &ns, &name).key();
    let plans = super::roadmap::load(&state, &delivery, &ctx.identity, key.clone(), kind == "platform").await?;
    let updated = params(&req).get("updated").cloned();
    let scope = if kind == "product" { Scope::Product(key.clone()) } else { Scope::Platform(key.clone()) };
    let health = super::health::load(&state, &health, scope).await?;
    let d = blocking(&gov, &state, move |gov, pool| views::detail(gov, pool, kind, &ns, &name)).await?;
    // KPI values and measured targets: consumption's own views (what it adds to the API's).
    let (kpis, targets) = blocking(&usage, &state, move |u, pool| {
        let g = u.org.snapshot(pool)?;
        Ok(if kind == "product" {
            (u.kpis(pool, &g, &key)?, Vec::new())
        } else {
            (Vec::new(), u.targets(pool, &g, &key)?)
        })
    })
    .await?;
    let e = &d.summary;
    let entity_ref = e.entity_ref.clone();
    let body = html! {
        @if let Some(text) = e.description.as_deref().filter(|t| !t.is_empty()) { p { (text) } }
        dl class="meta" {
            dt { "Ref" } dd { (entity_link(&entity_ref)) }
            dt { "Owner" } dd {
                (entity_link(e.owner.as_deref().unwrap_or("")))
                @if let Some(team) = e.owner.as_deref().and_then(super::teams::href_of) { " · " a href=(team) { "team page" } }
            }
            @if let Some(domain) = e.domain.as_deref().filter(|t| !t.is_empty()) { dt { "Domain" } dd { (entity_link(domain)) } }
            dt { "Lifecycle" } dd { (e.lifecycle.as_deref().unwrap_or("")) }
            dt { "Scorecard" } dd { (level(e.scorecard.as_ref().map(|c| c.level))) }
        }
        p {
            a href={ "/governance/graph?entity=" (urlencode(&entity_ref)) } { "Dependency graph" }
            @if kind == "platform" { " · " a href={ "/dashboard?platform=" (urlencode(&entity_ref)) } { "Consumption dashboard" } }
        }
        h2 { "Parts" }
        div class="wide" tabindex="0" { table { thead { tr { th { "Part" } th { "Kind" } th { "Owner" } } } tbody {
            @for part in &d.parts {
                tr { td { a href=(entity_href(&part.entity_ref)) { (part.label()) } } td { (part.kind) } td { (part.owner.as_deref().unwrap_or("")) } }
            }
        } } }
        h2 { "APIs" }
        div class="wide" tabindex="0" { table { thead { tr { th { "API" } th { "Lifecycle" } @if kind == "platform" { th { "Consumers" } } } } tbody {
            @for a in &e.apis {
                tr {
                    td { (entity_link(&a.entity_ref)) }
                    td { (a.lifecycle.as_deref().unwrap_or("")) }
                    @if kind == "platform" { td {
                        @for c in a.consumers.iter().flatten() { (entity_link(&c.entity_ref)) " " }
                    } }
                }
            }
        } } }
        @if kind == "product" {
            h2 { "Dependencies" }
            div class="wide" tabindex="0" { table { thead { tr { th { "From" } th { "Relation" } th { "To" } th { "Platforms" } } } tbody {
                @for dep in &d.dependencies {
                    tr { td { (entity_link(&dep.source)) } td { (dep.relation) } td { (entity_link(&dep.target)) }
                        td { @for p in &dep.platforms { (entity_link(p)) " " } } }
                }
            } } }
            h2 id="kpis" { "KPIs" }
            @for k in &kpis {
                @let unit = k.unit.as_deref().unwrap_or("");
                h3 { (k.name) " " span class="muted" { "(" (unit) ")" } }
                p { "Target " (value(k.target)) " (" (k.direction) "), now " (value(k.current)) ", before " (value(k.previous)) " · " (on_track(k.on_track)) }
                @let labels: Vec<String> = k.series.iter().map(|p| p.t.clone()).collect();
                @let values: Vec<Option<f64>> = k.series.iter().map(|p| Some(p.value)).collect();
                (chart::lines(&format!("{} over time", k.name), &labels, &[(k.name.as_str(), values)], k.target))
            }
        } @else {
            h2 { "Offerings" }
            ul { @for o in d.offerings() {
                li { (match o.api().filter(|a| !a.is_empty()) { Some(api) => api.to_owned(), None => o.to_string() }) }
            } }
            h2 { "Targets" }
            div class="wide" tabindex="0" { table { thead { tr { th { "Metric" } th { "API" } th class="num" { "Target" } th class="num" { "Current" } th { "Progress" } } } tbody {
                @for t in &targets {
                    tr { td { (t.metric) } td { (t.api.as_deref().unwrap_or("")) } td class="num" { (metric_value(&t.metric, Some(t.target))) } td class="num" { (metric_value(&t.metric, t.current)) }
                        td { (progress(t.progress)) " " (on_track(t.on_track)) } }
                }
            } } }
        }
        (super::health::section(&health))
        (super::roadmap::roadmap_section(&ctx, &plans, updated.as_deref()))
        (super::roadmap::demand_section(&plans))
    };
    Ok(respond(page(&ctx, e.label(), body)))
}

pub async fn product(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    usage: web::Data<Usage>,
    delivery: web::Data<Delivery>,
    health: web::Data<Health>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, Domains { gov, usage, delivery, health }, req, path.into_inner(), "product").await
}

pub async fn platform(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    usage: web::Data<Usage>,
    delivery: web::Data<Delivery>,
    health: web::Data<Health>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    detail(state, Domains { gov, usage, delivery, health }, req, path.into_inner(), "platform").await
}
