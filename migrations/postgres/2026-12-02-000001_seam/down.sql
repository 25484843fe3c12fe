ALTER TABLE portal_state DROP COLUMN event_id;
ALTER TABLE entities ADD COLUMN findings TEXT;
