-- The seam between the catalog and governance: findings are served from the portal's own
-- findings table (no copy on the catalog's entities), and the portal keeps its cursor into the
-- catalog's change feed, advanced with the findings it derives.
ALTER TABLE entities DROP COLUMN findings;
ALTER TABLE portal_state ADD COLUMN event_id BIGINT NOT NULL DEFAULT 0;
