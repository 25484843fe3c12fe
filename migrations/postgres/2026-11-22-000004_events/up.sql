-- The change feed: one row per entity added, updated or removed, in commit order.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX events_at_idx ON events (at);

-- One row: bumped by every transaction that changes what the catalog serves. Writers lock it
-- first, so event ids commit in order, and readers compare it to know whether a cache is stale.
CREATE TABLE catalog_version (
    id INTEGER NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO catalog_version (id, generation) VALUES (1, 0);
