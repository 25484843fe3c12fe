//! Template tasks: created by `POST /api/scaffolder/v2/tasks` (checked before anything is
//! stored), claimed through the database by one instance's worker (the shared lease helper,
//! `db::lease`: `FOR UPDATE SKIP LOCKED` on PostgreSQL), run step by step with a heartbeat every
//! second, and ended with a `completion` event. A task whose instance died (its lease freed by
//! the instance's silence) is failed by the next worker that claims it, with a message saying
//! so. Secrets are taken out of the table when the task starts and never logged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::run::Run;
use super::store::{self, EventRow, TaskRow};
use super::template::Template;
use super::{Scaffolder, actions};
use crate::catalog::ingest::Ingestor;
use crate::db::{Pool, now_ms};
use crate::error::ApiError;

/// How long a claim holds without a beat (the beat renews it every second).
const LEASE_MS: i64 = 15_000;
/// The template annotation that gates a whole task on a group's approval.
pub const GATE_ANNOTATION: &str = "portolan.dev/approval";

/// Wakes this instance's idle workers when a task is created here.
#[derive(Default)]
pub struct Wake {
    pending: Mutex<u64>,
    cv: Condvar,
}

impl Wake {
    fn notify(&self) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cv.notify_all();
    }

    fn wait(&self, max: Duration) {
        let guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (mut g, _) = self.cv.wait_timeout_while(guard, max, |p| *p == 0).unwrap_or_else(|e| e.into_inner());
        *g = g.saturating_sub(1);
    }
}

/// What `POST /api/scaffolder/v2/tasks` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTask {
    pub template_ref: String,
    pub values: Value,
    #[serde(default)]
    pub secrets: Map<String, Value>,
}

impl Scaffolder {
    /// Checks and stores a task (201 `{id}`): the template exists and runs here, the values fit
    /// its form.
    pub fn create(&self, t: NewTask, user: Option<String>) -> Result<String, ApiError> {
        let found = self.template_by_ref(&t.template_ref)?;
        let key = found.key.clone();
        super::handlers::refuse_what_cannot_run(&found.template, &t.values)?;
        let spec = json!({
            "apiVersion": super::template::API_VERSION,
            "parameters": t.values,
            "steps": found.template.steps_json(),
            "output": found.template.output,
            "templateInfo": {"entityRef": key, "entity": {"metadata": found.template.body["metadata"]}},
            "user": self.user(user.clone()),
        });
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let secrets = if t.secrets.is_empty() { None } else { Some(Value::Object(t.secrets).to_string()) };
        // `portolan.dev/approval: <group>` gates the whole task before its first step.
        let gate = match found.template.body["metadata"]["annotations"][GATE_ANNOTATION].as_str() {
            Some(raw) => {
                let key = crate::catalog::model::EntityRef::parse(raw, Some("group"), "default")
                    .map(|r| r.key())
                    .map_err(|e| ApiError::input(format!("{key}: the {GATE_ANNOTATION} annotation: {e}")))?;
                let message = format!("{} needs the approval of {key} before it runs", found.template.title);
                Some(json!({"approvers": [key], "message": message, "stepId": null}))
            }
            None => None,
        };
        store::insert(
            &self.pool,
            &TaskRow {
                id: id.clone(),
                spec: spec.to_string(),
                status: if gate.is_some() { "waiting".into() } else { "open".into() },
                created_by: user,
                created_at: now,
                last_heartbeat_at: None,
                template_dir: found.dir.map(|d| d.display().to_string()),
                secrets,
                cancel_requested: 0,
                due_at: if gate.is_some() { store::NEVER } else { now },
                lease_owner: None,
                lease_expires_at: None,
                gate: gate.as_ref().map(Value::to_string),
                decision: None,
            },
        )?;
        if let Some(g) = &gate {
            let body = json!({"message": format!("Waiting: {}", g["message"].as_str().unwrap_or_default()), "status": "waiting"});
            store::event(&self.pool, &id, "log", &body.to_string(), now)?;
        } else {
            self.wake.notify();
        }
        Ok(id)
    }

