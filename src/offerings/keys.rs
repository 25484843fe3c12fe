//! API keys: `ptl_<prefix>_<secret>` with 256 bits of secret, shown once and stored as SHA-256
//! (the same randomness and hash as service tokens, `crate::auth::tokens`). Blocking.

use super::model::Status;
use super::store::keys::{self as store, KeyRow, NewKey};
use super::store::subscriptions::{NewEvent, SubscriptionRow};
use super::views::{IssuedKey, KeyView, Replaced};
use crate::auth::tokens::{hash_token, random_bytes, random_token};
use crate::db::{Pool, now_ms, rfc3339};
use crate::error::ApiError;

/// What every API key starts with, so it is never mistaken for a portolan token.
pub const KEY_PREFIX: &str = crate::auth::API_KEY_PREFIX;
/// Keys about to expire within this produce one `key.expiring` event.
pub const EXPIRING_NOTICE_MS: i64 = 7 * 86_400_000;
const DAY_MS: i64 = 86_400_000;

/// A new key's visible prefix, its secret form (shown once) and the hash that is stored.
pub fn generate() -> (String, String, String) {
    let prefix: String = random_bytes(6).iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("{KEY_PREFIX}{prefix}_{}", random_token());
    let hash = hash_token(&key);
    (prefix, key, hash)
}

/// The lifetime a key takes by default: its plan's `credentialLifetimeDays`.
fn plan_lifetime_days(pool: &Pool, sub: &SubscriptionRow) -> anyhow::Result<Option<i64>> {
    Ok(super::store::get_offering(pool, &sub.api)?
        .and_then(|o| o.plan(&sub.plan).and_then(|p| p.credential_lifetime_days)))
}

fn created(k: &NewKey, secret: &str) -> IssuedKey {
    IssuedKey {
        id: k.id.clone(),
        prefix: k.prefix.clone(),
        key: secret.to_owned(),
        name: k.name.clone(),
        expires_at: k.expires_at.map(rfc3339),
        replaces: None,
    }
}

/// Issues a key for a live subscription. `expires_in_days` defaults to the plan's lifetime.
pub fn create(
    pool: &Pool,
    sub: &SubscriptionRow,
    name: Option<String>,
    expires_in_days: Option<f64>,
    by: &str,
) -> Result<IssuedKey, ApiError> {
    if !Status::parse(&sub.status).is_some_and(Status::is_live) {
        return Err(ApiError::conflict(format!("The subscription is {}: it takes no new keys", sub.status)));
    }
    let days = match expires_in_days {
        Some(d) if !(d > 0.0 && d <= 3650.0) => {
            return Err(ApiError::input("expiresInDays: between 0 and 3650 days"));
        }
        Some(d) => Some(d),
        None => plan_lifetime_days(pool, sub)?.map(|d| d as f64),
    };
    let (prefix, secret, hash) = generate();
    let k = NewKey {
        id: uuid::Uuid::now_v7().to_string(),
        subscription_id: sub.id.clone(),
        name,
        prefix,
        hash,
        created_by: by.to_owned(),
        expires_at: days.map(|d| now_ms() + (d * DAY_MS as f64) as i64),
    };
    let event =
        NewEvent { kind: "key.created".into(), key_id: Some(k.id.clone()), by: by.to_owned(), ..Default::default() };
    store::insert(pool, &k, &event)?;
    tracing::info!(key.id = %k.id, key.prefix = %k.prefix, subscription = %sub.id, "Issued an API key.");
    Ok(created(&k, &secret))
}

/// Replaces a key with a new one; the old one stays valid for `overlap_hours` (never longer
/// than it would have anyway).
pub fn rotate(
    pool: &Pool,
    old: &KeyRow,
    sub: &SubscriptionRow,
    overlap_hours: f64,
    by: &str,
) -> Result<IssuedKey, ApiError> {
    let now = now_ms();
    // A closed (or otherwise not live) subscription takes no new keys, rotated or not.
    if !Status::parse(&sub.status).is_some_and(Status::is_live) {
        return Err(ApiError::conflict(format!("The subscription is {}: it takes no new keys", sub.status)));
    }
    if old.revoked_at.is_some() || old.rotated_to.is_some() || old.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::conflict("The key is revoked, expired or already rotated: issue a new one instead"));
    }
    if !(0.0..=720.0).contains(&overlap_hours) {
        return Err(ApiError::input("overlapHours: between 0 and 720"));
    }
    let lifetime = match (old.expires_at, plan_lifetime_days(pool, sub)?) {
        (_, Some(days)) => Some(days * DAY_MS),
        (Some(e), None) => Some(e - old.created_at),
        (None, None) => None,
    };
    let (prefix, secret, hash) = generate();
    let k = NewKey {
        id: uuid::Uuid::now_v7().to_string(),
        subscription_id: sub.id.clone(),
        name: old.name.clone(),
        prefix,
        hash,
        created_by: by.to_owned(),
        expires_at: lifetime.map(|l| now + l),
    };
    let until = now + (overlap_hours * 3_600_000.0) as i64;
    let event = NewEvent {
        kind: "key.rotated".into(),
        key_id: Some(k.id.clone()),
        by: by.to_owned(),
        reason: Some(format!("replaces {} ({}), valid until {}", old.id, old.prefix, rfc3339(until))),
        ..Default::default()
    };
    if !store::rotate(pool, old, &k, until, &event)? {
        return Err(ApiError::conflict("The key was revoked or rotated meanwhile"));
    }
    tracing::info!(key.id = %k.id, key.prefix = %k.prefix, replaces = %old.id, "Rotated an API key.");
    let mut out = created(&k, &secret);
    out.replaces =
        Some(Replaced { id: old.id.clone(), valid_until: rfc3339(until.min(old.expires_at.unwrap_or(i64::MAX))) });
    Ok(out)
}

/// Revokes a key at once.
pub fn revoke(pool: &Pool, key: &KeyRow, by: &str) -> anyhow::Result<bool> {
    let event =
        NewEvent { kind: "key.revoked".into(), key_id: Some(key.id.clone()), by: by.to_owned(), ..Default::default() };
    let done = store::revoke(pool, key, &event)?;
    if done {
        tracing::info!(key.id = %key.id, key.prefix = %key.prefix, "Revoked an API key.");
    }
    Ok(done)
}

/// A key as listed: never its secret.
pub fn render(k: &KeyRow) -> KeyView {
    let now = now_ms();
    let status = if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else if k.rotated_to.is_some() {
        "rotating"
    } else {
        "active"
    };
    KeyView {
        id: k.id.clone(),
        subscription: k.subscription_id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        status,
        created_by: k.created_by.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
        rotated_to: k.rotated_to.clone(),
    }
}

/// Records `key.expiring` (7 days ahead) and `key.expired` once per key.
pub fn notice_expiry(pool: &Pool) -> anyhow::Result<()> {
    let now = now_ms();
    store::notice_expiry(pool, now + EXPIRING_NOTICE_MS, true)?;
    store::notice_expiry(pool, now, false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_visible_prefix_and_enough_secret() {
        let (prefix, key, hash) = generate();
        assert!(key.starts_with(&format!("ptl_{prefix}_")));
        let secret = &key[KEY_PREFIX.len() + prefix.len() + 1..];
        assert!(secret.len() * 6 >= 128, "at least 128 bits of secret");
        assert_eq!(hash, hash_token(&key));
        assert!(!hash.contains(secret));
        assert_ne!(generate().1, key);
    }
}
