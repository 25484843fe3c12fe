//! The scaffolder's routes: Backstage's `/api/scaffolder/v2` (docs/backstage-compatibility.md).

use super::handlers as scaffolder;
use super::task_handlers as tasks;
use crate::auth::policy::Rule::*;
use crate::rows::{Body, OBJECT, Param, route_table};

pub const CREATED_BY: Param = Param::repeated("createdBy", "Only tasks created by this user ref (may repeat)");
pub const STATUS: Param = Param::repeated(
    "status",
    "Only tasks in this state: open, processing, waiting, completed, failed, cancelled (may repeat)",
);
pub const LIMIT: Param = Param::count("limit", "At most this many tasks (default 100, at most 1000)");
pub const OFFSET: Param = Param::count("offset", "Skip this many tasks");
pub const AFTER: Param = Param::count("after", "Only events with a larger id");

route_table! {
    /// Golden paths: Backstage's scaffolder API.
    ROUTES, configure;
    GET "/api/scaffolder/v2/templates/{namespace}/{kind}/{name}/parameter-schema" => scaffolder::parameter_schema {
        tag: "scaffolder", rule: Read,
        summary: "A template's form: its title, description and one step per page, each with its JSON Schema (Backstage's shape)",
    }
    GET "/api/scaffolder/v2/actions" => scaffolder::list_actions {
        tag: "scaffolder", rule: Read,
        summary: "Every action templates may use, with its input and output JSON Schemas",
    }
    POST "/api/scaffolder/v2/tasks" => tasks::create {
        tag: "scaffolder", rule: SignedIn,
        summary: "Runs a template as a task: {templateRef, values, secrets?}; 201 {id}. Refused at once (400) when an action or filter is missing or the values do not fit the form",
        body: Body::Json(OBJECT), ok: 201,
    }
    GET "/api/scaffolder/v2/tasks" => tasks::list {
        tag: "scaffolder", rule: Read,
        summary: "Tasks, newest first: {tasks, totalTasks}; createdBy and status may repeat; limit (default 100), offset",
        query: [CREATED_BY, STATUS, LIMIT, OFFSET],
    }
    GET "/api/scaffolder/v2/tasks/{id}" => tasks::get {
        tag: "scaffolder", rule: Read,
        summary: "A task: id, spec, status, createdAt, lastHeartbeatAt, createdBy (never its secrets)",
    }
    GET "/api/scaffolder/v2/tasks/{id}/events" => tasks::events {
        tag: "scaffolder", rule: Read,
        summary: "A task's events after `after` (log, completion, cancelled); waits up to 10 s for the first while it runs",
        query: [AFTER],
    }
    GET "/api/scaffolder/v2/tasks/{id}/eventstream" => tasks::eventstream {
        tag: "scaffolder", rule: Read,
        summary: "A task's events as Server-Sent Events, ending after its completion",
        query: [AFTER], answers: ["text/event-stream"],
    }
    POST "/api/scaffolder/v2/tasks/{id}/cancel" => tasks::cancel {
        tag: "scaffolder", rule: SignedIn,
        summary: "Cancels a task (its creator or an admin): 200 {status: cancelled}; it stops before its next step",
    }
    POST "/api/scaffolder/v2/tasks/{id}/approve" => tasks::approve {
        tag: "scaffolder", rule: SignedIn,
        summary: "Approves a waiting task (one of its gate's approvers, or an admin): {reason?}; the decision and who took it become an event",
        body: Body::Json(OBJECT),
    }
    POST "/api/scaffolder/v2/tasks/{id}/reject" => tasks::reject {
        tag: "scaffolder", rule: SignedIn,
        summary: "Rejects a waiting task (one of its gate's approvers, or an admin): {reason?}; the task fails with the reason",
        body: Body::Json(OBJECT),
    }
    POST "/api/scaffolder/v2/tasks/{id}/callbacks/{token}" => tasks::callback {
        tag: "scaffolder", rule: Webhook,
        summary: "The receiver of a portolan:await webhook answers with the one-time address it was sent: {status: ready|failed|pending, output?, message?}; ready and failed end the wait, pending only shows its message on the task",
        body: Body::Json(OBJECT),
    }
    POST "/api/scaffolder/v2/dry-run" => scaffolder::dry_run {
        tag: "scaffolder", rule: SignedIn,
        summary: "Runs a template (the document with its files, or templateRef) in a throw-away workspace: the files it makes, its log and output; actions reaching outside the workspace are skipped",
        body: Body::Json(OBJECT),
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list).
pub const TABLES: &[&[crate::rows::Route]] = &[ROUTES];
