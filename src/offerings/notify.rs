//! Audit records out: into the catalog's change feed (`subscription.*` and `key.*` events on
//! the consumer's ref), and to the outgoing webhooks of `[[notifications.webhooks]]`, POSTed as
//! JSON signed with HMAC-SHA256 (`X-Portolan-Signature-256: sha256=<hex>`, the GitHub scheme).
//!
//! Webhook URLs pass the same rules as locations (the reading allowlist, no private addresses
//! unless allowed explicitly): they are checked at start and sent through the catalog reader's
//! client, whose resolver refuses private answers. Each target's progress (a cursor into the
//! audit records) is stored and leased, so one instance delivers at a time and in order; a
//! failed delivery is retried with exponential backoff (1 s doubling to 5 minutes), and later
//! records wait for it. A new target starts with the records written after it was configured.

use std::sync::{Arc, Weak};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use super::NotificationSettings;
use super::store::{self, keys as key_store, subscriptions as subs};
use crate::catalog::fetch::{ReadSettings, Reader};
use crate::db::{Pool, now_ms, rfc3339};

const LEASE_MS: i64 = 60_000;
const MAX_BACKOFF_MS: i64 = 300_000;
const BATCH: i64 = 100;

struct Target {
    id: String,
    url: Url,
    secret: String,
    events: Vec<String>,
}

impl Target {
    fn wants(&self, kind: &str) -> bool {
        self.events.is_empty()
            || self.events.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => p == kind,
            })
    }
}

pub struct Notifier {
    targets: Vec<Target>,
    reader: Option<Reader>,
    instance: String,
}

/// `sha256=<hex HMAC-SHA256 of the body>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Notifier {
    /// The configured targets, their URLs checked against the reading rules.
    pub fn new(settings: &NotificationSettings, read: ReadSettings) -> anyhow::Result<Self> {
        if settings.webhooks.is_empty() {
            return Ok(Self { targets: Vec::new(), reader: None, instance: String::new() });
        }
        let reader = Reader::new(read)?;
        let mut targets = Vec::new();
        for w in &settings.webhooks {
            let url = Url::parse(&w.url).map_err(|e| anyhow::anyhow!("notifications.webhooks {:?}: {e}", w.url))?;
            reader.check(&url).map_err(|e| anyhow::anyhow!("notifications.webhooks {:?}: {e}", w.url))?;
            anyhow::ensure!(!w.secret.is_empty(), "notifications.webhooks {:?}: the secret must not be empty", w.url);
            targets.push(Target {
                id: crate::auth::tokens::hash_token(url.as_str())[..24].to_owned(),
                url,
                secret: w.secret.expose().to_owned(),
                events: w.events.clone(),
            });
        }
        Ok(Self { targets, reader: Some(reader), instance: uuid::Uuid::new_v4().to_string() })
    }

    /// Relays new audit records into the catalog's change feed (every instance may; each record
    /// goes once).
    pub fn relay_to_feed(pool: &Pool) -> anyhow::Result<()> {
        loop {
            let batch = store::take_feed_batch(pool, 500)?;
            if batch.is_empty() {
                return Ok(());
            }
            let events: Vec<(&str, String)> = batch.iter().map(|(k, r)| (k.as_str(), r.clone())).collect();
            crate::catalog::facade::append_events(pool, &events)?;
        }
    }

    /// Delivers webhooks every second on a thread of its own while `alive` lives.
    pub fn spawn(self: &Arc<Self>, pool: Pool, alive: Weak<()>) -> anyhow::Result<()> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let start = store::last_audit_id(&pool)?;
        for t in &self.targets {
            store::ensure_webhook_target(&pool, &t.id, t.url.as_str(), start)?;
        }
        let me = Arc::downgrade(self);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("portolan-webhooks".into()).spawn(move || {
            runtime.block_on(async move {
                while alive.upgrade().is_some() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(n) = me.upgrade() else { break };
                    n.round(&pool).await;
                }
            })
        })?;
        Ok(())
    }

    /// One round: every target that is due and not leased elsewhere gets its pending records.
    async fn round(&self, pool: &Pool) {
        for _ in 0..self.targets.len() {
            let now = now_ms();
            let claimed = match store::WEBHOOK_LEASES.claim_due(pool, &self.instance, now, now + LEASE_MS) {
                Ok(Some(id)) => id,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error.cause = format!("{e:#}"), "Claiming a webhook target failed.");
                    return;
                }
            };
            let next = match self.targets.iter().find(|t| t.id == claimed) {
                Some(t) => self.deliver(pool, t).await.unwrap_or_else(|e| {
                    tracing::warn!(webhook.url = %t.url, error.cause = format!("{e:#}"), "Webhook delivery failed.");
                    now_ms() + 5_000
                }),
                // A target no longer configured here: leave it to instances that have it.
                None => now_ms() + 60_000,
            };
            let _ = store::WEBHOOK_LEASES.release(pool, &claimed, &self.instance, Some(next));
        }
    }

    /// Sends the target's pending records in order; returns when it is due next.
    async fn deliver(&self, pool: &Pool, t: &Target) -> anyhow::Result<i64> {
        let Some(client) = self.reader.as_ref().map(Reader::client) else { return Ok(now_ms() + 60_000) };
        let Some((mut cursor, attempts)) = store::webhook_target(pool, &t.id)? else { return Ok(now_ms() + 60_000) };
        loop {
            let records = subs::events_after(pool, cursor, BATCH)?;
            if records.is_empty() {
                store::record_webhook_round(pool, &t.id, cursor, None)?;
                return Ok(now_ms() + 1_000);
            }
            for r in &records {
                if !t.wants(&r.kind) {
                    cursor = r.id;
                    continue;
                }
                let body = serde_json::to_vec(&payload(pool, r)?)?;
                let sent = client
                    .post(t.url.clone())
                    .header("Content-Type", "application/json")
                    .header("X-Portolan-Event", r.kind.as_str())
                    .header("X-Portolan-Delivery", r.id.to_string())
                    .header("X-Portolan-Signature-256", signature(&t.secret, &body))
                    .timeout(Duration::from_secs(10))
                    .body(body)
                    .send()
                    .await;
                let failure = match sent {
                    Ok(res) if res.status().is_success() => None,
                    Ok(res) => Some(format!("answered {}", res.status())),
                    Err(e) => Some(format!("not delivered: {e}")),
                };
                if let Some(error) = failure {
                    store::record_webhook_round(pool, &t.id, cursor, Some(&error))?;
                    let backoff = (1_000i64 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS);
                    tracing::warn!(webhook.url = %t.url, event = %r.kind, attempts = attempts + 1, retry_in_ms = backoff, "{error}");
                    return Ok(now_ms() + backoff);
                }
                cursor = r.id;
            }
            store::record_webhook_round(pool, &t.id, cursor, None)?;
        }
    }
}

