-- Live instances: each serving process beats once a second; a lease held by an instance that
-- stopped beating is free (db::instances).
CREATE TABLE instances (
    id TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
