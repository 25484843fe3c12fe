DROP INDEX scaffolder_tasks_template;
ALTER TABLE scaffolder_tasks DROP COLUMN template_ref;
ALTER TABLE scaffolder_tasks DROP COLUMN checkpoint;
