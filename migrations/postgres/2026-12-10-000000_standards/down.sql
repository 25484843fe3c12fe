DROP TABLE scorecard_versions;
DROP TABLE scorecard_results;