    /// Starts `n` workers on threads of their own; they stop when `alive` is dropped.
    pub fn spawn_workers(self: &Arc<Self>, n: usize, alive: Weak<()>) {
        for i in 0..n {
            let (me, alive) = (self.clone(), alive.clone());
            let owner = format!("{}/scaffolder/{i}", me.ingestor.instance_id);
            let started = std::thread::Builder::new().name(format!("scaffolder-{i}")).spawn(move || {
                while alive.upgrade().is_some() {
                    let now = now_ms();
                    if !store::any_due(&me.pool, now).unwrap_or(true) {
                        me.wake.wait(Duration::from_secs(1));
                        continue;
                    }
                    match store::TASK_LEASES.claim_due(&me.pool, &owner, now, now + LEASE_MS) {
                        Ok(Some(id)) => {
                            if let Err(e) = me.work(&id, &owner, &alive) {
                                tracing::error!(task.id = %id, error.cause = format!("{e:#}"), "A scaffolder task could not be run.");
                            }
                        }
                        Ok(None) => me.wake.wait(Duration::from_secs(1)),
                        Err(e) => {
                            tracing::warn!(error.cause = format!("{e:#}"), "Claiming scaffolder tasks failed; retrying.");
                            std::thread::sleep(Duration::from_secs(2));
                        }
                    }
                }
            });
            if let Err(e) = started {
                tracing::error!(error.cause = %e, "A scaffolder worker could not start.");
            }
        }
    }

