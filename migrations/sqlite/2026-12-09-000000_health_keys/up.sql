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
-- SQLite takes the other columns of a MIN() aggregate from the row holding the minimum.
INSERT INTO change_leads (entity_ref, sha, deployed_at, committed_at, deployment_id)
SELECT d.entity_ref, c.sha, MIN(d.finished_at), c.committed_at, d.id
FROM deployment_changes c JOIN deployments d ON d.seq = c.deployment_seq
WHERE d.tier = 'production' AND d.status = 'success' AND d.finished_at IS NOT NULL
GROUP BY d.entity_ref, c.sha;
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
    days BLOB NOT NULL,
    leads BLOB NOT NULL,
    first_finished BIGINT NOT NULL,
    first_version TEXT,
    last_id TEXT NOT NULL,
    last_finished BIGINT NOT NULL,
    last_version TEXT,
    marks TEXT,
    PRIMARY KEY (entity_ref, week)
) WITHOUT ROWID;
