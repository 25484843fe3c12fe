-- Append, answer, fold (issue 30). The intake appends each batch's accepted events, added up per
-- (API, consumer, subscription, minute), as one record per partition (a hash of the API), and
-- answers after that commit. A folder merges the records into the rollup levels and deletes them
-- in one transaction per partition; the views read the levels plus the records not yet folded.
CREATE TABLE usage_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    part INTEGER NOT NULL,
    at BIGINT NOT NULL,
    events BIGINT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX usage_records_part_idx ON usage_records (part, id);

-- One row per partition: a folder holds its row's lock (FOR UPDATE SKIP LOCKED on PostgreSQL)
-- while it folds that partition, so instances fold different partitions side by side.
CREATE TABLE usage_fold_parts (
    part INTEGER NOT NULL PRIMARY KEY,
    folded_at BIGINT NOT NULL DEFAULT 0
);
INSERT INTO usage_fold_parts (part) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14), (15);

-- The week level (weeks start on Monday, UTC), kept for good like days: the 90-day summary and
-- the 12-week adoption read it, with days only at a range's edges.
CREATE TABLE usage_weeks (
    api TEXT NOT NULL,
    consumer TEXT NOT NULL,
    subscription TEXT NOT NULL,
    t BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (api, consumer, subscription, t)
) WITHOUT ROWID;
-- What sums per consumer read without the histograms: (API, time) first.
CREATE INDEX usage_weeks_api_t_idx ON usage_weeks (api, t, consumer, calls, errors);
CREATE INDEX usage_days_api_t_idx ON usage_days (api, t, consumer, calls, errors);

-- 0 until the week level has been built once from the day rows (by the first folder to run).
ALTER TABLE usage_state ADD COLUMN weeks_built BIGINT NOT NULL DEFAULT 0;
