-- Announcements of other domains (report.published, ...) go out on the signed webhooks with the
-- audit records: a row with no subscription and its JSON body here.
ALTER TABLE subscription_events ADD COLUMN payload TEXT;
