//! Approvals: pending subscription requests (platform owners) and template tasks waiting at an
//! approval gate (their approvers), each approved or rejected with a reason.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::catalog::entity_link;
use super::layout::{Ctx, page};
use super::{CsrfForm, html as respond, see_other};
use crate::catalog::view::or_empty;
use crate::error::ApiError;
use crate::offerings::Offerings;
use crate::offerings::handlers::{self as api, ActionBody};
use crate::offerings::views::{self, OfferingQuery, SubscriptionQuery, SubscriptionView};
use crate::scaffolder::Scaffolder;
use crate::scaffolder::tasks::Waiting;
use crate::state::AppState;

/// Offered API ref -> the platform's owner.
pub async fn api_owners(state: &web::Data<AppState>) -> Result<HashMap<String, String>, ApiError> {
    let f = views::offering_filter(&OfferingQuery::default())?;
    let pool = state.pool.clone();
    let items = web::block(move || views::offerings(&pool, &f)).await??.items;
    Ok(items.into_iter().map(|o| (o.api, o.owner.unwrap_or_default())).collect())
}

/// The subscriptions matching a query.
pub async fn subscriptions(state: &AppState, q: SubscriptionQuery) -> Result<Vec<SubscriptionView>, ApiError> {
    let filter = views::subscription_filter(q)?;
    let pool = state.pool.clone();
    Ok(web::block(move || views::subscription_list(&pool, &filter)).await??.items)
}

/// Whether the person decides for the platform behind an API.
pub fn decides(ctx: &Ctx, owners: &HashMap<String, String>, api: &str) -> bool {
    if !ctx.identity.can_write_catalog() {
        return false;
    }
    ctx.identity.admin || owners.get(api).is_some_and(|o| ctx.identity.ownership.iter().any(|x| x == o))
}

/// Pending requests the person may decide.
pub async fn pending_for(state: &web::Data<AppState>, ctx: &Ctx) -> Result<Vec<SubscriptionView>, ApiError> {
    let owners = api_owners(state).await?;
    let pending =
        subscriptions(state, SubscriptionQuery { status: Some("pending".into()), ..Default::default() }).await?;
    Ok(pending.into_iter().filter(|p| decides(ctx, &owners, &p.api)).collect())
}

/// Template tasks waiting for this person's decision.
async fn tasks_for(s: &web::Data<Scaffolder>, ctx: &Ctx) -> Result<Vec<Waiting>, ApiError> {
    if !ctx.identity.can_write_catalog() {
        return Ok(Vec::new());
    }
    let (s, by, owns, admin) =
        (s.clone().into_inner(), ctx.identity.actor(), ctx.identity.ownership.clone(), ctx.identity.admin);
    Ok(web::block(move || s.waiting_for(&by, &owns, admin)).await??)
}

/// The Approve and Reject form with a reason, posted to `action` (CSRF-protected); `back`, a
/// page to return to.
pub fn decision_form(ctx: &Ctx, action: &str, reason_id: &str, back: Option<&str>) -> maud::Markup {
    html! {
        form method="post" action=(action) class="decision" {
            (ctx.csrf_field())
            @if let Some(b) = back { input type="hidden" name="back" value=(b); }
            label { "Reason " input type="text" name="reason" id=(reason_id); }
            " " button type="submit" name="decision" value="approve" { "Approve" }
            " " button type="submit" name="decision" value="reject" class="danger" { "Reject" }
        }
    }
}

