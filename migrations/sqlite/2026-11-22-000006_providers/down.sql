DROP TABLE webhook_deliveries;
DROP TABLE provider_runs;
DROP TABLE providers;
