//! The API marketplace (product teams): offered APIs searchable by platform, domain and text;
//! an API's page with its plans, docs and consumers, and the Subscribe form.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::catalog::{entity_href, entity_link, params, swagger_href};
use super::layout::{Ctx, page, urlencode};
use super::numbers::{count, int};
use super::{CsrfForm, html as respond, opt, see_other};
use crate::catalog::entity_api;
use crate::catalog::view::or_empty;
use crate::error::ApiError;
use crate::offerings::Offerings;
use crate::offerings::handlers::{self as api, SubscribeBody};
use crate::offerings::model::PlanStatus;
use crate::offerings::views::{self, OfferingQuery, PlanView};
use crate::state::AppState;

/// Most consumers a picker lists as options; past it, a text field with suggestions.
const PICKER_MAX: usize = 300;

fn plan_line(p: &PlanView) -> Markup {
    html! {
        (p.plan.approval.as_str()) " approval"
        @if let Some(q) = &p.plan.quota { ", quota " (int(q.requests)) " per " (q.period) }
        @if let Some(r) = &p.plan.rate_limit { ", " (int(r.requests)) " per " (r.period) }
    }
}

/// `GET /apis?q=&platform=&domain=`.
pub async fn marketplace(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let everything = views::offering_filter(&OfferingQuery::default())?;
    let filter = views::offering_filter(&OfferingQuery {
        q: opt(g("q")),
        platform: opt(g("platform")),
        domain: opt(g("domain")),
        lifecycle: None,
    })?;
    let pool = state.pool.clone();
    let (items, found) = web::block(move || {
        Ok::<_, ApiError>((views::offerings(&pool, &everything)?.items, views::offerings(&pool, &filter)?.items))
    })
    .await??;
    let platforms: BTreeSet<&str> = items.iter().map(|o| o.platform.as_str()).filter(|x| !x.is_empty()).collect();
    let domains: BTreeSet<&str> = items.iter().filter_map(|o| o.domain.as_deref()).filter(|x| !x.is_empty()).collect();
    let body = html! {
        form class="search" method="get" action="/apis" role="search" {
            label { "Search APIs" input type="search" name="q" value=(g("q")); }
            label { "Platform" select name="platform" { option value="" { "any" } @for x in &platforms { option value=(x) selected[g("platform") == *x] { (x) } } } }
            label { "Domain" select name="domain" { option value="" { "any" } @for x in &domains { option value=(x) selected[g("domain") == *x] { (x) } } } }
            button type="submit" { "Search" }
        }
        p class="muted" { (count(found.len())) " offered APIs" }
        ul class="cards" {
            @for o in &found {
                @let (ns, name) = split_ref(&o.api);
                @let title = or_empty(&o.title);
                li class="card" {
                    h3 { a href={ "/apis/" (urlencode(ns)) "/" (urlencode(name)) } { (if title.is_empty() { name } else { title }) } }
                    p { (or_empty(&o.description)) }
                    p class="muted" { (o.platform) " · " (count(o.plans.len())) " plans · " (int(o.subscribers)) " subscribers" }
                }
            }
        }
    };
    Ok(respond(page(&ctx, "API marketplace", body)))
}

/// `api:ns/name` -> (ns, name).
pub fn split_ref(r: &str) -> (&str, &str) {
    let rest = r.split_once(':').map_or(r, |(_, x)| x);
    rest.split_once('/').unwrap_or(("default", rest))
}

/// Components and products the person may subscribe: their own, or every one for admins and guests.
async fn consumer_choices(catalog: &crate::catalog::Catalog, ctx: &Ctx) -> Result<(Vec<String>, bool), ApiError> {
    if !ctx.identity.can_write_catalog() {
        return Ok((Vec::new(), false));
    }
    let mut pairs: Vec<(&str, String)> = vec![
        // One more than shown, uncounted: enough to tell whether there are more.
        ("limit", (PICKER_MAX + 1).to_string()),
        ("totalItems", "exclude".into()),
        ("orderField", "metadata.name,asc".into()),
        ("fields", "kind,metadata.name,metadata.namespace".into()),
    ];
    if ctx.identity.admin {
        pairs.push(("filter", "kind=component,kind=product".into()));
    } else {
        if ctx.identity.ownership.is_empty() {
            return Ok((Vec::new(), false));
        }
        // One filter set: repeated keys mean "any of", so the request stays far below the
        // reader limit on predicate leaves whatever the number of groups (up to 400 shown).
        let owners: Vec<String> =
            ctx.identity.ownership.iter().take(400).map(|o| format!("relations.ownedBy={o}")).collect();
        pairs.push(("filter", format!("kind=component,kind=product,{}", owners.join(","))));
    }
    let qs = serde_urlencoded::to_string(&pairs).map_err(anyhow::Error::from)?;
    let v = entity_api::query_page(catalog, &qs).await?;
    let mut refs: Vec<String> = v.items.iter().map(|e| e.entity_ref()).collect();
    let more = refs.len() > PICKER_MAX;
    refs.truncate(PICKER_MAX);
    Ok((refs, more))
}

