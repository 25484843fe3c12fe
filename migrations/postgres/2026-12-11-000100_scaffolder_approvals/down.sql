ALTER TABLE scaffolder_tasks DROP COLUMN decision;
ALTER TABLE scaffolder_tasks DROP COLUMN gate;
