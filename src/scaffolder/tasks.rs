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

use super::run::{Resume, Run, Stop};
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
    /// The address the task was asked for through (`http://host:port`): where its callbacks go,
    /// unless `scaffolder.callback_base_url` says otherwise.
    #[serde(skip)]
    pub base_url: Option<String>,
    /// What its creator may do on others' behalf, as when asking: `{anyConsumer, ownership}`
    /// (`portolan:subscribe` holds to it).
    #[serde(skip)]
    pub rights: Option<Value>,
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
        let mut spec = spec;
        // Where receivers of portolan:await call back.
        spec["portolan"] = json!({"callbackBaseUrl": self.settings.callback_base_url.clone().or(t.base_url),
                                  "rights": t.rights.unwrap_or_else(|| json!({"anyConsumer": false, "ownership": []}))});
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
                Some(json!({"kind": "approval", "approvers": [key], "message": message, "stepId": null}))
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
                checkpoint: None,
                template_ref: Some(key.clone()),
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

    /// Runs one claimed task until it ends or parks at a step that waits.
    fn work(&self, id: &str, owner: &str, alive: &Weak<()>) -> anyhow::Result<()> {
        let Some(mut row) = store::get(&self.pool, id)? else { return Ok(()) };
        let ended = |status: &str, body: Value| store::complete(&self.pool, id, status, &body.to_string(), now_ms());
        if row.status == "waiting" {
            // Due while waiting: its timeout passed. Unless the answer came first, that is the answer.
            let gate = row.gate();
            let now = now_ms();
            let answer = json!({"status": "timedOut", "timeout": gate["timeout"], "message": gate["message"], "at": crate::db::rfc3339(now)});
            let words = format!(
                "No callback from {} within {}",
                gate["url"].as_str().unwrap_or("the receiver"),
                gate["timeout"].as_str().unwrap_or("the timeout")
            );
            let body = json!({"message": words, "stepId": gate["stepId"], "status": "timedOut"});
            store::decide(&self.pool, id, &answer.to_string(), &body.to_string(), now)?;
            row = match store::get(&self.pool, id)? {
                Some(r) => r,
                None => return Ok(()),
            };
        }
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
            row.secrets.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        let answer: Option<Value> = row.decision.as_deref().and_then(|d| serde_json::from_str(d).ok());
        store::start(&self.pool, id, now_ms())?;
        let spec: Value = serde_json::from_str(&row.spec)?;
        let template = Template::from_spec(&spec).map_err(anyhow::Error::msg)?;
        let workspace = tempfile::Builder::new().prefix("portolan-task").tempdir()?;
        // A task that waited goes on from its checkpoint, in its workspace as it was.
        let mut resume = None;
        if let Some(c) = row.checkpoint.as_deref() {
            let Checkpoint { mut at, workspace: files } = serde_json::from_str(c)?;
            actions::files::unpack(&files, workspace.path()).map_err(anyhow::Error::msg)?;
            at.answer = answer;
            resume = Some(at);
        }
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
        let catalog = TaskCatalog { pool: self.pool.clone(), ingestor: self.ingestor.clone(), own: self.own.clone() };
        let shut_down = || alive.upgrade().is_none();
        let is_cancelled = || cancelled.load(Ordering::SeqCst) || shut_down();
        let template_dir = row.template_dir.as_ref().map(PathBuf::from);
        let base_url = spec["portolan"]["callbackBaseUrl"].as_str().map(str::to_owned);
        let outside = TaskOutside { scaffolder: self, id, base_url, rights: spec["portolan"]["rights"].clone() };
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
            outside: Some(&outside),
            resume,
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
        if let Err(Stop::Waiting { at, gate }) = &result
            && !cancelled.load(Ordering::SeqCst)
        {
            return self.park(id, owner, workspace.path(), at, gate);
        }
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
            Err(Stop::Waiting { .. }) => Ok(()),
            Err(Stop::Failed(f)) => ended(
                "failed",
                json!({"message": "Run completed with status: failed", "stepId": f.step_id,
                       "error": {"name": "Error", "message": f.message}}),
            ),
        }
    }

    /// Parks a task at the step that waits: its checkpoint (the steps' outputs and the workspace)
    /// stored, the lease given back, due again at its timeout (if any).
    fn park(
        &self,
        id: &str,
        owner: &str,
        workspace: &std::path::Path,
        at: &Resume,
        gate: &Value,
    ) -> anyhow::Result<()> {
        let checkpoint = Checkpoint { at: at.clone(), workspace: actions::files::pack(workspace, true)? };
        let message = gate["message"].as_str().unwrap_or_default();
        let words = match gate["kind"].as_str() {
            Some("approval") => {
                let approvers: Vec<&str> =
                    gate["approvers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                format!("Waiting for the approval of {}: {message}", approvers.join(", "))
            }
            _ => format!("Waiting: {message}"),
        };
        let body = json!({"message": words, "stepId": gate["stepId"], "status": "waiting"});
        let due = gate["timeoutAt"].as_i64().unwrap_or(store::NEVER);
        let parking = store::Parking {
            gate: &gate.to_string(),
            checkpoint: &serde_json::to_string(&checkpoint)?,
            due,
            body: &body.to_string(),
        };
        store::park(&self.pool, id, owner, &parking, now_ms())?;
        self.wake.notify();
        Ok(())
    }
}

