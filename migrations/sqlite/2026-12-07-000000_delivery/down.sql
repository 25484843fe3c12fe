DROP TABLE value_reports;
DROP TABLE plan_updates;
