DROP INDEX search_value_trgm_idx;
