-- Repository discovery providers (GitHub organisations, GitLab groups) and webhook deliveries.

-- One row per configured provider: when it runs next, and which instance holds its run.
CREATE TABLE providers (
    id TEXT NOT NULL PRIMARY KEY,
    type TEXT NOT NULL,
    next_run_at BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at BIGINT
);

-- The outcome of each provider run (scheduled, requested through the API, or a webhook).
CREATE TABLE provider_runs (
    id TEXT NOT NULL PRIMARY KEY,
    provider_id TEXT NOT NULL,
    cause TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    repositories BIGINT NOT NULL,
    locations_added BIGINT NOT NULL,
    locations_removed BIGINT NOT NULL,
    locations_refreshed BIGINT NOT NULL,
    errors TEXT NOT NULL
);
CREATE INDEX provider_runs_provider_idx ON provider_runs (provider_id, started_at);

-- Webhook deliveries already processed, so a replayed delivery id changes nothing.
CREATE TABLE webhook_deliveries (
    source TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    event TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