/// Where a parked task stopped (`scaffolder_tasks.checkpoint`): the run's resume point and the
/// workspace's files.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    #[serde(flatten)]
    at: Resume,
    workspace: Vec<actions::files::FileEntry>,
}

/// The catalog as a task's actions see it: reads, and registering locations on behalf of the
/// task's user under the API's rules (file roots, allowed hosts).
struct TaskCatalog {
    pool: Pool,
    ingestor: Ingestor,
    /// The scaffolder's own folder (`Scaffolder::own`).
    own: PathBuf,
}

impl TaskCatalog {
    fn register_as(&self, kind: &str, target: String, origin: &'static str) -> anyhow::Result<Vec<String>> {
        let ing = self.ingestor.clone();
        let kind = kind.to_owned();
        let registered = self.ingestor.block_on(async move {
            ing.register(&kind, &target, false, crate::catalog::register::OnConflict::Refresh, origin).await
        })??;
        if registered.entities.len() <= 1
            && let Some(e) = registered.errors.first()
        {
            anyhow::bail!("{}: {}", e.source, e.message);
        }
        Ok(registered.entities.iter().filter_map(crate::catalog::validate::describe).collect())
    }
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
        // portolan's own folder (what publish:local pushed) is read whatever the file roots say.
        let own = kind == "file"
            && !target.contains("..")
            && crate::catalog::ingest::absolute(std::path::Path::new(&target)).starts_with(&self.own);
        self.register_as(kind, target, if own { "scaffolder" } else { "api" })
    }

    fn keep(&self, entity: &Value, _by: &str) -> anyhow::Result<String> {
        let m = &entity["metadata"];
        let (kind, ns, name) = (
            entity["kind"].as_str().unwrap_or_default().to_ascii_lowercase(),
            m["namespace"].as_str().unwrap_or("default"),
            m["name"].as_str().unwrap_or_default(),
        );
        let kept = super::kept_entities(&self.own);
        std::fs::create_dir_all(&kept)?;
        let file = kept.join(format!("{kind}-{ns}-{name}.yaml"));
        std::fs::write(&file, serde_saphyr::to_string(entity)?)?;
        let path = file.display().to_string();
        // portolan's own folder: not a location of the API's file roots.
        let refs = self.register_as("file", path, "scaffolder")?;
        let own = format!("{kind}:{ns}/{name}");
        refs.iter()
            .find(|r| r.eq_ignore_ascii_case(&own))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{own} was not registered (the location held {})", refs.join(", ")))
    }
}

/// A task's way out: callbacks to it, and signed webhooks sent under the outgoing rules.
struct TaskOutside<'a> {
    scaffolder: &'a Scaffolder,
    id: &'a str,
    base_url: Option<String>,
    rights: Value,
}

