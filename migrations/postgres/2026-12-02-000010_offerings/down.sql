DROP TABLE webhook_targets;
DROP TABLE offerings_state;
DROP TABLE gateway_usage;
DROP TABLE gateway_counters;
DROP TABLE api_keys;
DROP TABLE subscription_events;
DROP TABLE subscriptions;
DROP TABLE offerings;
