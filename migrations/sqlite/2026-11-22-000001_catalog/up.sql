-- The catalog: registered locations, the entities they produce, and their derived tables.
CREATE TABLE locations (
    id TEXT NOT NULL PRIMARY KEY,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_refresh_at BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    last_success_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    UNIQUE (type, target)
);

CREATE TABLE entities (
    id TEXT NOT NULL PRIMARY KEY,
    entity_ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    location_id TEXT REFERENCES locations (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    hash TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- The entity that emitted this one (the Location naming its file), for ancestry.
    parent_ref TEXT
);
CREATE INDEX entities_location_idx ON entities (location_id);
-- Kind filters page in ref order straight from the index.
CREATE INDEX entities_kind_idx ON entities (kind, entity_ref);

-- Every relation and its inverse, clustered by source so an entity's relations are one range.
-- `entity_id` is the entity whose descriptor produced the row.
CREATE TABLE relations (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    source_key TEXT NOT NULL,
    type TEXT NOT NULL,
    target_ref TEXT NOT NULL,
    target_key TEXT NOT NULL
);
CREATE INDEX relations_source_idx ON relations (source_key);
CREATE INDEX relations_entity_idx ON relations (entity_id);

-- Lower-cased leaves of each entity; a null or over-long value is stored as ''.
-- `original_value` keeps the value's own spelling (for facets) when it differs from `value`.
CREATE TABLE search (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    original_value TEXT
);
-- Covers filters (key, value -> entity) and facets (key -> value, original) without the table.
CREATE INDEX search_key_value_idx ON search (key, value, original_value, entity_id);
CREATE INDEX search_entity_idx ON search (entity_id);

-- Refs that a second location emitted while another location owned them.
CREATE TABLE conflicts (
    entity_ref TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    owner_location_id TEXT,
    source TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (entity_ref, location_id)
);

-- ETags of URL reads, per location, so an unchanged file costs a 304 and no reprocessing.
-- `nested` holds the Location targets the file named last time (JSON array of "type:target").
CREATE TABLE read_cache (
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    etag TEXT NOT NULL,
    nested TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (location_id, url)
);
