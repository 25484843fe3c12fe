-- Team health's own tables (src/health/store.rs): deployments, the changes each shipped, and
-- incidents. Times are milliseconds since the epoch; entity_ref is the entity's ref key.
CREATE TABLE deployments (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    entity_ref TEXT NOT NULL,
    environment TEXT NOT NULL,
    tier TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    commit_sha TEXT NOT NULL,
    version TEXT,
    repo_url TEXT,
    rollback_of TEXT,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deployments_entity_idx ON deployments (entity_ref, finished_at);
CREATE INDEX deployments_finished_idx ON deployments (finished_at);
CREATE TABLE deployment_changes (
    deployment_seq BIGINT NOT NULL,
    sha TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    pr_created_at BIGINT,
    merged_at BIGINT,
    PRIMARY KEY (deployment_seq, sha)
);
CREATE TABLE incidents (
    id TEXT NOT NULL PRIMARY KEY,
    entity_ref TEXT NOT NULL,
    severity TEXT,
    title TEXT,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    caused_by TEXT,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX incidents_entity_idx ON incidents (entity_ref, created_at);
CREATE INDEX incidents_created_idx ON incidents (created_at);
