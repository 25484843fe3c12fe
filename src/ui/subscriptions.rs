//! Subscriptions and keys (product teams): their subscriptions with state and history; keys:
//! create (shown once, with a copy button), rotate, revoke.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::entity_link;
use super::layout::{Ctx, page};
use super::{CsrfForm, html as respond, json_of, s, see_other};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::offerings::handlers as offerings;
use crate::state::AppState;

/// `GET /subscriptions`.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let subs = super::home::my_subscriptions(&state, &ctx, "").await?;
    let body = html! {
        @if subs.is_empty() {
            p class="muted" { "No subscriptions of yours yet. Find an API in the " a href="/apis" { "marketplace" } "." }
        } @else {
            table {
                thead { tr { th { "API" } th { "Plan" } th { "Consumer" } th { "Status" } th { "Updated" } } }
                tbody { @for x in &subs {
                    tr { td { a href={ "/subscriptions/" (s(x, "/id")) } { (s(x, "/api")) } } td { (s(x, "/plan")) } td { (entity_link(s(x, "/consumer"))) }
                        td { (s(x, "/status")) } td { (s(x, "/updatedAt")) } }
                } }
            }
        }
    };
    Ok(respond(page(&ctx, "Your subscriptions", body)))
}

/// The page of one subscription; `shown` is a key just made (shown this once).
async fn render(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    id: String,
    shown: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(req, state);
    let sub = json_of(offerings::get_subscription(state.clone(), web::Path::from(id.clone())).await).await?;
    let keys = json_of(offerings::list_keys(state.clone(), ctx.identity.clone(), web::Path::from(id.clone())).await)
        .await
        .ok();
    let consumer_owner = super::may_own(state, &ctx.identity, vec![crate::auth::ref_key(s(&sub, "/consumer"))]).await;
    let live = matches!(s(&sub, "/status"), "active" | "paused");
    let body = html! {
        @if let Some(k) = &shown { (secret(k)) }
        dl class="meta" {
            dt { "API" } dd { (entity_link(s(&sub, "/api"))) }
            dt { "Plan" } dd { (s(&sub, "/plan")) }
            dt { "Consumer" } dd { (entity_link(s(&sub, "/consumer"))) }
            dt { "Team" } dd { (s(&sub, "/team")) }
            dt { "Status" } dd { strong { (s(&sub, "/status")) } }
        }
        h2 { "Keys" }
        @match &keys {
            None => p class="muted" { "Only the consumer's and the platform's owners see the keys." },
            Some(k) => {
                @let items = k["items"].as_array().cloned().unwrap_or_default();
                @if items.is_empty() { p class="muted" { "No keys yet." } } @else {
                    table { thead { tr { th { "Key" } th { "Name" } th { "Status" } th { "Expires" } th { "Actions" } } } tbody {
                        @for key in &items {
                            tr { td { code { (s(key, "/prefix")) "…" } } td { (s(key, "/name")) } td { (s(key, "/status")) } td { (s(key, "/expiresAt")) }
                                td { @if consumer_owner && s(key, "/status") == "active" {
                                    form method="post" action={ "/keys/" (s(key, "/id")) "/rotate" } class="inline" { (ctx.csrf_field()) input type="hidden" name="subscription" value=(id); button type="submit" class="secondary" { "Rotate" } }
                                    " "
                                    form method="post" action={ "/keys/" (s(key, "/id")) "/revoke" } class="inline" { (ctx.csrf_field()) input type="hidden" name="subscription" value=(id); button type="submit" class="danger" { "Revoke" } }
                                } }
                            }
                        }
                    } }
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
        table { thead { tr { th { "When" } th { "From" } th { "To" } th { "By" } th { "Reason" } } } tbody {
            @for h in sub["history"].as_array().into_iter().flatten() {
                tr { td { (s(h, "/at")) } td { (s(h, "/from")) } td { (s(h, "/to")) } td { (s(h, "/by")) } td { (s(h, "/reason")) } }
            }
        } }
        @if let Some(u) = sub["usage"].as_array().filter(|u| !u.is_empty()) {
            h2 { "Calls per minute (gateway)" }
            ul { @for m in u.iter().rev().take(10) { li { (s(m, "/minute")) ": " (m["calls"]) } } }
        }
    };
    let mut res = respond(page(&ctx, &format!("Subscription to {}", s(&sub, "/api")), body));
    if shown.is_some() {
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}

fn secret(k: &Value) -> Markup {
    html! {
        div class="notice" role="status" {
            p { strong { "Your new key, shown this once:" } " copy it now; portolan keeps only its hash." }
            p { code class="secret" id="new-key" { (s(k, "/key")) } " " button type="button" data-copy="new-key" hidden { "Copy" } }
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
    let body: crate::error::Body<offerings::KeyBody> = super::body(json!({ "name": name }))?;
    let body = crate::error::OptionalBody(Some(body.into_inner()));
    let key = json_of(offerings::create_key(state.clone(), identity, web::Path::from(id.clone()), body).await).await?;
    render(&state, &req, id, Some(key)).await
}

#[derive(Deserialize)]
pub struct KeyAction {
    subscription: String,
}

/// `POST /keys/{id}/rotate`: a new key (shown once); the old one stays valid for 24 hours.
pub async fn rotate_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    identity: Identity,
    path: web::Path<String>,
    form: CsrfForm<KeyAction>,
) -> Result<HttpResponse, ApiError> {
    let key =
        json_of(offerings::rotate_key(state.clone(), identity, path, crate::error::OptionalBody(None)).await).await?;
    render(&state, &req, form.0.subscription, Some(key)).await
}

/// `POST /keys/{id}/revoke`: revoked at once.
pub async fn revoke_key(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
    form: CsrfForm<KeyAction>,
) -> Result<HttpResponse, ApiError> {
    json_of(offerings::revoke_key(state, identity, path).await).await?;
    let sub: String = form.0.subscription.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Ok(see_other(&format!("/subscriptions/{sub}")))
}
