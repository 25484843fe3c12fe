//! Self-service offerings: platforms offer APIs under plans (Platform `spec.offerings`),
//! consumers (Components and Products) subscribe, subscriptions move through a state machine,
//! API keys are issued per subscription, and gateways ask [`gateway`] whether a call may pass.
//!
//! The domain follows the catalog through the seam only ([`crate::catalog::seam`]): the
//! [`Offerings`] engine is a [`ChangeListener`]; it reads catalog bodies and relations through
//! `crate::catalog::facade` and owns its own tables (`store/`, private to the domain). Its
//! cursor into the change feed lives in `offerings_state`, so every instance catches up on
//! changes other instances committed.
//!
//! ```text
//! model.rs          offerings and plans from descriptors, the state machine, reasons, windows (pure)
//! descriptors.rs    offering refresh and descriptor-made subscriptions (the listener's work)
//! subscriptions.rs  requesting and moving subscriptions
//! views.rs          what the API answers and the UI renders, typed (offerings, subscriptions, keys)
//! keys.rs           API keys: generation (shown once), rotation with overlap, revocation
//! lookup.rs         the facade: what other domains may ask (subscriptions by id or key, active ones)
//! gateway.rs        the check: a short-lived key cache and batched shared counters
//! notify.rs         audit records out: into the change feed, and outgoing signed webhooks
//! handlers.rs       /api/portal/offerings, /api/portal/subscriptions, /api/portal/keys, /api/gateway
//! store/            all SQL of the domain
//! ```

pub mod descriptors;
pub mod gateway;
pub mod handlers;
pub mod keys;
pub mod lookup;
pub mod model;
pub mod notify;
pub mod routes;
mod store;
pub mod subscriptions;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::catalog::follow::FeedFollower;
use crate::catalog::seam::{CatalogChange, ChangeListener};
use crate::db::Pool;
use crate::secret::Secret;

/// `[offerings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferingSettings {
    /// How long a descriptor-made subscription stays after its `consumesApis` entry is removed.
    pub descriptor_grace_days: f64,
    /// How long the gateway batches its counter increments before writing them (at most 1000).
    pub gateway_flush_ms: u64,
    /// How long the gateway trusts what it read about a key (revocation shows within this).
    pub gateway_key_cache_ms: u64,
}

impl Default for OfferingSettings {
    fn default() -> Self {
        Self { descriptor_grace_days: 7.0, gateway_flush_ms: 250, gateway_key_cache_ms: 1000 }
    }
}

/// `[notifications]`: where audit events go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    pub webhooks: Vec<WebhookTarget>,
}

/// `[[notifications.webhooks]] url, secret, events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: String,
    /// Signs each delivery (`X-Portolan-Signature-256: sha256=<hex HMAC of the body>`).
    pub secret: Secret,
    /// Event types (`subscription.approved`), or prefixes with `*` (`key.*`); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
}

/// The offerings engine: what the listener, the handlers and the gateway share.
pub struct Offerings {
    pub settings: OfferingSettings,
    pub gateway: Arc<gateway::Gateway>,
    pub notifier: Arc<notify::Notifier>,
    /// This domain's cursor into the catalog's change feed.
    feed: FeedFollower,
}

