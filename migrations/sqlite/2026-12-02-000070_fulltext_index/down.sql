DROP TRIGGER entity_text_delete;
DROP TABLE entity_text;
