-- Products and platforms: where each entity's document starts, governance findings, and the
-- generation counter that serialises findings recomputation across instances.
ALTER TABLE entities ADD COLUMN line BIGINT;
-- The entity's findings as Backstage status items (a JSON array), merged into `status` when served.
ALTER TABLE entities ADD COLUMN findings TEXT;

CREATE TABLE findings (
    entity_ref TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL,
    source TEXT,
    line BIGINT,
    owner TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX findings_entity_idx ON findings (entity_ref);
CREATE INDEX findings_rule_idx ON findings (rule);

CREATE TABLE portal_state (
    id INTEGER NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO portal_state (id, generation) VALUES (1, 0);