/// The offerings domain's front door: the engine, its handlers' data, its catalog listener, and
/// its tasks (the gateway's flusher, webhook deliveries, and the time-driven work: grace
/// periods that ended, key expiry notices, the relay of its events to the change feed).
pub fn domain(
    (settings, notifications): (&OfferingSettings, &NotificationSettings),
    shared: &crate::domain::Shared,
) -> anyhow::Result<crate::domain::Domain> {
    use crate::domain::{Domain, Task};
    let offerings = Offerings::new(settings, notifications, shared)?;
    let (pool, gateway, notifier) = (shared.pool.clone(), offerings.gateway.clone(), offerings.notifier.clone());
    let flusher = Task::service("gateway-flusher", move |alive| gateway.spawn_flusher(pool, alive));
    let pool = shared.pool.clone();
    let deliveries = Task::service("webhook-deliveries", move |alive| {
        if let Err(e) = notifier.spawn(pool, alive) {
            tracing::error!(error.cause = format!("{e:#}"), "The webhook notifier could not start.");
        }
    });
    let pool = shared.pool.clone();
    let due = Task::every("offerings-due", crate::catalog::seam::CATCH_UP_INTERVAL, move || {
        descriptors::close_due(&pool)?;
        keys::notice_expiry(&pool)?;
        notify::Notifier::relay_to_feed(&pool)
    });
    Ok(Domain::new("offerings")
        .data(offerings.clone())
        .listener(offerings)
        .announcer(Arc::new(notify::Outbox))
        .task(flusher)
        .task(deliveries)
        .task(due)
        .nav("/apis", "APIs", 40)
        .nav("/subscriptions", "Subscriptions", 50)
        .nav("/approvals", "Approvals", 60))
}

impl Offerings {
    pub fn new(
        settings: &OfferingSettings,
        notifications: &NotificationSettings,
        shared: &crate::domain::Shared,
    ) -> anyhow::Result<Arc<Self>> {
        let o = settings.clone();
        let flush = Duration::from_millis(o.gateway_flush_ms.clamp(10, 1000));
        let cache = Duration::from_millis(o.gateway_key_cache_ms.clamp(10, 1000));
        Ok(Arc::new(Self {
            gateway: Arc::new(gateway::Gateway::new(flush, cache, shared.hooks.clone())),
            notifier: Arc::new(notify::Notifier::new(notifications, shared.outbound.clone())?),
            settings: o,
            feed: FeedFollower::new("offerings"),
        }))
    }

    fn grace_ms(&self) -> i64 {
        (self.settings.descriptor_grace_days.max(0.0) * 86_400_000.0) as i64
    }

    /// Applies one set of changed refs (keys): offerings follow Platforms; descriptor-made
    /// subscriptions follow Components and Products.
    fn apply(&self, pool: &Pool, refs: &[String]) -> anyhow::Result<()> {
        if refs.iter().any(|r| r.starts_with("platform:")) {
            descriptors::refresh_offerings(pool)?;
            descriptors::sync_consumers(pool, None, self.grace_ms())?;
        } else {
            let consumers: Vec<String> =
                refs.iter().filter(|r| r.starts_with("component:") || r.starts_with("product:")).cloned().collect();
            if !consumers.is_empty() {
                descriptors::sync_consumers(pool, Some(&consumers), self.grace_ms())?;
            }
        }
        self.gateway.invalidate();
        Ok(())
    }
}

impl Offerings {
    /// Applies the change-feed events after this domain's cursor (the feed follower's).
    fn follow(&self, pool: &Pool) -> anyhow::Result<()> {
        self.feed.follow(pool, |events| self.apply(pool, &FeedFollower::entity_refs(events)))?;
        Ok(())
    }
}

impl ChangeListener for Offerings {
    fn name(&self) -> &'static str {
        "offerings"
    }

    /// The feed holds the change (and any this instance missed): one path for both, and each
    /// event is applied once, as the cursor moves past it.
    fn on_change(&self, pool: &Pool, _change: &CatalogChange) -> anyhow::Result<()> {
        self.follow(pool)
    }

    /// Applies the change-feed events after the stored cursor (the time-driven work is the
    /// domain's `offerings-due` task).
    fn catch_up(&self, pool: &Pool) -> anyhow::Result<()> {
        self.follow(pool)
    }

    fn on_bulk_load(&self, pool: &Pool) -> anyhow::Result<()> {
        // The feed's end first: whatever commits after it is caught up later.
        let last = crate::catalog::facade::last_event_id(pool)?.unwrap_or(0);
        descriptors::refresh_offerings(pool)?;
        descriptors::sync_consumers(pool, None, self.grace_ms())?;
        self.feed.skip_to(pool, last)?;
        self.gateway.invalidate();
        Ok(())
    }
}
