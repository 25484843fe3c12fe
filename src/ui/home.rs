//! The home page: search, what the person owns, and what needs them.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde_json::Value;

use super::catalog::{entity_href, entity_link, title_of};
use super::layout::{Ctx, page};
use super::{html as respond, json_of, query, s};
use crate::catalog::entity_api;
use crate::error::ApiError;
use crate::governance::handlers as portal;
use crate::offerings::handlers as offerings;
use crate::state::AppState;

/// Groups (and the user) the person owns through.
pub fn owner_refs(ctx: &Ctx) -> Vec<String> {
    ctx.identity.ownership.clone()
}

/// Subscriptions of the person's teams (every one in guest mode and for admins with no team).
pub async fn my_subscriptions(state: &web::Data<AppState>, ctx: &Ctx, status: &str) -> Result<Vec<Value>, ApiError> {
    let groups: Vec<String> = owner_refs(ctx).into_iter().filter(|o| o.starts_with("group:")).collect();
    if groups.is_empty() {
        if ctx.identity.admin {
            let v = json_of(offerings::list_subscriptions(state.clone(), query(&[("status", status)])?).await).await?;
            return Ok(v["items"].as_array().cloned().unwrap_or_default());
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for g in groups {
        let v =
            json_of(offerings::list_subscriptions(state.clone(), query(&[("team", &g), ("status", status)])?).await)
                .await?;
        out.extend(v["items"].as_array().cloned().unwrap_or_default());
    }
    Ok(out)
}

/// `GET /`.
pub async fn page_home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let owners = owner_refs(&ctx);
    let mut owned: Vec<Value> = Vec::new();
    if !owners.is_empty() {
        let filters: Vec<(&str, String)> = owners
            .iter()
            .map(|o| ("filter", format!("relations.ownedBy={o}")))
            .chain([("limit", "50".to_owned()), ("orderField", "metadata.name,asc".to_owned())])
            .collect();
        let qs = serde_urlencoded::to_string(&filters).map_err(anyhow::Error::from)?;
        owned = entity_api::query_page(&state, &qs).await?["items"].as_array().cloned().unwrap_or_default();
    }
    let mut findings: Vec<Value> = Vec::new();
    for o in owners.iter().filter(|o| o.starts_with("group:")) {
        let v = json_of(portal::list_findings(state.clone(), query(&[("owner", o)])?).await).await?;
        findings.extend(v["items"].as_array().cloned().unwrap_or_default());
    }
    let pending = super::approvals::pending_for(&state, &ctx).await?;
    let mut expiring: Vec<(Value, Value)> = Vec::new();
    if !owners.is_empty() {
        let soon = chrono::Utc::now() + chrono::Duration::days(14);
        for sub in my_subscriptions(&state, &ctx, "active").await?.into_iter().take(50) {
            let id = s(&sub, "/id").to_owned();
            let keys =
                json_of(offerings::list_keys(state.clone(), ctx.identity.clone(), web::Path::from(id)).await).await;
            for k in keys.ok().and_then(|k| k["items"].as_array().cloned()).unwrap_or_default() {
                let exp = s(&k, "/expiresAt");
                let due = chrono::DateTime::parse_from_rfc3339(exp).is_ok_and(|t| t < soon);
                if s(&k, "/status") == "active" && due {
                    expiring.push((sub.clone(), k));
                }
            }
        }
    }
    let body = html! {
        form class="search" method="get" action="/catalog" role="search" {
            label { "Search the catalog" input type="search" name="q" placeholder="name, title, description…"; }
            button type="submit" { "Search" }
        }
        p { "Find an API to use in the " a href="/apis" { "API marketplace" } ", browse the " a href="/catalog" { "catalog" } ", "
            a href="/products" { "products" } " and " a href="/platforms" { "platforms" } ", or see " a href="/governance" { "governance findings" } "." }
        h2 { "Needs you" }
        ul {
            li { a href="/approvals" { (pending.len()) " subscription requests waiting for approval" } }
            li { (findings.len()) " governance findings on what you own" }
            li { (expiring.len()) " API keys expiring within 14 days" }
        }
        @if !pending.is_empty() {
            table { thead { tr { th { "API" } th { "Consumer" } th { "Plan" } th { "Since" } } } tbody {
                @for p in pending.iter().take(10) { tr { td { (entity_link(s(p, "/api"))) } td { (entity_link(s(p, "/consumer"))) } td { (s(p, "/plan")) } td { (s(p, "/createdAt")) } } }
            } }
        }
        @if !findings.is_empty() {
            h2 { "Findings on your entities" }
            ul { @for f in findings.iter().take(20) {
                li { span class={ "sev-" (s(f, "/severity")) } { (s(f, "/severity")) } " " (entity_link(s(f, "/entityRef"))) ": " (s(f, "/message")) }
            } }
        }
        @if !expiring.is_empty() {
            h2 { "Keys expiring soon" }
            ul { @for (sub, k) in &expiring {
                li { a href={ "/subscriptions/" (s(sub, "/id")) } { (s(k, "/prefix")) "…" } " for " (s(sub, "/api")) ", expires " (s(k, "/expiresAt")) }
            } }
        }
        h2 { "What you own" }
        @if ctx.guest_mode && owners.is_empty() {
            p class="muted" { "In guest mode you own nothing and may do everything; sign in to see your own entities." }
        } @else if owned.is_empty() {
            p class="muted" { "Nothing in the catalog is owned by you or your groups." }
        } @else {
            ul class="cards" { @for e in &owned {
                @let r = format!("{}:{}/{}", s(e, "/kind").to_lowercase(), s(e, "/metadata/namespace"), s(e, "/metadata/name"));
                li class="card" { h3 { a href=(entity_href(&r)) { (title_of(e)) } } span class="muted" { (s(e, "/kind")) } }
            } }
        }
    };
    Ok(respond(page(&ctx, "Welcome to the portal", body)))
}
