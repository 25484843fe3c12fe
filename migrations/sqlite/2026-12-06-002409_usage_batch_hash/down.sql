ALTER TABLE usage_batches DROP COLUMN body_hash;