/// `GET /apis/{namespace}/{api}`.
pub async fn api_page(
    state: web::Data<AppState>,
    catalog: web::Data<crate::catalog::Catalog>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let (pool, lookup) = (state.pool.clone(), (ns.clone(), name.clone()));
    let detail = web::block(move || views::offering(&pool, &lookup.0, &lookup.1)).await??;
    let o = &detail.offering;
    let api_ref = o.api.clone();
    let published: Vec<&PlanView> = o.plans.iter().filter(|p| p.plan.status == PlanStatus::Published).collect();
    let (choices, more) = consumer_choices(&catalog, &ctx).await?;
    let title = match or_empty(&o.title) {
        "" => name.clone(),
        t => t.to_owned(),
    };
    let body = html! {
        p { (or_empty(&o.description)) }
        dl class="meta" {
            dt { "API" } dd { (entity_link(&api_ref)) }
            dt { "Platform" } dd { (entity_link(&o.platform)) }
            dt { "Owner" } dd { (or_empty(&o.owner)) }
            dt { "Lifecycle" } dd { (or_empty(&o.lifecycle)) }
            dt { "Docs" } dd {
                a href=(entity_href(&api_ref)) { @if o.has_definition { "Definition and details" } @else { "Details" } }
                @if o.has_definition && or_empty(&o.api_type).eq_ignore_ascii_case("openapi") {
                    @let (api_ns, api_name) = split_ref(&api_ref);
                    " · " a href=(swagger_href(api_ns, api_name)) { "Swagger UI" }
                }
            }
        }
        h2 { "Plans" }
        div class="wide" tabindex="0" { table {
            thead { tr { th { "Plan" } th { "Terms" } th { "Status" } th class="num" { "Subscriptions" } th { "Description" } } }
            tbody { @for p in &o.plans {
                tr { td { (p.plan.name) } td { (plan_line(p)) } td { (p.plan.status.as_str()) } td class="num" { (int(p.subscriptions)) } td { (or_empty(&p.plan.description)) } }
            } }
        } }
        h2 { "Subscribe" }
        @if choices.is_empty() {
            p class="muted" { @if ctx.identity.is_anonymous() { a href={ "/signin?redirect=" (urlencode(&ctx.path)) } { "Sign in" } " to subscribe." } @else { "You own no component or product that could subscribe." } }
        } @else if published.is_empty() {
            p class="muted" { "No plan is open for new subscriptions." }
        } @else {
            form method="post" action={ "/apis/" (urlencode(&ns)) "/" (urlencode(&name)) "/subscribe" } class="search" {
                (ctx.csrf_field())
                label { "Plan" select name="plan" { @for p in &published { option value=(p.plan.name) { (p.plan.name) " (" (p.plan.approval.as_str()) ")" } } } }
                @if !more {
                    label { "Consumer" select name="consumer" { @for c in &choices { option value=(c) { (c) } } } }
                } @else {
                    label { "Consumer (a component or product ref)" input type="text" name="consumer" list="consumers" required; }
                    datalist id="consumers" { @for c in &choices { option value=(c) {} } }
                }
                label { "Reason (for manual plans)" input type="text" name="reason"; }
                button type="submit" { "Subscribe" }
            }
        }
        h2 { "Consumers" }
        div class="wide" tabindex="0" { table {
            thead { tr { th { "Consumer" } th { "Team" } th { "Plan" } th { "Status" } } }
            tbody { @for c in &detail.consumers {
                tr { td { (entity_link(&c.consumer)) } td { (or_empty(&c.team)) } td { (c.plan) } td { (c.status) } }
            } }
        } }
    };
    Ok(respond(page(&ctx, &title, body)))
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    plan: String,
    consumer: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /apis/{namespace}/{api}/subscribe`: the API's create_subscription (it checks the
/// consumer's owner), then the new subscription's page.
pub async fn subscribe(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: crate::auth::Identity,
    path: web::Path<(String, String)>,
    form: CsrfForm<SubscribeForm>,
) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let f = form.0;
    let reason = f.reason.filter(|r| !r.trim().is_empty());
    let body =
        SubscribeBody { api: format!("api:{ns}/{name}"), plan: f.plan, consumer: f.consumer.trim().to_owned(), reason };
    let sub = api::subscribe(&state.pool, &offerings, &identity, body).await?;
    Ok(see_other(&format!("/subscriptions/{}", sub.id)))
}
