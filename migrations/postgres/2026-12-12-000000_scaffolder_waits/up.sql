-- Golden paths' waits that outlive the instance (src/scaffolder/store.rs): a task waiting at a
-- step keeps where it stopped (JSON {next, steps, workspace}) so any instance resumes it after the
-- decision, the callback or the timeout.
ALTER TABLE scaffolder_tasks ADD COLUMN checkpoint TEXT;
-- The template a task runs (`template:default/x`), for the platform view's counts of
-- infrastructure requested through templates.
ALTER TABLE scaffolder_tasks ADD COLUMN template_ref TEXT;
CREATE INDEX scaffolder_tasks_template ON scaffolder_tasks (template_ref);
