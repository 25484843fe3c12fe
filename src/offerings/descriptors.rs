//! What follows the catalog: offerings from Platform descriptors, and subscriptions made from
//! consumers' `spec.consumesApis` ("treat all input as error": no form to fill in). Every
//! function here is idempotent: running it twice, or on two instances, changes nothing more.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::model::{Approval, Offering, Plan, PlanStatus, Status, offerings_of_platform};
use super::store::{self, subscriptions as subs};
use crate::catalog::facade as catalog;
use crate::db::{Pool, now_ms};

/// Who descriptor-driven changes are recorded as.
pub const CATALOG_ACTOR: &str = "catalog";

/// The annotation naming the plan a consumer takes for an API: `portolan.dev/plan.<api-name>`.
pub const PLAN_ANNOTATION: &str = "portolan.dev/plan.";

/// Re-reads every Platform's `spec.offerings` into the `offerings` table, then closes the live
/// subscriptions of plans that are closed.
pub fn refresh_offerings(pool: &Pool) -> anyhow::Result<()> {
    let mut by_api: BTreeMap<String, Offering> = BTreeMap::new();
    for (key, body) in catalog::bodies_of_kind(pool, "platform")? {
        let Ok(body) = serde_json::from_str::<Value>(&body) else { continue };
        for o in offerings_of_platform(&key, &body) {
            by_api.entry(o.api.clone()).or_insert(o);
        }
    }
    let offerings: Vec<Offering> = by_api.into_values().collect();
    store::replace_offerings(pool, &offerings)?;
    for o in &offerings {
        for p in o.plans.iter().filter(|p| p.status == PlanStatus::Closed) {
            let filter = subs::Filter { api: Some(o.api.clone()), live: true, ..Default::default() };
            for s in subs::list(pool, &filter)?.into_iter().filter(|s| s.plan == p.name) {
                let reason = format!("the plan {} was closed", p.name);
                close(pool, &s, &reason)?;
            }
        }
    }
    Ok(())
}

fn close(pool: &Pool, s: &subs::SubscriptionRow, reason: &str) -> anyhow::Result<()> {
    let event = subs::NewEvent {
        kind: "subscription.closed".into(),
        from: Some(s.status.clone()),
        to: Some(Status::Closed.as_str().into()),
        by: CATALOG_ACTOR.into(),
        reason: Some(reason.into()),
        ..Default::default()
    };
    subs::transition(pool, s, Status::Closed.as_str(), &s.plan, &event)?;
    Ok(())
}

/// A consumer as its descriptor says: the APIs it consumes, its owner and its plan annotations.
struct Consumer {
    consumes: HashSet<String>,
    owner: Option<String>,
    annotations: HashMap<String, String>,
}

