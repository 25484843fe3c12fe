DROP INDEX deployments_rollback_of_idx;
DROP TABLE deployment_weeks;
DROP TABLE change_leads;
