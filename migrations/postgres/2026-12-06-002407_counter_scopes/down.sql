-- Per-subscription counters again (scoped counts cannot be split back: they start afresh).
DROP TABLE gateway_counters;
CREATE TABLE gateway_counters (
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, kind, window_start)
);