fn consumers(pool: &Pool, keys: Option<&[String]>) -> anyhow::Result<HashMap<String, Consumer>> {
    let bodies = match keys {
        None => {
            let mut all = catalog::bodies_of_kind(pool, "component")?;
            all.extend(catalog::bodies_of_kind(pool, "product")?);
            all
        }
        Some(keys) => catalog::bodies_by_keys(pool, keys)?,
    };
    let mut out: HashMap<String, Consumer> = HashMap::new();
    for (key, body) in bodies {
        if !(key.starts_with("component:") || key.starts_with("product:")) {
            continue;
        }
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let annotations = body
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        Some((k.strip_prefix(PLAN_ANNOTATION)?.to_lowercase(), v.as_str()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(key, Consumer { consumes: HashSet::new(), owner: None, annotations });
    }
    let keys: Vec<String> = out.keys().cloned().collect();
    for (source, target) in catalog::relation_targets(pool, &keys, "consumesApi")? {
        if let Some(c) = out.get_mut(&source) {
            c.consumes.insert(target);
        }
    }
    for (source, target) in catalog::relation_targets(pool, &keys, "ownedBy")? {
        if let Some(c) = out.get_mut(&source) {
            c.owner.get_or_insert(target);
        }
    }
    Ok(out)
}

/// The owner (team) of a consumer, as a ref key.
pub fn owner_of(pool: &Pool, consumer: &str) -> anyhow::Result<Option<String>> {
    Ok(catalog::relation_targets(pool, &[consumer.to_owned()], "ownedBy")?.into_iter().map(|(_, t)| t).next())
}

/// Brings descriptor-made subscriptions in line with the consumers' descriptors: the named
/// consumers (`None`: every Component and Product) get a subscription for each offered API
/// they consume and lack one for; descriptor-made subscriptions whose `consumesApis` entry (or
/// whole consumer) is gone are scheduled to close after the grace period, and kept when the
/// entry comes back. Subscriptions made through the API are never touched.
pub fn sync_consumers(pool: &Pool, keys: Option<&[String]>, grace_ms: i64) -> anyhow::Result<()> {
    let offerings: HashMap<String, Offering> =
        store::list_offerings(pool)?.into_iter().map(|o| (o.api.clone(), o)).collect();
    let found = consumers(pool, keys)?;
    let now = now_ms();
    for (key, c) in &found {
        for api in &c.consumes {
            let Some(offering) = offerings.get(api) else { continue };
            let api_name = api.rsplit('/').next().unwrap_or(api);
            let plan = match c.annotations.get(api_name) {
                // A named plan is honoured while it is published or deprecated.
                Some(name) => {
                    offering.plan(name).filter(|p| matches!(p.status, PlanStatus::Published | PlanStatus::Deprecated))
                }
                None => offering.default_plan(),
            };
            if let Some(existing) = subs::live_of(pool, api, key)? {
                if existing.origin == "descriptor" && existing.closes_at.is_some() {
                    subs::set_closes_at(pool, &existing.id, None)?;
                }
                if let Some(plan) = plan.filter(|_| c.annotations.contains_key(api_name)) {
                    follow_annotation(pool, &existing, plan)?;
                }
                continue;
            }
            let Some(plan) = plan else {
                tracing::debug!(consumer = %key, api = %api, "No plan open to a descriptor-made subscription.");
                continue;
            };
            let status = if plan.approval == Approval::Auto { Status::Active } else { Status::Pending };
            let new = subs::NewSubscription {
                api: api.clone(),
                plan: plan.name.clone(),
                consumer: key.clone(),
                team: c.owner.clone(),
                status: status.as_str().into(),
                origin: "descriptor".into(),
            };
            let event = subs::NewEvent {
                kind: "subscription.requested".into(),
                to: Some(status.as_str().into()),
                plan: Some(plan.name.clone()),
                by: CATALOG_ACTOR.into(),
                reason: Some(format!("{key} consumes {api} (spec.consumesApis)")),
                ..Default::default()
            };
            if let Some(row) = subs::insert(pool, &new, &event)? {
                tracing::info!(subscription = %row.id, consumer = %key, api = %api, plan = %plan.name, "Subscribed from a descriptor.");
            }
        }
    }
    // Descriptor-made subscriptions whose entry is gone.
    let filter = subs::Filter { origin: Some("descriptor".into()), live: true, ..Default::default() };
    for s in subs::list(pool, &filter)? {
        let in_scope = match keys {
            None => true,
            Some(keys) => keys.contains(&s.consumer),
        };
        if !in_scope || found.get(&s.consumer).is_some_and(|c| c.consumes.contains(&s.api)) {
            continue;
        }
        match s.closes_at {
            Some(at) if at <= now => close(pool, &s, "the consumesApis entry was removed")?,
            Some(_) => {}
            None if grace_ms == 0 => close(pool, &s, "the consumesApis entry was removed")?,
            None => subs::set_closes_at(pool, &s.id, Some(now + grace_ms))?,
        }
    }
    Ok(())
}

/// Moves a live descriptor-made subscription to the plan its annotation now names: an active
/// one is transferred (keys kept) when that plan approves automatically; a manual plan needs its
/// platform owner, so the subscription stays where it is until they transfer it. Subscriptions
/// made through the API follow their owners, not annotations.
fn follow_annotation(pool: &Pool, s: &subs::SubscriptionRow, plan: &Plan) -> anyhow::Result<()> {
    if s.origin != "descriptor" || s.plan == plan.name || s.status != Status::Active.as_str() {
        return Ok(());
    }
    if plan.approval != Approval::Auto {
        tracing::info!(subscription = %s.id, plan = %plan.name, "The plan annotation names a manual plan; the platform owner transfers it.");
        return Ok(());
    }
    let event = subs::NewEvent {
        kind: "subscription.transferred".into(),
        from: Some(s.status.clone()),
        to: Some(s.status.clone()),
        plan: Some(plan.name.clone()),
        by: CATALOG_ACTOR.into(),
        reason: Some(format!("the {PLAN_ANNOTATION}<api> annotation names the plan {}", plan.name)),
        ..Default::default()
    };
    if subs::transition(pool, s, &s.status, &plan.name, &event)? {
        tracing::info!(subscription = %s.id, plan = %plan.name, "Moved to the plan its annotation names.");
    }
    Ok(())
}

/// Closes descriptor-made subscriptions whose grace period ended.
pub fn close_due(pool: &Pool) -> anyhow::Result<()> {
    let now = now_ms();
    let filter = subs::Filter { origin: Some("descriptor".into()), live: true, ..Default::default() };
    for s in subs::list(pool, &filter)? {
        if s.closes_at.is_some_and(|at| at <= now) {
            close(pool, &s, "the consumesApis entry was removed")?;
        }
    }
    Ok(())
}
