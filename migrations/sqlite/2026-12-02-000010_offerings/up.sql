-- Self-service offerings: the plans platforms offer (derived from Platform spec.offerings),
-- subscriptions with their history, API keys (hashes only), and the gateway's counters.

-- One row per offered API, as the catalog's Platform descriptors say; plans as JSON.
CREATE TABLE offerings (
    api TEXT NOT NULL PRIMARY KEY,
    platform TEXT NOT NULL,
    description TEXT,
    plans TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id TEXT NOT NULL PRIMARY KEY,
    api TEXT NOT NULL,
    plan TEXT NOT NULL,
    consumer TEXT NOT NULL,
    team TEXT,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    -- `api consumer` while pending, active or paused, NULL otherwise: one live subscription per pair.
    live_key TEXT UNIQUE,
    -- Descriptor-made subscriptions whose consumesApis entry vanished close at this time.
    closes_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_api_idx ON subscriptions (api);
CREATE INDEX subscriptions_consumer_idx ON subscriptions (consumer);

-- The audit trail: every transition of every subscription and every key event, with who and why.
CREATE TABLE subscription_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,
    type TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    key_id TEXT,
    plan TEXT,
    by_who TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX subscription_events_sub_idx ON subscription_events (subscription_id, id);

CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    name TEXT,
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    rotated_to TEXT,
    expiring_noticed BIGINT NOT NULL DEFAULT 0,
    expired_noticed BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_subscription_idx ON api_keys (subscription_id);

-- Shared quota and rate-limit counters: one row per subscription, kind and window.
CREATE TABLE gateway_counters (
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, kind, window_start)
);

-- Allowed calls per subscription per minute, for consumption.
CREATE TABLE gateway_usage (
    subscription_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, minute)
);

-- One row: the offerings engine's cursor into the catalog's change feed; `audit_seq`, bumped
-- first by every transaction that writes audit records (on PostgreSQL that row lock is held to
-- commit, so audit ids commit in order); how far audit records were relayed into the change feed.
CREATE TABLE offerings_state (
    id INTEGER NOT NULL PRIMARY KEY,
    cursor BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL DEFAULT 0,
    feed_cursor BIGINT NOT NULL DEFAULT 0
);
INSERT INTO offerings_state (id, cursor) VALUES (1, 0);

-- Outgoing webhooks ([[notifications.webhooks]]): how far each URL has been sent, leased so
-- one instance delivers at a time, retried with backoff.
CREATE TABLE webhook_targets (
    id TEXT NOT NULL PRIMARY KEY,
    url TEXT NOT NULL,
    cursor BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