/// `GET /approvals`.
pub async fn list(
    state: web::Data<AppState>,
    scaffolder: web::Data<Scaffolder>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let pending = pending_for(&state, &ctx).await?;
    let tasks = tasks_for(&scaffolder, &ctx).await?;
    let done = super::catalog::params(&req).get("done").cloned();
    let body = html! {
        @if let Some(d) = &done { p class="notice" role="status" { "The request was " (d) "." } }
        h2 { "Subscription requests" }
        @if pending.is_empty() {
            p class="muted" { "No request is waiting for you." }
        } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "API" } th { "Plan" } th { "Consumer" } th { "Team" } th { "Asked" } th { "Decision" } } }
                tbody {
                    @for p in &pending {
                        @let id = &p.id;
                        @let reason = p.last_reason().unwrap_or("");
                        tr {
                            td { (entity_link(&p.api)) }
                            td { (p.plan) }
                            td { (entity_link(&p.consumer)) }
                            td { (or_empty(&p.team)) }
                            td { (p.created_at) @if !reason.is_empty() { br; span class="muted" { "“" (reason) "”" } } }
                            td { (decision_form(&ctx, &format!("/approvals/{id}"), &format!("reason-{id}"), None)) }
                        }
                    }
                }
            } }
        }
        h2 { "Template tasks" }
        @if tasks.is_empty() {
            p class="muted" { "No template task is waiting for you." }
        } @else {
            div class="wide" tabindex="0" { table class="tasks" {
                thead { tr { th { "Template" } th { "Waiting for" } th { "Asked by" } th { "Since" } th { "Decision" } } }
                tbody {
                    @for t in &tasks {
                        @let id = &t.id;
                        tr id={ "task-" (id) } {
                            td { (entity_link(&t.template)) @if let Some(step) = &t.step { br; span class="muted" { "at step " (step) } } }
                            td { (t.message) br; span class="muted" { (t.approvers.join(", ")) } }
                            td { (t.created_by.as_deref().unwrap_or("guest")) }
                            td { (crate::db::rfc3339(t.created_at)) }
                            td { (decision_form(&ctx, &format!("/approvals/tasks/{id}"), &format!("task-reason-{id}"), None)) }
                        }
                    }
                }
            } }
        }
    };
    Ok(respond(page(&ctx, "Approvals", body)))
}

/// `POST /approvals/tasks/{id}`: approves or rejects a waiting template task (one of its
/// approvers, or an admin; the scaffolder checks it).
pub async fn decide_task(
    scaffolder: web::Data<Scaffolder>,
    identity: crate::auth::Identity,
    path: web::Path<String>,
    form: CsrfForm<Decision>,
) -> Result<HttpResponse, ApiError> {
    let d = form.0;
    let approved = approved(&d.decision)?;
    let back = d
        .back
        .filter(|b| b.starts_with("/create/tasks/") && !b.contains(['?', '#']) && crate::auth::redirect::is_local(b));
    let (id, reason) = (path.into_inner(), d.reason.unwrap_or_default());
    let (s, by, owns, admin) = (scaffolder.into_inner(), identity.actor(), identity.ownership.clone(), identity.admin);
    let i = id.clone();
    web::block(move || s.decide(&i, approved, &by, &owns, admin, reason.trim()))
        .await??
        .map_err(|r| r.into_error(&id))?;
    let done = if approved { "approved" } else { "rejected" };
    Ok(see_other(&match back {
        Some(b) => format!("{b}?done={done}"),
        None => format!("/approvals?done={done}"),
    }))
}

/// Whether a form's decision approves (`approve`) or rejects (`reject`).
fn approved(decision: &str) -> Result<bool, ApiError> {
    match decision {
        "approve" => Ok(true),
        "reject" => Ok(false),
        other => Err(ApiError::input(format!("decision: \"{other}\" is not approve or reject"))),
    }
}

#[derive(Deserialize)]
pub struct Decision {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
    /// Where to go after the decision: a task's page (`/create/tasks/{id}`), else `/approvals`.
    #[serde(default)]
    back: Option<String>,
}

/// `POST /approvals/{id}`: approve or reject (the platform's owner; the API's handler checks it).
pub async fn decide(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: crate::auth::Identity,
    path: web::Path<String>,
    form: CsrfForm<Decision>,
) -> Result<HttpResponse, ApiError> {
    let d = form.0;
    let action = if approved(&d.decision)? { "approve" } else { "reject" };
    let reason = d.reason.filter(|r| !r.trim().is_empty());
    api::act(&state.pool, &offerings, &identity, path.into_inner(), action, ActionBody { reason, plan: None }).await?;
    Ok(see_other(&format!("/approvals?done={}", if action == "approve" { "approved" } else { "rejected" })))
}
