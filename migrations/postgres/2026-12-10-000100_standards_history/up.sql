-- Standards' history (src/standards/store.rs), one row per day: what each scorecard and campaign
-- looked like, kept for good, and each entity's score, kept for 400 days.
CREATE TABLE scorecard_days (
    scorecard_ref TEXT NOT NULL,
    day TEXT NOT NULL,
    entities INTEGER NOT NULL,
    unranked INTEGER NOT NULL,
    -- JSON: [{"name", "entities"}] and [{"id", "passRate"}].
    levels TEXT NOT NULL,
    checks TEXT NOT NULL,
    PRIMARY KEY (scorecard_ref, day)
);
CREATE TABLE entity_scores (
    scorecard_ref TEXT NOT NULL,
    day TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    level TEXT,
    score DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scorecard_ref, day, entity_ref)
);
CREATE INDEX entity_scores_day_idx ON entity_scores (day);
CREATE TABLE campaign_days (
    campaign_ref TEXT NOT NULL,
    day TEXT NOT NULL,
    in_scope INTEGER NOT NULL,
    done INTEGER NOT NULL,
    PRIMARY KEY (campaign_ref, day)
);
