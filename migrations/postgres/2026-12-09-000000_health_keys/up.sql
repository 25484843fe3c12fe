-- What the four keys are read from without reading every deployment (src/health/store/keys.rs):
-- each change's first successful production deployment, kept at intake, and a weekly rollup.
CREATE TABLE change_leads (
    entity_ref TEXT NOT NULL,
    sha TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    committed_at BIGINT NOT NULL,
    deployment_id TEXT NOT NULL,
    PRIMARY KEY (entity_ref, sha)
);
CREATE INDEX change_leads_keys_idx ON change_leads (entity_ref, deployed_at, committed_at);
INSERT INTO change_leads (entity_ref, sha, deployed_at, committed_at, deployment_id)
SELECT DISTINCT ON (d.entity_ref, c.sha) d.entity_ref, c.sha, d.finished_at, c.committed_at, d.id
FROM deployment_changes c JOIN deployments d ON d.seq = c.deployment_seq
WHERE d.tier = 'production' AND d.status = 'success' AND d.finished_at IS NOT NULL
ORDER BY d.entity_ref, c.sha, d.finished_at, d.id;
-- Per entity and week (weeks since Monday 1969-12-29), what the keys read of its counted
-- deployments, recomputed from the rows above in the transaction that changes them: counts per
-- weekday, the lead times of changes first deployed that week, the first and last deployment
-- (a rollback implied across weeks is found from them) and, as JSON, rollbacks inside the week
-- and the deployments named by `rollbackOf`. Filled by the server at start when empty.
-- Rollbacks by the deployment they name (a week lists what names its deployments).
CREATE INDEX deployments_rollback_of_idx ON deployments (rollback_of);
CREATE TABLE deployment_weeks (
    entity_ref TEXT NOT NULL,
    week BIGINT NOT NULL,
    days BYTEA NOT NULL,
    leads BYTEA NOT NULL,
    first_finished BIGINT NOT NULL,
    first_version TEXT,
    last_id TEXT NOT NULL,
    last_finished BIGINT NOT NULL,
    last_version TEXT,
    marks TEXT,
    PRIMARY KEY (entity_ref, week)
);
