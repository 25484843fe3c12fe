-- Full text through an index. One row per entity (its rowid is the entity's rowid) holding the
-- entity's distinct non-empty search values, one per line, indexed by trigrams of characters as
-- they are (the values are lower-cased already). Contentless: only the index is stored.
-- A query for a term of 3 characters or more reads candidates here, then checks the search rows
-- themselves, so the answer is exactly that of the substring scan (catalog/store/sql.rs).
CREATE VIRTUAL TABLE entity_text USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
);
-- Every way an entity row goes (a rewrite, a delete, a location's cascade) takes its text along.
CREATE TRIGGER entity_text_delete AFTER DELETE ON entities BEGIN
    DELETE FROM entity_text WHERE rowid = old.rowid;
END;
INSERT INTO entity_text (rowid, terms)
SELECT r, group_concat(v, char(10))
FROM (SELECT DISTINCT e.rowid AS r, s.value AS v FROM entities e JOIN search s ON s.entity_id = e.id WHERE s.value <> '')
GROUP BY r;
