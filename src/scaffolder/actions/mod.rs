//! The actions a template's steps call: each with its id, description and input and output JSON
//! Schemas (`GET /api/scaffolder/v2/actions`), and what it does given its rendered input. An
//! action works in the task's own workspace folder; those with effects outside it (the catalog)
//! only say what they would do in a dry run.

pub mod catalog;
pub mod fetch;
pub mod files;
pub mod portolan;
pub mod publish;

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::expr::Templater;

/// What an action answers: its output, or what went wrong in words.
pub type Outcome = Result<Map<String, Value>, String>;

/// What the catalog actions need of the catalog, without naming the domain that provides it.
pub trait CatalogPort: Send + Sync {
    /// The entity by ref key (`component:default/x`), as served.
    fn entity(&self, key: &str) -> anyhow::Result<Option<Value>>;
    /// Registers a location (`url:` or `file:` target) for the task's user; the entity refs it
    /// holds.
    fn register(&self, target: &str, by: &str) -> anyhow::Result<Vec<String>>;
    /// Registers an entity in a location portolan keeps itself (a file of its data folder),
    /// replacing the one of the same ref; its ref.
    fn keep(&self, entity: &Value, by: &str) -> anyhow::Result<String>;
}

/// What a task reaches outside its workspace and the catalog through (none in a dry run).
pub trait Outside: Send + Sync {
    /// A one-time address the receiver of `portolan:await` calls back, and the hash of its token
    /// (kept to check the call).
    fn callback(&self) -> Result<(String, String), String>;
    /// POSTs `body` as JSON, signed as portolan's outgoing webhooks are (`X-Portolan-Signature-256`),
    /// to an address the outgoing rules allow.
    fn post_signed(&self, url: &str, event: &str, body: &Value) -> Result<(), String>;
    /// The API address and token of a git host of `kind` (`github`, `gitlab`) named `host`
    /// (with its port, if any) in `[[scaffolder.hosts]]`.
    fn git_host(&self, kind: &str, host: &str) -> Option<(String, Option<String>)>;
    /// A JSON call under the outgoing rules: the status and the body (null when not JSON).
    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String>;
    /// Whether the outgoing rules allow this address.
    fn check_url(&self, url: &str) -> Result<(), String>;
    /// Subscribes a consumer to an API's plan under the offerings' rules, with the rights the
    /// task's creator had when asking (an owner of the consumer, or an admin): the subscription
    /// as `GET /api/portal/subscriptions/{id}` shows it.
    fn subscribe(&self, api: &str, plan: &str, consumer: &str, reason: Option<String>) -> Result<Value, String>;
    /// The folder of the git repositories `publish:local` keeps.
    fn local_repos(&self) -> std::path::PathBuf;
}

/// What one step's action may use.
pub struct Ctx<'a> {
    /// The step's id.
    pub step: &'a str,
    /// The task's id, and the template's ref (`template:default/x`).
    pub task: &'a str,
    pub template: &'a str,
    /// The task's way out (none in a dry run).
    pub outside: Option<&'a dyn Outside>,
    /// The answer to this step's wait, when the task resumes at it.
    pub resumed: Option<&'a Value>,
    /// An action that must wait (for people, for a callback) puts what it waits for here, as
    /// `{kind, message, ...}`: the task parks and resumes at the step with the answer.
    pub wait: &'a mut Option<Value>,
    /// The task's workspace: every path an action writes is inside it.
    pub workspace: &'a Path,
    /// Where `./relative` URLs of the template point (its own folder), when it has one.
    pub template_dir: Option<&'a Path>,
    pub dry_run: bool,
    pub templater: &'a Templater,
    pub catalog: Option<&'a dyn CatalogPort>,
    /// The user the task runs for (`user:default/jo`), or `guest`.
    pub user: &'a str,
    /// Adds a line to the step's log.
    pub log: &'a mut dyn FnMut(String),
    /// Whether the task was cancelled (long actions stop early).
    pub cancelled: &'a dyn Fn() -> bool,
}

