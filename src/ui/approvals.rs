//! Approvals (platform owners): pending subscription requests, approve or reject with a reason.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::entity_link;
use super::layout::{Ctx, page};
use super::{CsrfForm, html as respond, json_of, query, s, see_other};
use crate::error::ApiError;
use crate::offerings::handlers as offerings;
use crate::state::AppState;

/// Offered API ref -> the platform's owner.
pub async fn api_owners(state: &web::Data<AppState>) -> Result<HashMap<String, String>, ApiError> {
    let v = json_of(offerings::list_offerings(state.clone(), query(&[])?).await).await?;
    Ok(v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| (s(o, "/api").to_owned(), s(o, "/owner").to_owned()))
        .collect())
}

/// Whether the person decides for the platform behind an API.
pub fn decides(ctx: &Ctx, owners: &HashMap<String, String>, api: &str) -> bool {
    if !ctx.identity.can_write_catalog() {
        return false;
    }
    ctx.identity.admin || owners.get(api).is_some_and(|o| ctx.identity.ownership.iter().any(|x| x == o))
}

/// Pending requests the person may decide.
pub async fn pending_for(state: &web::Data<AppState>, ctx: &Ctx) -> Result<Vec<Value>, ApiError> {
    let owners = api_owners(state).await?;
    let v = json_of(offerings::list_subscriptions(state.clone(), query(&[("status", "pending")])?).await).await?;
    Ok(v["items"].as_array().into_iter().flatten().filter(|p| decides(ctx, &owners, s(p, "/api"))).cloned().collect())
}

/// `GET /approvals`.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let pending = pending_for(&state, &ctx).await?;
    let done = super::catalog::params(&req).get("done").cloned();
    let body = html! {
        @if let Some(d) = &done { p class="notice" role="status" { "The request was " (d) "." } }
        @if pending.is_empty() {
            p class="muted" { "No request is waiting for you." }
        } @else {
            table {
                thead { tr { th { "API" } th { "Plan" } th { "Consumer" } th { "Team" } th { "Asked" } th { "Decision" } } }
                tbody {
                    @for p in &pending {
                        @let id = s(p, "/id");
                        @let reason = p["history"].as_array().and_then(|h| h.last()).map(|h| s(h, "/reason")).unwrap_or("");
                        tr {
                            td { (entity_link(s(p, "/api"))) }
                            td { (s(p, "/plan")) }
                            td { (entity_link(s(p, "/consumer"))) }
                            td { (s(p, "/team")) }
                            td { (s(p, "/createdAt")) @if !reason.is_empty() { br; span class="muted" { "“" (reason) "”" } } }
                            td {
                                form method="post" action={ "/approvals/" (id) } {
                                    (ctx.csrf_field())
                                    label { "Reason " input type="text" name="reason" id={ "reason-" (id) }; }
                                    " "
                                    button type="submit" name="decision" value="approve" { "Approve" }
                                    " "
                                    button type="submit" name="decision" value="reject" class="danger" { "Reject" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(page(&ctx, "Approvals", body)))
}

#[derive(Deserialize)]
pub struct Decision {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /approvals/{id}`: approve or reject (the platform's owner; the API's handler checks it).
pub async fn decide(
    state: web::Data<AppState>,
    identity: crate::auth::Identity,
    path: web::Path<String>,
    form: CsrfForm<Decision>,
) -> Result<HttpResponse, ApiError> {
    let d = form.0;
    let action = match d.decision.as_str() {
        "approve" => "approve",
        "reject" => "reject",
        other => return Err(ApiError::input(format!("decision: \"{other}\" is not approve or reject"))),
    };
    let reason = d.reason.filter(|r| !r.trim().is_empty());
    let body: crate::error::Body<offerings::ActionBody> = super::body(json!({ "reason": reason }))?;
    offerings::act_on_subscription(
        state,
        identity,
        web::Path::from((path.into_inner(), action.to_owned())),
        crate::error::OptionalBody(Some(body.into_inner())),
    )
    .await?;
    Ok(see_other(&format!("/approvals?done={}", if action == "approve" { "approved" } else { "rejected" })))
}
