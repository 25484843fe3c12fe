DROP INDEX incidents_caused_by_idx;
DROP INDEX deployment_changes_keys_idx;
DROP INDEX deployments_keys_idx;