impl actions::Outside for TaskOutside<'_> {
    fn callback(&self) -> Result<(String, String), String> {
        let base = self.base_url.as_deref().ok_or(
            "no address to call back: set scaffolder.callback_base_url (the task was not created through HTTP)",
        )?;
        let token = crate::auth::tokens::random_token();
        let url = format!("{}/api/scaffolder/v2/tasks/{}/callbacks/{token}", base.trim_end_matches('/'), self.id);
        Ok((url, crate::auth::tokens::hash_token(&token)))
    }

    fn post_signed(&self, url: &str, event: &str, body: &Value) -> Result<(), String> {
        let secret = self.scaffolder.settings.webhook_secret.as_ref().filter(|s| !s.is_empty()).ok_or(
            "portolan:await signs its webhooks: set scaffolder.webhook_secret (the receiver checks X-Portolan-Signature-256 with it)",
        )?;
        let parsed = self.checked(url)?;
        let reader = &self.scaffolder.outbound;
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let request = reader
            .client()
            .post(parsed)
            .header("Content-Type", "application/json")
            .header("X-Portolan-Event", event)
            .header("X-Portolan-Delivery", format!("{}/{}", self.id, body["stepId"].as_str().unwrap_or_default()))
            .header("X-Portolan-Signature-256", crate::offerings::notify::signature(secret.expose(), &bytes))
            .timeout(Duration::from_secs(10))
            .body(bytes);
        let (status, _) = self.send(url, request)?;
        if (200..300).contains(&status) { Ok(()) } else { Err(format!("{url} answered {status}")) }
    }

    fn git_host(&self, kind: &str, host: &str) -> Option<(String, Option<String>)> {
        self.scaffolder
            .settings
            .hosts
            .iter()
            .find(|h| h.kind == kind && h.host.eq_ignore_ascii_case(host))
            .map(|h| (h.api_base_url.clone(), h.token.as_ref().map(|t| t.expose().to_owned())))
    }

    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let parsed = self.checked(url)?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.scaffolder.outbound.client().request(method, parsed).timeout(Duration::from_secs(20));
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        if let Some(b) = body {
            request = request.header("Content-Type", "application/json").body(b.to_string());
        }
        self.send(url, request)
    }

    fn check_url(&self, url: &str) -> Result<(), String> {
        self.checked(url).map(|_| ())
    }

    fn subscribe(&self, api: &str, plan: &str, consumer: &str, reason: Option<String>) -> Result<Value, String> {
        use crate::offerings::subscriptions as subs;
        let pool = &self.scaffolder.pool;
        let words = |e: ApiError| match e {
            ApiError::Client { message, .. } => message,
            ApiError::Internal(e) => format!("{e:#}"),
        };
        let (api, consumer) = (subs::api_key(api).map_err(words)?, subs::consumer_key(consumer).map_err(words)?);
        if self.rights["anyConsumer"] != true {
            let owners: Vec<String> =
                crate::catalog::facade::relation_targets(pool, std::slice::from_ref(&consumer), "ownedBy")
                    .map_err(|e| format!("{e:#}"))?
                    .into_iter()
                    .map(|(_, o)| o)
                    .collect();
            let mine: Vec<&str> =
                self.rights["ownership"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !owners.iter().any(|o| mine.contains(&o.as_str())) {
                return Err(format!(
                    "the task's creator owns no part of {consumer} (its owners: {}), so may not subscribe it",
                    if owners.is_empty() { "none".to_owned() } else { owners.join(", ") }
                ));
            }
        }
        let by = self.rights["by"].as_str().unwrap_or("scaffolder").to_owned();
        let row = subs::request(pool, &api, plan, &consumer, reason, &by).map_err(words)?;
        let view = subs::render_one(pool, &row).map_err(|e| format!("{e:#}"))?;
        serde_json::to_value(view).map_err(|e| e.to_string())
    }

    fn local_repos(&self) -> PathBuf {
        self.scaffolder.own.join("repos")
    }
}

