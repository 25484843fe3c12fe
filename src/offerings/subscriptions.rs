//! Requesting and moving subscriptions (blocking: call from `web::block`), and their JSON.
//! Who may act is checked by the handlers before these run.

use std::collections::HashMap;

use serde_json::Value;

use super::descriptors::owner_of;
use super::model::{Action, Approval, PlanStatus, Status, request_ref};
use super::store::{self, subscriptions as subs};
use super::views::{HistoryEntry, SubscriptionView};
use crate::catalog::facade as catalog;
use crate::db::{Pool, rfc3339};
use crate::error::ApiError;

/// A request's API ref as a key (a plain name means `api:default/<name>`).
pub fn api_key(raw: &str) -> Result<String, ApiError> {
    request_ref(raw, "api").ok_or_else(|| ApiError::input(format!("api: {raw:?} is not an entity reference")))
}

/// A request's consumer ref as a key (a plain name means `component:default/<name>`).
pub fn consumer_key(raw: &str) -> Result<String, ApiError> {
    request_ref(raw, "component")
        .ok_or_else(|| ApiError::input(format!("consumer: {raw:?} is not an entity reference")))
}

/// Checks a new subscription request: the API is offered, the plan exists and is open, the
/// consumer is a Component or Product in the catalog. Returns the platform that offers it.
pub fn check_request(pool: &Pool, api: &str, plan: &str, consumer: &str) -> Result<String, ApiError> {
    let offering =
        store::get_offering(pool, api)?.ok_or_else(|| ApiError::not_found(format!("{api} is not offered")))?;
    let p = offering.plan(plan).ok_or_else(|| ApiError::not_found(format!("{api} has no plan named {plan:?}")))?;
    if p.status != PlanStatus::Published {
        let status = serde_json::to_value(p.status).unwrap_or(Value::Null);
        return Err(ApiError::conflict(format!(
            "The plan {plan} of {api} is {}: it takes no new subscriptions",
            status.as_str().unwrap_or("closed")
        )));
    }
    if !(consumer.starts_with("component:") || consumer.starts_with("product:")) {
        return Err(ApiError::input(format!("consumer: {consumer} is neither a Component nor a Product")));
    }
    if !catalog::entity_exists(pool, consumer)? {
        return Err(ApiError::not_found(format!("No entity {consumer} in the catalog")));
    }
    Ok(offering.platform)
}

/// Creates a subscription through the API: active at once on an auto plan, else pending.
pub fn request(
    pool: &Pool,
    api: &str,
    plan: &str,
    consumer: &str,
    reason: Option<String>,
    by: &str,
) -> Result<subs::SubscriptionRow, ApiError> {
    check_request(pool, api, plan, consumer)?;
    let offering =
        store::get_offering(pool, api)?.ok_or_else(|| ApiError::not_found(format!("{api} is not offered")))?;
    let approval = offering.plan(plan).map(|p| p.approval).unwrap_or(Approval::Manual);
    let status = if approval == Approval::Auto { Status::Active } else { Status::Pending };
    let new = subs::NewSubscription {
        api: api.to_owned(),
        plan: plan.to_owned(),
        consumer: consumer.to_owned(),
        team: owner_of(pool, consumer)?,
        status: status.as_str().into(),
        origin: "api".into(),
    };
    let event = subs::NewEvent {
        kind: "subscription.requested".into(),
        to: Some(status.as_str().into()),
        plan: Some(plan.to_owned()),
        by: by.to_owned(),
        reason,
        ..Default::default()
    };
    subs::insert(pool, &new, &event)?
        .ok_or_else(|| ApiError::conflict(format!("{consumer} already has a live subscription to {api}")))
}

/// Applies an action to a subscription, or answers 409 naming its current state.
pub fn act(
    pool: &Pool,
    sub: &subs::SubscriptionRow,
    action: Action,
    plan: Option<&str>,
    reason: Option<String>,
    by: &str,
) -> Result<subs::SubscriptionRow, ApiError> {
    let from = Status::parse(&sub.status).unwrap_or(Status::Closed);
    let Some(to) = action.next(from) else {
        return Err(ApiError::conflict(format!(
            "The subscription is {}: it cannot be {}",
            from.as_str(),
            past(action)
        )));
    };
    let mut new_plan = sub.plan.clone();
    if action == Action::Transfer {
        let plan = plan.ok_or_else(|| ApiError::input("transfer needs {\"plan\": <name>}"))?;
        let offering = store::get_offering(pool, &sub.api)?
            .ok_or_else(|| ApiError::conflict(format!("{} is no longer offered", sub.api)))?;
        let p = offering
            .plan(plan)
            .ok_or_else(|| ApiError::not_found(format!("{} has no plan named {plan:?}", sub.api)))?;
        if p.name == sub.plan {
            return Err(ApiError::conflict(format!("The subscription is already on the plan {plan}")));
        }
        if p.status != PlanStatus::Published {
            return Err(ApiError::conflict(format!("The plan {plan} takes no new subscriptions")));
        }
        new_plan = p.name.clone();
    }
    let event = subs::NewEvent {
        kind: format!("subscription.{}", past(action)),
        from: Some(from.as_str().into()),
        to: Some(to.as_str().into()),
        plan: (action == Action::Transfer).then(|| new_plan.clone()),
        by: by.to_owned(),
        reason,
        ..Default::default()
    };
    if !subs::transition(pool, sub, to.as_str(), &new_plan, &event)? {
        let now = subs::get(pool, &sub.id)?.map(|s| s.status).unwrap_or_default();
        return Err(ApiError::conflict(format!(
            "The subscription is {now}: it changed while this request ran; it cannot be {}",
            past(action)
        )));
    }
    subs::get(pool, &sub.id)?.ok_or_else(|| ApiError::not_found("The subscription vanished"))
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Approve => "approved",
        Action::Reject => "rejected",
        Action::Pause => "paused",
        Action::Resume => "resumed",
        Action::Transfer => "transferred",
        Action::Close => "closed",
    }
}

/// The API's view of these subscriptions, with their history.
pub fn render(pool: &Pool, rows: &[subs::SubscriptionRow]) -> anyhow::Result<Vec<SubscriptionView>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut history: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
    for e in subs::events_of(pool, &ids)? {
        if e.to_status.is_none() {
            continue;
        }
        let entry = HistoryEntry {
            from: e.from_status,
            to: e.to_status,
            by: e.by_who,
            at: rfc3339(e.at),
            reason: e.reason,
            plan: e.plan,
        };
        history.entry(e.subscription_id).or_default().push(entry);
    }
    Ok(rows
        .iter()
        .map(|r| SubscriptionView {
            id: r.id.clone(),
            api: r.api.clone(),
            plan: r.plan.clone(),
            consumer: r.consumer.clone(),
            team: r.team.clone(),
            status: r.status.clone(),
            origin: r.origin.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            closes_at: r.closes_at.map(rfc3339),
            history: history.remove(&r.id).unwrap_or_default(),
        })
        .collect())
}

pub fn render_one(pool: &Pool, row: &subs::SubscriptionRow) -> anyhow::Result<SubscriptionView> {
    render(pool, std::slice::from_ref(row))?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the subscription {} has no view", row.id))
}
