DROP TABLE portal_state;
DROP TABLE findings;
ALTER TABLE entities DROP COLUMN findings;
ALTER TABLE entities DROP COLUMN line;
