//! What other domains may ask the offerings domain (consumption attributes calls through these):
//! a subscription by id or by one of its keys, and the active subscriptions with the time each
//! became active. Blocking.

use std::collections::HashMap;

use super::keys::KEY_PREFIX;
use super::store::{keys, subscriptions as subs};
use crate::db::Pool;

pub use super::store::subscriptions::SubscriptionRow;

/// The visible prefix of an API key, given the prefix itself or the whole key
/// (`ptl_<prefix>_<secret>`); `None` when it cannot be one.
pub fn key_prefix(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    let rest = raw.strip_prefix(KEY_PREFIX).unwrap_or(raw);
    let prefix = rest.split('_').next().unwrap_or("");
    (!prefix.is_empty() && prefix.len() <= 64 && prefix.chars().all(|c| c.is_ascii_alphanumeric())).then_some(prefix)
}

/// The subscription a key (by its prefix) was issued for.
pub fn subscription_of_key(pool: &Pool, prefix: &str) -> anyhow::Result<Option<SubscriptionRow>> {
    keys::subscription_of_prefix(pool, prefix)
}

/// One subscription by id.
pub fn subscription(pool: &Pool, id: &str) -> anyhow::Result<Option<SubscriptionRow>> {
    subs::get(pool, id)
}

/// Every active subscription, with when it first became active.
pub fn active_subscriptions(pool: &Pool) -> anyhow::Result<Vec<(SubscriptionRow, i64)>> {
    let rows = subs::list(pool, &subs::Filter { status: Some("active".into()), ..Default::default() })?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut activated: HashMap<String, i64> = HashMap::new();
    for e in subs::events_of(pool, &ids)? {
        if e.to_status.as_deref() == Some("active") {
            activated.entry(e.subscription_id.clone()).or_insert(e.at);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let at = activated.get(&r.id).copied().unwrap_or(r.created_at);
            (r, at)
        })
        .collect())
}
