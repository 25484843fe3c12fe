-- Full text through an index: a trigram GIN index on the search values, which PostgreSQL uses
-- for `value LIKE '%term%'` (terms of 3 characters or more) and rechecks, so the answer is
-- exactly that of the substring scan. pg_trgm is a trusted extension (PostgreSQL 13+): the
-- database owner may create it; where the role may not, a superuser runs
-- `CREATE EXTENSION pg_trgm;` in the database once before portolan starts (README, Storage).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX search_value_trgm_idx ON search USING gin (value gin_trgm_ops);
