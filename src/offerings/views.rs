//! What the offerings domain answers, typed: offerings with their plans and consumers,
//! subscriptions with their history and gateway usage, keys (never their secrets) and a key just
//! issued (its secret shown once). The API serialises these structs; the web UI renders their
//! fields. The read functions are blocking: call them from `web::block`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Offering, Plan, request_ref};
use super::store::{self, keys as key_store, subscriptions as subs};
use super::subscriptions;
use crate::catalog::facade as catalog;
use crate::db::{Pool, rfc3339};
use crate::error::ApiError;

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A plan with its live subscriptions.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    #[serde(flatten)]
    pub plan: Plan,
    pub subscriptions: i64,
}

/// An offered API, with what the catalog says about it and its platform.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferingView {
    pub api: String,
    pub platform: String,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub lifecycle: Option<String>,
    pub api_type: Option<String>,
    pub has_definition: bool,
    pub plans: Vec<PlanView>,
    pub subscribers: i64,
}

/// A live subscription to an offered API, as its page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OfferingConsumer {
    pub consumer: String,
    pub team: Option<String>,
    pub plan: String,
    pub status: String,
    pub subscription: String,
    pub origin: String,
}

/// One offered API with its consumers.
#[derive(Debug, Clone, Serialize)]
pub struct OfferingDetail {
    #[serde(flatten)]
    pub offering: OfferingView,
    pub consumers: Vec<OfferingConsumer>,
}

fn body_of(bodies: &HashMap<String, Value>, key: &str, pointer: &str) -> Option<String> {
    bodies.get(key).and_then(|b| b.pointer(pointer)).and_then(Value::as_str).map(str::to_owned)
}

/// The offerings with what the catalog says about their APIs and platforms.
fn offering_items(pool: &Pool) -> anyhow::Result<Vec<(OfferingView, Offering)>> {
    let offerings = store::list_offerings(pool)?;
    let mut keys: Vec<String> = offerings.iter().flat_map(|o| [o.api.clone(), o.platform.clone()]).collect();
    keys.sort();
    keys.dedup();
    let bodies: HashMap<String, Value> = catalog::bodies_by_keys(pool, &keys)?
        .into_iter()
        .filter_map(|(k, b)| Some((k, serde_json::from_str(&b).ok()?)))
        .collect();
    let platforms: Vec<String> = offerings.iter().map(|o| o.platform.clone()).collect();
    let owners: HashMap<String, String> = catalog::relation_targets(pool, &platforms, "ownedBy")?.into_iter().collect();
    let mut live: HashMap<(String, String), i64> = HashMap::new();
    for (api, plan, n) in subs::live_counts(pool)? {
        live.insert((api, plan), n);
    }
    let mut out = Vec::new();
    for o in offerings {
        let namespace = body_of(&bodies, &o.platform, "/metadata/namespace").unwrap_or_else(|| "default".into());
        let domain = body_of(&bodies, &o.platform, "/spec/domain").and_then(|d| {
            crate::catalog::model::EntityRef::parse(&d, Some("domain"), &namespace).ok().map(|r| r.key())
        });
        // Only an API entity in the catalog has a definition to show.
        let definition = bodies.get(&o.api).and_then(|b| b.pointer("/spec/definition"));
        let count = |p: &Plan| live.get(&(o.api.clone(), p.name.clone())).copied().unwrap_or(0);
        let plans: Vec<PlanView> =
            o.plans.iter().map(|p| PlanView { plan: p.clone(), subscriptions: count(p) }).collect();
        let subscribers: i64 = o.plans.iter().map(count).sum();
        let item = OfferingView {
            api: o.api.clone(),
            platform: o.platform.clone(),
            owner: owners.get(&o.platform).cloned(),
            domain,
            title: body_of(&bodies, &o.api, "/metadata/title"),
            description: o.description.clone().or_else(|| body_of(&bodies, &o.api, "/metadata/description")),
            lifecycle: body_of(&bodies, &o.api, "/spec/lifecycle"),
            api_type: body_of(&bodies, &o.api, "/spec/type"),
            has_definition: definition.is_some_and(|d| !d.is_null() && d.as_str() != Some("")),
            plans,
            subscribers,
        };
        out.push((item, o));
    }
    Ok(out)
}

/// Filters of the offerings list.
#[derive(Debug, Default, Deserialize)]
pub struct OfferingQuery {
    pub platform: Option<String>,
    pub domain: Option<String>,
    pub q: Option<String>,
    pub lifecycle: Option<String>,
}

/// A checked offerings query: refs as keys, text and lifecycle lower-cased.
pub struct OfferingFilter {
    platform: Option<String>,
    domain: Option<String>,
    text: Option<String>,
    lifecycle: Option<String>,
}

/// Checks the offerings query (before any blocking work).
pub fn offering_filter(q: &OfferingQuery) -> Result<OfferingFilter, ApiError> {
    let platform = match &q.platform {
        Some(p) => {
            Some(request_ref(p, "platform").ok_or_else(|| ApiError::input("platform: not an entity reference"))?)
        }
        None => None,
    };
    let domain = match &q.domain {
        Some(d) => Some(request_ref(d, "domain").ok_or_else(|| ApiError::input("domain: not an entity reference"))?),
        None => None,
    };
    Ok(OfferingFilter {
        platform,
        domain,
        text: q.q.as_deref().map(str::to_lowercase).filter(|t| !t.is_empty()),
        lifecycle: q.lifecycle.as_deref().map(str::to_lowercase),
    })
}

