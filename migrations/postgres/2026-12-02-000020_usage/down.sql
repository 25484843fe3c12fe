DROP TABLE usage_state;
DROP TABLE usage_kpis;
DROP TABLE usage_batches;
DROP TABLE usage_pairs;
DROP TABLE usage_days;
DROP TABLE usage_hours;
DROP TABLE usage_minutes;
