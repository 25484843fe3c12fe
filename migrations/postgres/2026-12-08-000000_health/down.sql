DROP TABLE incidents;
DROP TABLE deployment_changes;
DROP TABLE deployments;
