-- Standards as code (src/standards/store.rs): how each entity stands against each Scorecard.
-- One row per scorecard and entity it applies to, replaced when either changes.
CREATE TABLE scorecard_results (
    scorecard_ref TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    owner_ref TEXT,
    level TEXT,
    score REAL NOT NULL,
    -- JSON: [{"passed": bool, "error"?: text}] in the scorecard's check order.
    checks TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    PRIMARY KEY (scorecard_ref, entity_ref)
);
CREATE INDEX scorecard_results_entity_idx ON scorecard_results (entity_ref);
-- Which version of each scorecard its rows were judged by (a changed body: judged again whole).
CREATE TABLE scorecard_versions (
    scorecard_ref TEXT NOT NULL PRIMARY KEY,
    body_hash TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL
);
