-- Standards as code (src/standards/store.rs): a counter that moves with every write of
-- scorecard_results, so the catalog's read cache knows when the scorecards shown in an entity's
-- status.items changed.
CREATE TABLE standards_state (
    id INTEGER NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO standards_state (id, generation) VALUES (1, 0);
