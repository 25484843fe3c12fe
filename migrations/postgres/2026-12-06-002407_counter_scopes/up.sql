-- Quota and rate-limit counters count per consumer (or, for a quota with `quotaScope: team`,
-- per team) and API, no longer per subscription, so closing a subscription and subscribing
-- again continues the window. `scope` is `consumer <consumer> <api>` or `team <team> <api>`.
-- Existing counts move to their consumer's scope, added up over its subscriptions.
CREATE TABLE gateway_counters_scoped (
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (scope, kind, window_start)
);
INSERT INTO gateway_counters_scoped (scope, kind, window_start, count)
SELECT 'consumer ' || s.consumer || ' ' || s.api, c.kind, c.window_start, SUM(c.count)
FROM gateway_counters c JOIN subscriptions s ON s.id = c.subscription_id
GROUP BY s.consumer, s.api, c.kind, c.window_start;
DROP TABLE gateway_counters;
ALTER TABLE gateway_counters_scoped RENAME TO gateway_counters;
