-- Golden paths' approval gates (src/scaffolder/store.rs): what a waiting task waits for
-- (JSON {approvers, message, stepId}) and the decision taken (JSON {approved, by, reason, at}).
ALTER TABLE scaffolder_tasks ADD COLUMN gate TEXT;
ALTER TABLE scaffolder_tasks ADD COLUMN decision TEXT;
