-- Consumption (the usage domain's own tables). Every level of the rollup holds one row per
-- (API, consumer, subscription, bucket start): calls, errors and a mergeable latency histogram
-- (fixed log-scale buckets, encoded by usage::model). A row with consumer '' is the API's total
-- over every consumer. Minutes are kept usage.minute_retention_hours, hours 90 days, days for good.
CREATE TABLE usage_minutes (
    api TEXT NOT NULL,
    consumer TEXT NOT NULL,
    subscription TEXT NOT NULL,
    t BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    hist BYTEA NOT NULL,
    PRIMARY KEY (api, consumer, subscription, t)
);
CREATE INDEX usage_minutes_t_idx ON usage_minutes (t);

CREATE TABLE usage_hours (
    api TEXT NOT NULL,
    consumer TEXT NOT NULL,
    subscription TEXT NOT NULL,
    t BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    hist BYTEA NOT NULL,
    PRIMARY KEY (api, consumer, subscription, t)
);
CREATE INDEX usage_hours_t_idx ON usage_hours (t);

CREATE TABLE usage_days (
    api TEXT NOT NULL,
    consumer TEXT NOT NULL,
    subscription TEXT NOT NULL,
    t BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    hist BYTEA NOT NULL,
    PRIMARY KEY (api, consumer, subscription, t)
);

-- Every (API, consumer) pair ever observed: its first and last call.
CREATE TABLE usage_pairs (
    api TEXT NOT NULL,
    consumer TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (api, consumer)
);

-- Batch ids already counted (Idempotency-Key, NATS message ids), with their answer.
CREATE TABLE usage_batches (
    id TEXT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected TEXT NOT NULL
);
CREATE INDEX usage_batches_at_idx ON usage_batches (at);

-- Values of the KPIs products declare (spec.kpis).
CREATE TABLE usage_kpis (
    product TEXT NOT NULL,
    kpi TEXT NOT NULL,
    t BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (product, kpi, t)
);

-- One row: `seq`, bumped first by every intake transaction (on PostgreSQL the row lock
-- serialises the read-merge-write of histograms); `pairs_version`, bumped when a pair appears
-- (or comes back after 28 silent days), so governance knows to look again.
CREATE TABLE usage_state (
    id INTEGER NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL DEFAULT 0,
    pairs_version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO usage_state (id) VALUES (1);
