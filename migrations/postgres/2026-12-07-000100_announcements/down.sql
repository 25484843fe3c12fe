ALTER TABLE subscription_events DROP COLUMN payload;
