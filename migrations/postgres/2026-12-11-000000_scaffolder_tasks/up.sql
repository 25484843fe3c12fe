-- Golden paths (src/scaffolder/store.rs): template tasks and their events. A task is claimed
-- through its lease (db::lease, due_at); the instance running it beats in last_heartbeat_at.
-- Secrets are held only until a worker claims the task.
CREATE TABLE scaffolder_tasks (
    id TEXT NOT NULL PRIMARY KEY,
    -- JSON: Backstage's TaskSpec (apiVersion, steps, output, parameters, templateInfo, user).
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT,
    -- The folder the template's relative paths read from, when it has one.
    template_dir TEXT,
    secrets TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX scaffolder_tasks_due_idx ON scaffolder_tasks (due_at);
CREATE INDEX scaffolder_tasks_created_idx ON scaffolder_tasks (created_at);
CREATE TABLE scaffolder_task_events (
    id BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL,
    -- log, completion, cancelled
    event_type TEXT NOT NULL,
    -- JSON: {message, stepId?, status?, output?, error?}
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scaffolder_task_events_task_idx ON scaffolder_task_events (task_id, id);
