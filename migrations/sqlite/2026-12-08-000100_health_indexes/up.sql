-- What the four keys read, covered by indexes (src/health/store.rs `key_events`): a scope's
-- finished deployments without touching the table, each change's commit time, and incidents
-- by the deployment they name.
CREATE INDEX deployments_keys_idx ON deployments (entity_ref, finished_at, tier, status, seq, version, rollback_of, id);
CREATE INDEX deployment_changes_keys_idx ON deployment_changes (deployment_seq, sha, committed_at);
CREATE INDEX incidents_caused_by_idx ON incidents (caused_by);