/// Other domains' announcements go out on the webhooks (`crate::domain::hooks::Announcer`).
pub struct Outbox;

impl crate::domain::hooks::Announcer for Outbox {
    fn announce(&self, pool: &Pool, kind: &str, by: &str, body: &Value) -> anyhow::Result<()> {
        subs::announce(pool, kind, by, &serde_json::to_string(body)?, now_ms())
    }
}

/// What a webhook receives for one audit record.
fn payload(pool: &Pool, r: &subs::EventRow) -> anyhow::Result<Value> {
    if let Some(body) = r.payload.as_deref().filter(|_| r.subscription_id.is_empty()) {
        // An announcement: its own body, under the record's id, type and time.
        let mut out = json!({"id": r.id.to_string(), "type": r.kind, "at": rfc3339(r.at), "by": r.by_who});
        if let (Some(o), Ok(Value::Object(extra))) = (out.as_object_mut(), serde_json::from_str::<Value>(body)) {
            o.extend(extra);
        }
        return Ok(out);
    }
    let sub = subs::get(pool, &r.subscription_id)?;
    let mut out = json!({
        "id": r.id.to_string(),
        "type": r.kind,
        "at": rfc3339(r.at),
        "by": r.by_who,
        "reason": r.reason,
        "subscription": sub.map(|s| json!({
            "id": s.id, "api": s.api, "plan": s.plan, "consumer": s.consumer, "team": s.team,
            "status": s.status, "origin": s.origin,
        })),
    });
    if r.to_status.is_some() {
        out["from"] = json!(r.from_status);
        out["to"] = json!(r.to_status);
    }
    if let Some(plan) = &r.plan {
        out["plan"] = json!(plan);
    }
    if let Some(key_id) = &r.key_id {
        let key = key_store::get(pool, key_id)?;
        out["key"] = json!({"id": key_id, "prefix": key.as_ref().map(|k| &k.prefix), "expiresAt": key.and_then(|k| k.expires_at).map(rfc3339)});
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_github_style_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn event_patterns_match_exactly_or_by_prefix() {
        let t = |events: &[&str]| Target {
            id: String::new(),
            url: Url::parse("https://example.com/").unwrap(),
            secret: "s".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        };
        assert!(t(&[]).wants("key.revoked"));
        assert!(t(&["key.*"]).wants("key.revoked"));
        assert!(!t(&["key.*"]).wants("subscription.approved"));
        assert!(t(&["subscription.approved"]).wants("subscription.approved"));
        assert!(!t(&["subscription.approved"]).wants("subscription.rejected"));
    }
}
