-- The SHA-256 of the body a batch id (an Idempotency-Key scoped to its caller, a NATS message
-- id) was first recorded with: the same id with another body is refused. NULL for batches
-- recorded before.
ALTER TABLE usage_batches ADD COLUMN body_hash TEXT;
