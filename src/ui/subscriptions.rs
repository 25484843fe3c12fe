//! Subscriptions and keys (product teams): their subscriptions with state and history; keys:
//! create (shown once, with a copy button), rotate, revoke.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::catalog::entity_link;
use super::layout::{Ctx, page};
use super::{CsrfForm, html as respond, see_other};
use crate::auth::Identity;
use crate::catalog::view::or_empty;
use crate::error::ApiError;
use crate::offerings::Offerings;
use crate::offerings::handlers::{self as api, KeyBody};
use crate::offerings::views::IssuedKey;
use crate::state::AppState;

/// `GET /subscriptions`.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let subs = super::home::my_subscriptions(&state, &ctx, "").await?;
    let body = html! {
        @if subs.is_empty() {
            p class="muted" { "No subscriptions of yours yet. Find an API in the " a href="/apis" { "marketplace" } "." }
        } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "API" } th { "Plan" } th { "Consumer" } th { "Status" } th { "Updated" } } }
                tbody { @for x in &subs {
                    tr { td { a href={ "/subscriptions/" (x.id) } { (x.api) } } td { (x.plan) } td { (entity_link(&x.consumer)) }
                        td { (x.status) } td { (x.updated_at) } }
                } }
            } }
        }
    };
    Ok(respond(page(&ctx, "Your subscriptions", body)))
}

/// The page of one subscription; `shown` is a key just made (shown this once).
async fn render(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    id: String,
    shown: Option<IssuedKey>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(req, state);
    let detail = api::subscription(&state.pool, id.clone()).await?;
    let sub = &detail.subscription;
    let keys = api::keys_of(&state.pool, &ctx.identity, id.clone()).await.ok();
    let consumer_owner = super::may_own(state, &ctx.identity, vec![crate::auth::ref_key(&sub.consumer)]).await;
    let live = matches!(sub.status.as_str(), "active" | "paused");
    let body = html! {
        @if let Some(k) = &shown { (secret(k)) }
        dl class="meta" {
            dt { "API" } dd { (entity_link(&sub.api)) }
            dt { "Plan" } dd { (sub.plan) }
            dt { "Consumer" } dd { (entity_link(&sub.consumer)) }
            dt { "Team" } dd { (or_empty(&sub.team)) }
            dt { "Status" } dd { strong { (sub.status) } }
        }
        h2 { "Keys" }
        @match &keys {
            None => p class="muted" { "Only the consumer's and the platform's owners see the keys." },
            Some(k) => {
                @let items = &k.items;
                @if items.is_empty() { p class="muted" { "No keys yet." } } @else {
                    div class="wide" tabindex="0" { table { thead { tr { th { "Key" } th { "Name" } th { "Status" } th { "Expires" } th { "Actions" } } } tbody {
                        @for key in items {
                            tr { td { code { (key.prefix) "…" } } td { (or_empty(&key.name)) } td { (key.status) } td { (or_empty(&key.expires_at)) }
                                td { @if consumer_owner && key.status == "active" {
                                    form method="post" action={ "/keys/" (key.id) "/rotate" } class="inline" { (ctx.csrf_field()) input type="hidden" name="subscription" value=(id); button type="submit" class="secondary" { "Rotate" } }
                                    " "
                                    form method="post" action={ "/keys/" (key.id) "/revoke" } class="inline" { (ctx.csrf_field()) input type="hidden" name="subscription" value=(id); button type="submit" class="danger" { "Revoke" } }
                                } }
                            }
                        }
                    } } }
                }
            }
        }
        @if consumer_owner && live {
            form method="post" action={ "/subscriptions/" (id) "/keys" } class="search" {
                (ctx.csrf_field())
                label { "Key name" input type="text" name="name" placeholder="production"; }
                button type="submit" { "Create a key" }
            }
        } @else if !live {
            p class="muted" { "Keys can be made once the subscription is active." }
        }
        h2 { "History" }
        div class="wide" tabindex="0" { table { thead { tr { th { "When" } th { "From" } th { "To" } th { "By" } th { "Reason" } } } tbody {
            @for h in &sub.history {
                tr { td { (h.at) } td { (or_empty(&h.from)) } td { (or_empty(&h.to)) } td { (h.by) } td { (or_empty(&h.reason)) } }
            }
        } } }
        @if !detail.usage.is_empty() {
            h2 { "Calls per minute (gateway)" }
            ul { @for m in detail.usage.iter().rev().take(10) { li { (m.minute) ": " (super::numbers::int(m.calls)) } } }
        }
    };
    let mut res = respond(page(&ctx, &format!("Subscription to {}", sub.api), body));
    if shown.is_some() {
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}

fn secret(k: &IssuedKey) -> Markup {
    html! {
        div class="notice" role="status" {
            p { strong { "Your new key, shown this once:" } " copy it now; portolan keeps only its hash." }
            p { code class="secret" id="new-key" { (k.key) } " " button type="button" data-copy="new-key" hidden { "Copy" } }
        }
    }
}

/// `GET /subscriptions/{id}`.
pub async fn one(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    render(&state, &req, path.into_inner(), None).await
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /subscriptions/{id}/keys`: the API's create_key; the page shows the key once.
pub async fn create_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    identity: Identity,
    path: web::Path<String>,
    form: CsrfForm<KeyForm>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let name = form.0.name.filter(|n| !n.trim().is_empty());
    let key = api::issue_key(&state.pool, &identity, id.clone(), KeyBody { name, expires_in_days: None }).await?;
    render(&state, &req, id, Some(key)).await
}

#[derive(Deserialize)]
pub struct KeyAction {
    subscription: String,
}

/// `POST /keys/{id}/rotate`: a new key (shown once); the old one stays valid for 24 hours.
pub async fn rotate_key(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    req: HttpRequest,
    identity: Identity,
    path: web::Path<String>,
    form: CsrfForm<KeyAction>,
) -> Result<HttpResponse, ApiError> {
    let key = api::rotate(&state.pool, &offerings, &identity, path.into_inner(), 24.0).await?;
    render(&state, &req, form.0.subscription, Some(key)).await
}

/// `POST /keys/{id}/revoke`: revoked at once.
pub async fn revoke_key(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    path: web::Path<String>,
    form: CsrfForm<KeyAction>,
) -> Result<HttpResponse, ApiError> {
    api::revoke(&state.pool, &offerings, &identity, path.into_inner()).await?;
    let sub: String = form.0.subscription.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Ok(see_other(&format!("/subscriptions/{sub}")))
}