/// The offered APIs matching the filter.
pub fn offerings(pool: &Pool, f: &OfferingFilter) -> Result<Items<OfferingView>, ApiError> {
    let items = offering_items(pool)?
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| f.platform.as_ref().is_none_or(|p| v.platform == *p))
        .filter(|v| f.domain.as_ref().is_none_or(|d| v.domain.as_ref() == Some(d)))
        .filter(|v| {
            f.lifecycle.as_ref().is_none_or(|l| v.lifecycle.as_deref().map(str::to_lowercase).as_ref() == Some(l))
        })
        .filter(|v| {
            f.text.as_ref().is_none_or(|t| {
                [Some(&v.api), v.title.as_ref(), v.description.as_ref(), Some(&v.platform)]
                    .into_iter()
                    .flatten()
                    .any(|s| s.to_lowercase().contains(t.as_str()))
            })
        })
        .collect();
    Ok(Items { items })
}

/// One offered API (`api:namespace/name`), its plans with live counts, its consumers.
pub fn offering(pool: &Pool, namespace: &str, name: &str) -> Result<OfferingDetail, ApiError> {
    let api = format!("api:{}/{}", namespace.to_lowercase(), name.to_lowercase());
    let (offering, _) = offering_items(pool)?
        .into_iter()
        .find(|(_, o)| o.api == api)
        .ok_or_else(|| ApiError::not_found(format!("{api} is not offered")))?;
    let filter = subs::Filter { api: Some(api.clone()), live: true, ..Default::default() };
    let consumers = subs::list(pool, &filter)?
        .into_iter()
        .map(|s| OfferingConsumer {
            consumer: s.consumer,
            team: s.team,
            plan: s.plan,
            status: s.status,
            subscription: s.id,
            origin: s.origin,
        })
        .collect();
    Ok(OfferingDetail { offering, consumers })
}

/// One transition in a subscription's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: String,
    pub at: String,
    pub reason: Option<String>,
    /// The plan a transfer moved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// A subscription with its history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    pub id: String,
    pub api: String,
    pub plan: String,
    pub consumer: String,
    pub team: Option<String>,
    pub status: String,
    pub origin: String,
    pub created_at: String,
    pub updated_at: String,
    pub closes_at: Option<String>,
    pub history: Vec<HistoryEntry>,
}

impl SubscriptionView {
    /// The reason given with its latest transition, if any.
    pub fn last_reason(&self) -> Option<&str> {
        self.history.last().and_then(|h| h.reason.as_deref())
    }
}

/// Allowed gateway calls in one minute.
#[derive(Debug, Clone, Serialize)]
pub struct UsageMinute {
    pub minute: String,
    pub calls: i64,
}

/// One subscription with its gateway usage.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionDetail {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    pub usage: Vec<UsageMinute>,
}

/// Filters of the subscriptions list.
#[derive(Debug, Default, Deserialize)]
pub struct SubscriptionQuery {
    pub api: Option<String>,
    pub consumer: Option<String>,
    pub team: Option<String>,
    pub status: Option<String>,
}

/// Checks the subscriptions query (before any blocking work).
pub fn subscription_filter(q: SubscriptionQuery) -> Result<subs::Filter, ApiError> {
    Ok(subs::Filter {
        api: q.api.as_deref().map(subscriptions::api_key).transpose()?,
        consumer: q.consumer.as_deref().map(subscriptions::consumer_key).transpose()?,
        team: match q.team.as_deref() {
            Some(t) => Some(request_ref(t, "group").ok_or_else(|| ApiError::input("team: not an entity reference"))?),
            None => None,
        },
        status: q.status.map(|s| s.to_lowercase()),
        ..Default::default()
    })
}

/// The subscriptions matching the filter.
pub fn subscription_list(pool: &Pool, filter: &subs::Filter) -> Result<Items<SubscriptionView>, ApiError> {
    Ok(Items { items: subscriptions::render(pool, &subs::list(pool, filter)?)? })
}

/// A subscription's row, or 404.
pub fn subscription_row(pool: &Pool, id: &str) -> Result<subs::SubscriptionRow, ApiError> {
    subs::get(pool, id)?.ok_or_else(|| ApiError::not_found(format!("No subscription {id}")))
}

/// One subscription with the calls the gateways allowed per minute.
pub fn subscription(pool: &Pool, row: &subs::SubscriptionRow) -> Result<SubscriptionDetail, ApiError> {
    let subscription = subscriptions::render_one(pool, row)?;
    // Allowed gateway calls per minute (written by the gateways within a second).
    let usage = store::counters::usage_of(pool, &row.id)?
        .into_iter()
        .map(|(minute, calls)| UsageMinute { minute: rfc3339(minute), calls })
        .collect();
    Ok(SubscriptionDetail { subscription, usage })
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub subscription: String,
    pub name: Option<String>,
    pub prefix: String,
    pub status: &'static str,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub rotated_to: Option<String>,
}

/// The keys of a subscription.
pub fn keys_of(pool: &Pool, subscription_id: &str) -> Result<Items<KeyView>, ApiError> {
    Ok(Items { items: key_store::list_of(pool, subscription_id)?.iter().map(super::keys::render).collect() })
}

/// The key a rotation replaced, and until when it stays valid.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replaced {
    pub id: String,
    pub valid_until: String,
}

/// A key just issued: its secret form, shown this once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub id: String,
    pub prefix: String,
    pub key: String,
    pub name: Option<String>,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaced>,
}