impl TaskOutside<'_> {
    /// The address, if the outgoing rules allow it.
    fn checked(&self, url: &str) -> Result<url::Url, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not an address: {e}"))?;
        self.scaffolder.outbound.check(&parsed).map_err(|e| format!("'{url}': {e}"))?;
        Ok(parsed)
    }

    /// Sends a request on the catalog's runtime: the status and the JSON body (null otherwise).
    fn send(&self, url: &str, request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let sent = self.scaffolder.ingestor.block_on(async move {
            let res = request.send().await?;
            let status = res.status().as_u16();
            let bytes = res.bytes().await?;
            Ok::<_, reqwest::Error>((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
        });
        match sent {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(format!("{url} could not be reached: {}", crate::catalog::fetch::describe_reqwest(e))),
            Err(e) => Err(format!("{url}: {e:#}")),
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
        if row.status != "waiting" || gate["kind"] != "approval" || row.decision.is_some() {
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
        if !store::decide(&self.pool, id, &decision.to_string(), &body.to_string(), now)? {
            return Ok(Err(Refused::NotWaiting(row.status)));
        }
        if whole && !approved {
            let done =
                json!({"message": "Run completed with status: failed", "error": {"name": "Error", "message": words}});
            store::complete(&self.pool, id, "failed", &done.to_string(), now)?;
        } else {
            // The task goes on (or fails at its step) where any instance picks it up.
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

/// What the receiver of `portolan:await` calls back with.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// `ready` (the step completes with `output`), `failed` (the step fails with `message`), or
    /// `pending` (not yet: `message` shows on the task, which goes on waiting).
    pub status: CallbackStatus,
    #[serde(default)]
    pub output: Option<Map<String, Value>>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackStatus {
    Ready,
    Failed,
    Pending,
}

impl Scaffolder {
    /// A receiver's callback to task `id` with the one-time `token` it was sent: the answer
    /// (ready, failed) makes the task go on at once wherever an instance is free; `pending` only
    /// notes its message. 404 for a wrong or used token, 409 when the task no longer waits.
    pub fn callback(&self, id: &str, token: &str, cb: Callback) -> Result<&'static str, ApiError> {
        use subtle::ConstantTimeEq;
        let unknown =
            || ApiError::not_found(format!("No callback of task {id} with this token (it was used, or never given)"));
        let row = store::get(&self.pool, id)?.ok_or_else(unknown)?;
        let gate = row.gate();
        let expected = gate["tokenHash"].as_str().unwrap_or_default();
        let given = crate::auth::tokens::hash_token(token);
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(unknown());
        }
        if row.status != "waiting" || row.decision.is_some() {
            return Err(ApiError::conflict(format!(
                "Task {id} is not waiting for this callback (it is {})",
                row.status
            )));
        }
        let now = now_ms();
        let message = cb.message.unwrap_or_default();
        let (status, word) = match cb.status {
            CallbackStatus::Ready => ("ready", "Ready"),
            CallbackStatus::Failed => ("failed", "Failed"),
            CallbackStatus::Pending => ("pending", "Not ready yet"),
        };
        let said = if message.is_empty() { word.to_owned() } else { format!("{word}: {message}") };
        let body = json!({"message": format!("{} says: {said}", gate["url"].as_str().unwrap_or("The receiver")),
                          "stepId": gate["stepId"], "status": status});
        let applied = if cb.status == CallbackStatus::Pending {
            let mut g = gate.clone();
            if !message.is_empty() {
                g["message"] = json!(message);
            }
            store::note(&self.pool, id, &g.to_string(), &body.to_string(), now)?
        } else {
            let answer = json!({"status": status, "output": cb.output.unwrap_or_default(), "message": message,
                                "at": crate::db::rfc3339(now)});
            let done = store::decide(&self.pool, id, &answer.to_string(), &body.to_string(), now)?;
            if done {
                self.wake.notify();
            }
            done
        };
        if !applied {
            return Err(ApiError::conflict(format!("Task {id} is no longer waiting for this callback")));
        }
        Ok(status)
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
