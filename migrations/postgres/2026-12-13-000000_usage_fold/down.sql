ALTER TABLE usage_state DROP COLUMN weeks_built;
DROP INDEX usage_days_api_t_idx;
DROP TABLE usage_weeks;
DROP TABLE usage_fold_parts;
DROP TABLE usage_records;
