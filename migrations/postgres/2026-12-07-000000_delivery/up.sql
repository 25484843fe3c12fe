-- The delivery office's own tables (src/delivery/store.rs).
-- Status updates of roadmap items, kept as history (also of items a descriptor no longer has).
CREATE TABLE plan_updates (
    id BIGSERIAL PRIMARY KEY,
    entity_ref TEXT NOT NULL,
    item_id TEXT NOT NULL,
    health TEXT NOT NULL,
    note TEXT NOT NULL,
    progress INTEGER,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX plan_updates_item_idx ON plan_updates (entity_ref, item_id, created_at);
-- Value reports stored at the end of each period: what was true then.
CREATE TABLE value_reports (
    period TEXT NOT NULL PRIMARY KEY,
    generated_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
