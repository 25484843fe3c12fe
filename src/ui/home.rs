//! The home page: search, what the person owns, and what needs them.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::approvals::subscriptions;
use super::catalog::{entity_href, entity_link};
use super::layout::{Ctx, page};
use super::{blocking, html as respond, opt};
use crate::catalog::entity_api;
use crate::catalog::view::{EntityView, or_empty};
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::rules::Finding;
use crate::governance::views::{self as governance, FindingsQuery};
use crate::offerings::handlers as api;
use crate::offerings::views::{KeyView, SubscriptionQuery, SubscriptionView};
use crate::state::AppState;

/// Groups (and the user) the person owns through.
pub fn owner_refs(ctx: &Ctx) -> Vec<String> {
    ctx.identity.ownership.clone()
}

/// Subscriptions of the person's teams (every one in guest mode and for admins with no team).
pub async fn my_subscriptions(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    status: &str,
) -> Result<Vec<SubscriptionView>, ApiError> {
    let groups: Vec<String> = owner_refs(ctx).into_iter().filter(|o| o.starts_with("group:")).collect();
    if groups.is_empty() {
        if ctx.identity.admin {
            return subscriptions(state, SubscriptionQuery { status: opt(status), ..Default::default() }).await;
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for g in groups {
        out.extend(
            subscriptions(state, SubscriptionQuery { team: opt(&g), status: opt(status), ..Default::default() })
                .await?,
        );
    }
    Ok(out)
}

/// `GET /`.
pub async fn page_home(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    catalog: web::Data<crate::catalog::Catalog>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let owners = owner_refs(&ctx);
    let mut owned: Vec<EntityView> = Vec::new();
    if !owners.is_empty() {
        let filters: Vec<(&str, String)> = owners
            .iter()
            .map(|o| ("filter", format!("relations.ownedBy={o}")))
            .chain([("limit", "50".to_owned()), ("orderField", "metadata.name,asc".to_owned())])
            .collect();
        let qs = serde_urlencoded::to_string(&filters).map_err(anyhow::Error::from)?;
        owned = entity_api::query_page(&catalog, &qs).await?.items;
    }
    let mut findings: Vec<Finding> = Vec::new();
    for o in owners.iter().filter(|o| o.starts_with("group:")) {
        let filter = governance::finding_filter(FindingsQuery { owner: opt(o), ..Default::default() })?;
        findings.extend(blocking(&gov, &state, move |_, pool| governance::findings(pool, &filter)).await?.items);
    }
    let pending = super::approvals::pending_for(&state, &ctx).await?;
    let mut expiring: Vec<(SubscriptionView, KeyView)> = Vec::new();
    if !owners.is_empty() {
        let soon = chrono::Utc::now() + chrono::Duration::days(14);
        for sub in my_subscriptions(&state, &ctx, "active").await?.into_iter().take(50) {
            let keys = api::keys_of(&state.pool, &ctx.identity, sub.id.clone()).await;
            for k in keys.map(|k| k.items).unwrap_or_default() {
                let exp = or_empty(&k.expires_at);
                let due = chrono::DateTime::parse_from_rfc3339(exp).is_ok_and(|t| t < soon);
                if k.status == "active" && due {
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
            a href="/products" { "products" } " and " a href="/platforms" { "platforms" } ", or see " a href="/governance" { "governance findings" } ". "
            "Starting something new? " a href="/create" { "Create it from a golden path" } "." }
        h2 { "Needs you" }
        ul {
            li { a href="/approvals" { (super::numbers::count(pending.len())) " subscription requests waiting for approval" } }
            li { (super::numbers::count(findings.len())) " governance findings on what you own" }
            li { (super::numbers::count(expiring.len())) " API keys expiring within 14 days" }
        }
        @if !pending.is_empty() {
            div class="wide" tabindex="0" { table { thead { tr { th { "API" } th { "Consumer" } th { "Plan" } th { "Since" } } } tbody {
                @for p in pending.iter().take(10) { tr { td { (entity_link(&p.api)) } td { (entity_link(&p.consumer)) } td { (p.plan) } td { (p.created_at) } } }
            } } }
        }
        @if !findings.is_empty() {
            h2 { "Findings on your entities" }
            ul { @for f in findings.iter().take(20) {
                li { span class={ "sev-" (f.severity.as_str()) } { (f.severity.as_str()) } " " (entity_link(&f.entity_ref)) ": " (f.message) }
            } }
        }
        @if !expiring.is_empty() {
            h2 { "Keys expiring soon" }
            ul { @for (sub, k) in &expiring {
                li { a href={ "/subscriptions/" (sub.id) } { (k.prefix) "…" } " for " (sub.api) ", expires " (or_empty(&k.expires_at)) }
            } }
        }
        h2 { "What you own" }
        @if ctx.guest_mode && owners.is_empty() {
            p class="muted" { "In guest mode you own nothing and may do everything; sign in to see your own entities." }
        } @else if owned.is_empty() {
            p class="muted" { "Nothing in the catalog is owned by you or your groups." }
        } @else {
            ul class="cards" { @for e in &owned {
                li class="card" { h3 { a href=(entity_href(&e.entity_ref())) { (e.label()) } } span class="muted" { (or_empty(&e.kind)) } }
            } }
        }
    };
    Ok(respond(page(&ctx, "Welcome to the portal", body)))
}