/// One action as `GET /api/scaffolder/v2/actions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionInfo {
    pub id: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

type Run = fn(&mut Ctx<'_>, &Map<String, Value>) -> Outcome;

struct Action {
    id: &'static str,
    description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    run: Run,
    /// Whether a dry run runs it (its effects stay in the workspace); others are skipped there.
    dry_run: bool,
}

fn actions() -> Vec<Action> {
    let mut out = Vec::new();
    out.extend(files::actions());
    out.extend(fetch::actions());
    out.extend(catalog::actions());
    out.extend(portolan::actions());
    out.extend(publish::actions());
    out
}

/// Every action, sorted by id.
pub fn list() -> Vec<ActionInfo> {
    let mut v: Vec<ActionInfo> = actions()
        .into_iter()
        .map(|a| ActionInfo {
            id: a.id,
            description: a.description,
            schema: json!({"input": (a.input)(), "output": (a.output)()}),
        })
        .collect();
    v.sort_by_key(|a| a.id);
    v
}

/// Whether portolan has this action.
pub fn exists(id: &str) -> bool {
    actions().iter().any(|a| a.id == id)
}

/// Whether a dry run runs this action.
pub fn supports_dry_run(id: &str) -> bool {
    actions().iter().any(|a| a.id == id && a.dry_run)
}

/// What a dry run gives as the output of an action it skips: an example of its output schema.
pub fn example_output(id: &str) -> Value {
    fn example(schema: &Value) -> Value {
        if let Some(e) = schema.get("examples").and_then(|e| e.get(0)) {
            return e.clone();
        }
        let ty = schema
            .get("type")
            .map(|t| t.as_str().map(str::to_owned).unwrap_or_else(|| t[0].as_str().unwrap_or_default().to_owned()));
        match ty.as_deref() {
            Some("object") => Value::Object(
                schema["properties"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), example(v))).collect(),
            ),
            Some("array") => Value::Array(vec![example(&schema["items"])]),
            Some("string") => Value::String("<example>".into()),
            Some("number" | "integer") => json!(0),
            Some("boolean") => json!(false),
            _ => Value::String("<unknown>".into()),
        }
    }
    actions().into_iter().find(|a| a.id == id).map_or_else(|| json!({}), |a| example(&(a.output)()))
}

/// Runs an action on its rendered input (checked against its input schema first).
pub fn run(id: &str, ctx: &mut Ctx<'_>, input: &Value) -> Outcome {
    let Some(a) = actions().into_iter().find(|a| a.id == id) else {
        return Err(format!("no action '{id}'"));
    };
    let empty = Map::new();
    let input_map = match input {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(format!("the input of {id} is not an object")),
    };
    check_input(id, &(a.input)(), input)?;
    (a.run)(ctx, input_map)
}

/// Checks an input against the action's schema; the first problems, with their places.
fn check_input(id: &str, schema: &Value, input: &Value) -> Result<(), String> {
    let input = if input.is_null() { &json!({}) } else { input };
    let problems = crate::catalog::validate::problems_against(schema, input).map_err(|e| format!("{id}: {e}"))?;
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems
        .iter()
        .take(5)
        .map(|p| if p.path.is_empty() { p.message.clone() } else { format!("{}: {}", p.path, p.message) })
        .collect();
    Err(format!("the input of {id} is not valid: {}", list.join("; ")))
}

/// A path inside the workspace from a relative one an input names; `..` that would leave it, or
/// an absolute path, is refused.
pub fn inside(base: &Path, rel: &str) -> Result<PathBuf, String> {
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => {
                out.pop();
                depth -= 1;
            }
            _ => return Err(format!("'{rel}' leaves the workspace (relative paths inside it only)")),
        }
    }
    Ok(out)
}

/// A text input.
pub fn text<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}