    /// Runs one claimed task to its end.
    fn work(&self, id: &str, owner: &str, alive: &Weak<()>) -> anyhow::Result<()> {
        let Some(row) = store::get(&self.pool, id)? else { return Ok(()) };
        let ended = |status: &str, body: Value| store::complete(&self.pool, id, status, &body.to_string(), now_ms());
        if row.status != "open" {
            // Claimed while it ran elsewhere: that instance stopped beating, so it died.
            let message = format!(
                "The instance running this task stopped (no heartbeat since {}); the task failed. Steps it had begun may have half run: check before running the template again.",
                crate::db::rfc3339(row.last_heartbeat_at.unwrap_or(row.created_at))
            );
            return ended("failed", json!({"message": message, "error": {"name": "Error", "message": message}}));
        }
        if row.cancel_requested != 0 {
            return ended("cancelled", json!({"message": "Run completed with status: cancelled"}));
        }
        let secrets: Map<String, Value> =
            store::start(&self.pool, id, now_ms())?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        let spec: Value = serde_json::from_str(&row.spec)?;
        let template = Template::from_spec(&spec).map_err(anyhow::Error::msg)?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let beat = {
            let (pool, id, owner, cancelled, done) =
                (self.pool.clone(), id.to_owned(), owner.to_owned(), cancelled.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let now = now_ms();
                    match store::beat(&pool, &id, &owner, now, now + LEASE_MS) {
                        Ok(Some(true)) | Ok(None) => cancelled.store(true, Ordering::SeqCst),
                        Ok(Some(false)) => {}
                        Err(e) => {
                            tracing::warn!(task.id = %id, error.cause = format!("{e:#}"), "A task's heartbeat failed.")
                        }
                    }
                    for _ in 0..10 {
                        if done.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
        };
        let workspace = tempfile::Builder::new().prefix("portolan-task").tempdir()?;
        let catalog = TaskCatalog { pool: self.pool.clone(), ingestor: self.ingestor.clone() };
        let shut_down = || alive.upgrade().is_none();
        let is_cancelled = || cancelled.load(Ordering::SeqCst) || shut_down();
        let template_dir = row.template_dir.as_ref().map(PathBuf::from);
        let gate = TaskGate { pool: self.pool.clone(), id: id.to_owned(), cancelled: cancelled.clone() };
        let run = Run {
            template: &template,
            values: &spec["parameters"],
            secrets: &secrets,
            user: spec["user"].clone(),
            template_dir: template_dir.as_deref(),
            dry_run: false,
            catalog: Some(&catalog),
            cancelled: &is_cancelled,
            task_id: id,
            gate: Some(&gate),
        };
        let pool = self.pool.clone();
        let result = run.run(workspace.path(), &mut |line| {
            let body = serde_json::to_string(&line).unwrap_or_default();
            if let Err(e) = store::event(&pool, id, "log", &body, now_ms()) {
                tracing::warn!(task.id = %id, error.cause = format!("{e:#}"), "A task's log line was not stored.");
            }
        });
        done.store(true, Ordering::SeqCst);
        let _ = beat.join();
        drop(workspace);
        if result.is_err() && shut_down() {
            let message = "portolan shut down while this task ran; the task failed. Steps it had begun may have half run: check before running the template again.";
            return ended("failed", json!({"message": message, "error": {"name": "Error", "message": message}}));
        }
        match result {
            Ok(output) => {
                ended("completed", json!({"message": "Run completed with status: completed", "output": output}))
            }
            Err(_) if cancelled.load(Ordering::SeqCst) => {
                ended("cancelled", json!({"message": "Run completed with status: cancelled"}))
            }
            Err(f) => ended(
                "failed",
                json!({"message": "Run completed with status: failed", "stepId": f.step_id,
                       "error": {"name": "Error", "message": f.message}}),
            ),
        }
    }
}

/// The catalog as a task's actions see it: reads, and registering locations on behalf of the
/// task's user under the API's rules (file roots, allowed hosts).
struct TaskCatalog {
    pool: Pool,
    ingestor: Ingestor,
}

impl actions::CatalogPort for TaskCatalog {
    fn entity(&self, key: &str) -> anyhow::Result<Option<Value>> {
        actions::CatalogPort::entity(&super::CatalogReader { pool: self.pool.clone() }, key)
    }

    fn register(&self, target: &str, _by: &str) -> anyhow::Result<Vec<String>> {
        let (kind, target) = match target.strip_prefix("file:") {
            Some(path) => ("file", path.to_owned()),
            None => ("url", target.to_owned()),
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let ing = self.ingestor.clone();
        let registered = rt.block_on(self.ingestor.on_runtime(async move {
            ing.register(kind, &target, false, crate::catalog::register::OnConflict::Refresh, "api").await
        }))??;
        Ok(registered.entities.iter().filter_map(crate::catalog::validate::describe).collect())
    }
}

/// A task's gate: `portolan:approval` waits here, the task `waiting`, its heartbeat going on.
struct TaskGate {
    pool: Pool,
    id: String,
    cancelled: Arc<AtomicBool>,
}

impl actions::Gate for TaskGate {
    fn approval(&self, step: &str, approvers: &[String], message: &str) -> actions::Outcome {
        let gate = json!({"approvers": approvers, "message": message, "stepId": step});
        let body = json!({"message": format!("Waiting for the approval of {}: {message}", approvers.join(", ")),
                          "stepId": step, "status": "waiting"});
        store::wait_for(&self.pool, &self.id, &gate.to_string(), &body.to_string(), now_ms())
            .map_err(|e| format!("could not wait for the approval: {e:#}"))?;
        loop {
            if self.cancelled.load(Ordering::SeqCst) {
                return Err("cancelled while waiting for the approval".into());
            }
            match store::decision(&self.pool, &self.id) {
                Ok(Some(d)) => {
                    let d: Value = serde_json::from_str(&d).unwrap_or(Value::Null);
                    let (by, reason) = (d["by"].as_str().unwrap_or("?"), d["reason"].as_str().unwrap_or(""));
                    if d["approved"] != true {
                        return Err(format!(
                            "rejected by {by}{}",
                            if reason.is_empty() { String::new() } else { format!(": {reason}") }
                        ));
                    }
                    store::resume(&self.pool, &self.id).map_err(|e| format!("could not go on: {e:#}"))?;
                    let mut out = Map::new();
                    out.insert("approvedBy".into(), json!(by));
                    out.insert("reason".into(), json!(reason));
                    return Ok(out);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(task.id = %self.id, error.cause = format!("{e:#}"), "Reading a task's decision failed.")
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Why a decision on a task was not taken.
pub enum Refused {
    NotFound,
    NotWaiting(String),
    NotAnApprover(Vec<String>),
}

impl Refused {
    /// The answer for task `id`: 404, 409 or 403, in words.
    pub fn into_error(self, id: &str) -> ApiError {
        match self {
            Refused::NotFound => ApiError::not_found(format!("No task with id '{id}' found")),
            Refused::NotWaiting(status) => {
                ApiError::conflict(format!("Task {id} is not waiting for a decision (it is {status})"))
            }
            Refused::NotAnApprover(approvers) => ApiError::with_code(
                crate::error::ErrorCode::Forbidden,
                format!("Only its approvers ({}) or an admin may decide on this task", approvers.join(", ")),
            ),
        }
    }
}

impl Scaffolder {
    /// Approves or rejects a waiting task, for one of its approvers (`owns`: the ref keys the
    /// caller is or belongs to) or an admin. A whole-task gate approved opens the task; rejected,
    /// fails it.
    pub fn decide(
        &self,
        id: &str,
        approved: bool,
        by: &str,
        owns: &[String],
        admin: bool,
        reason: &str,
    ) -> anyhow::Result<Result<(), Refused>> {
        let Some(row) = store::get(&self.pool, id)? else { return Ok(Err(Refused::NotFound)) };
        let gate = row.gate();
        if row.status != "waiting" || gate.is_null() || row.decision.is_some() {
            return Ok(Err(Refused::NotWaiting(row.status)));
        }
        let approvers = row.approvers();
        if !may_decide(&approvers, by, owns, admin) {
            return Ok(Err(Refused::NotAnApprover(approvers)));
        }
        let now = now_ms();
        let decision = json!({"approved": approved, "by": by, "reason": reason, "at": crate::db::rfc3339(now)});
        let verb = if approved { "Approved" } else { "Rejected" };
        let words = format!("{verb} by {by}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") });
        let body = json!({"message": words, "stepId": gate["stepId"], "status": if approved { "approved" } else { "rejected" }});
        let whole = gate["stepId"].is_null();
        let open_now = (whole && approved).then_some(now);
        if !store::decide(&self.pool, id, &decision.to_string(), &body.to_string(), open_now, now)? {
            return Ok(Err(Refused::NotWaiting(row.status)));
        }
        if whole && !approved {
            let done =
                json!({"message": "Run completed with status: failed", "error": {"name": "Error", "message": words}});
            store::complete(&self.pool, id, "failed", &done.to_string(), now)?;
        }
        if open_now.is_some() {
            self.wake.notify();
        }
        Ok(Ok(()))
    }
}

/// A task waiting for a decision, as `/approvals` lists it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: String,
    pub template: String,
    pub message: String,
    pub step: Option<String>,
    pub approvers: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

impl Scaffolder {
    /// The tasks waiting for a decision this caller may take (an approver, or an admin).
    pub fn waiting_for(&self, by: &str, owns: &[String], admin: bool) -> anyhow::Result<Vec<Waiting>> {
        let (rows, _) = store::list(&self.pool, &[], &["waiting".to_owned()], 500, 0)?;
        let mut out = Vec::new();
        for r in rows.into_iter().filter(|r| r.decision.is_none()) {
            let (gate, approvers) = (r.gate(), r.approvers());
            if approvers.is_empty() || !may_decide(&approvers, by, owns, admin) {
                continue;
            }
            let spec: Value = serde_json::from_str(&r.spec).unwrap_or(Value::Null);
            out.push(Waiting {
                id: r.id,
                template: spec["templateInfo"]["entityRef"].as_str().unwrap_or_default().to_owned(),
                message: gate["message"].as_str().unwrap_or_default().to_owned(),
                step: gate["stepId"].as_str().map(str::to_owned),
                approvers,
                created_by: r.created_by,
                created_at: r.created_at,
            });
        }
        Ok(out)
    }
}

/// Whether `by` (the ref keys it is or belongs to: `owns`) decides for these approvers: one of
/// them, a member of one, or an admin.
pub fn may_decide(approvers: &[String], by: &str, owns: &[String], admin: bool) -> bool {
    admin || approvers.iter().any(|a| owns.contains(a) || a == by)
}

impl TaskRow {
    /// What the task waits for (`{approvers, message, stepId}`), or null.
    pub fn gate(&self) -> Value {
        self.gate.as_deref().and_then(|g| serde_json::from_str(g).ok()).unwrap_or(Value::Null)
    }

    /// The approvers of its gate (none when it waits for nothing).
    pub fn approvers(&self) -> Vec<String> {
        self.gate()["approvers"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    /// Whether it has not ended (`open`, `processing`, `waiting`).
    pub fn is_open(&self) -> bool {
        ["open", "processing", "waiting"].contains(&self.status.as_str())
    }
}

impl Scaffolder {
    /// A task (404 when there is none).
    pub fn task(&self, id: &str) -> Result<TaskRow, ApiError> {
        store::get(&self.pool, id)?.ok_or_else(|| ApiError::not_found(format!("No task with id '{id}' found")))
    }

    /// Tasks, newest first, filtered by creator and status (none: any); and how many there are.
    pub fn list(
        &self,
        created_by: &[String],
        status: &[String],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TaskRow>, i64), ApiError> {
        Ok(store::list(&self.pool, created_by, status, limit, offset)?)
    }

    /// A task's events after `after` (an event id), oldest first.
    pub fn events(&self, id: &str, after: i64) -> Result<Vec<EventRow>, ApiError> {
        Ok(store::events_after(&self.pool, id, after)?)
    }

    /// Cancels a task for its creator (`who`, the caller's user ref) or an admin: the
    /// `cancelled` event, and a task no one runs (waiting at its gate) ends at once.
    pub fn cancel(&self, id: &str, who: Option<String>, admin: bool) -> Result<(), ApiError> {
        let t = self.task(id)?;
        if !admin && (t.created_by.is_none() || t.created_by != who) {
            return Err(ApiError::with_code(
                crate::error::ErrorCode::Forbidden,
                "Only the task's creator or an admin may cancel it",
            ));
        }
        let body = json!({"message": format!("Task {id} has been cancelled."), "status": "cancelled"});
        let now = now_ms();
        if store::request_cancel(&self.pool, id, &body.to_string(), now)?
            && t.lease_owner.is_none()
            && t.status != "open"
        {
            // Waiting for its gate, run by no one: it ends here.
            let done = json!({"message": "Run completed with status: cancelled"});
            store::complete(&self.pool, id, "cancelled", &done.to_string(), now)?;
        }
        Ok(())
    }
}
