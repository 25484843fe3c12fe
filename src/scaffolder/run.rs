//! Runs a template's steps in a workspace, in order: each step's `if` and `each` decided, its
//! input rendered with `parameters`, `steps.<id>.output`, `secrets`, `user` and `each`, its
//! action run, its output kept for the steps after. The first failing step ends the run; later
//! steps do not run. Every log line goes out with secrets masked.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::actions::{self, CatalogPort, Ctx};
use super::expr::{Templater, context};
use super::template::Template;

/// One line of a run's log (a task event's body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// `processing`, `completed`, `skipped` or `failed`, on a step's first and last lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// What a run needs besides the template.
pub struct Run<'a> {
    pub template: &'a Template,
    pub values: &'a Value,
    pub secrets: &'a Map<String, Value>,
    /// `{ref, entity?}` of the user the task runs for.
    pub user: Value,
    pub template_dir: Option<&'a Path>,
    pub dry_run: bool,
    pub catalog: Option<&'a dyn CatalogPort>,
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
    pub task_id: &'a str,
    /// The task's way out (none in a dry run).
    pub outside: Option<&'a dyn actions::Outside>,
    /// Where a task that waited goes on from.
    pub resume: Option<Resume>,
}

/// Where a parked task goes on: the step it waited at, the outputs of the steps before it, and
/// the answer it waited for.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Resume {
    pub next: usize,
    pub steps: Map<String, Value>,
    #[serde(skip)]
    pub answer: Option<Value>,
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    Failed(Failure),
    /// A step waits: park the task with what it waits for (`gate`), to resume at `at`.
    Waiting {
        at: Box<Resume>,
        gate: Value,
    },
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failed(f)
    }
}

/// How a run ended badly: the step (when one failed) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub step_id: Option<String>,
    pub message: String,
}

/// Replaces every secret value in a text with `***`.
pub fn mask(text: &str, secrets: &Map<String, Value>) -> String {
    let mut out = text.to_owned();
    for v in secrets.values() {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        if s.len() >= 3 {
            out = out.replace(&s, "***");
        }
    }
    out
}

/// JavaScript's truthiness, which Backstage's `if` follows.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

impl Run<'_> {
    /// Runs every step in `workspace`; `log` takes each line as it happens. Answers the
    /// template's rendered output.
    pub fn run(&self, workspace: &Path, log: &mut dyn FnMut(LogLine)) -> Result<Value, Stop> {
        let engine = Templater::new(false);
        let template_ref = crate::catalog::validate::describe(&self.template.body).unwrap_or_default();
        let mut emit = |message: String, step: Option<&str>, status: Option<&'static str>| {
            log(LogLine { message: mask(&message, self.secrets), step_id: step.map(str::to_owned), status })
        };
        let (first, mut steps) = match &self.resume {
            Some(r) => (r.next, r.steps.clone()),
            None => (0, Map::new()),
        };
        // Secrets are there for a step's input and `each` only (not `if`, not the output).
        let ctx_value = |steps: &Map<String, Value>, each: Option<Value>, secrets: bool| {
            let mut c = json!({
                "parameters": self.values,
                "steps": steps,
                "user": self.user,
                "context": {"task": {"id": self.task_id}},
            });
            if secrets {
                c["secrets"] = Value::Object(self.secrets.clone());
            }
            if let Some(e) = each {
                c["each"] = e;
            }
            c
        };
        if self.resume.is_none() {
            emit(format!("Starting up task with {} steps", self.template.steps.len()), None, None);
        }
        for (index, step) in self.template.steps.iter().enumerate().skip(first) {
            let resumed = self.resume.as_ref().filter(|r| r.next == index).and_then(|r| r.answer.as_ref());
            if (self.cancelled)() {
                return Err(Failure { step_id: Some(step.id.clone()), message: "the task was cancelled".into() }.into());
            }
            let fail = |message: String| Failure { step_id: Some(step.id.clone()), message };
            if let Some(cond) = &step.when {
                let v = engine
                    .render_value(cond, &context(&ctx_value(&steps, None, false)))
                    .map_err(|e| fail(format!("step '{}': if: {e}", step.id)))?;
                if !truthy(&v) {
                    emit(
                        format!("Skipping step {} because its if condition was false", step.id),
                        Some(&step.id),
                        Some("skipped"),
                    );
                    continue;
                }
            }
            if resumed.is_some() {
                emit(format!("Going on with step {}", step.name), Some(&step.id), Some("processing"));
            } else {
                emit(format!("Beginning step {}", step.name), Some(&step.id), Some("processing"));
            }
            let iterations: Vec<Option<Value>> = match &step.each {
                None => vec![None],
                Some(each) => {
                    let v = engine
                        .render_value(each, &context(&ctx_value(&steps, None, true)))
                        .map_err(|e| fail(format!("step '{}': each: {e}", step.id)))?;
                    match v {
                        Value::Array(a) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| Some(json!({"key": i.to_string(), "value": x})))
                            .collect(),
                        Value::Object(o) => o.into_iter().map(|(k, x)| Some(json!({"key": k, "value": x}))).collect(),
                        other => {
                            let e = fail(format!(
                                "step '{}': each must give a list or an object, not {}",
                                step.id,
                                kind_of(&other)
                            ));
                            emit(e.message.clone(), Some(&step.id), Some("failed"));
                            return Err(e.into());
                        }
                    }
                }
            };
            let mut output = Map::new();
            let dry_skip = self.dry_run && !actions::supports_dry_run(&step.action);
            if dry_skip {
                emit(
                    format!("Skipping because {} does not support dry-run", step.action),
                    Some(&step.id),
                    Some("skipped"),
                );
                steps.insert(step.id.clone(), json!({"output": actions::example_output(&step.action)}));
                continue;
            }
            for each in iterations {
                if let Some(e) = &each {
                    emit(format!("Running step each: {e}"), Some(&step.id), None);
                }
                let ctx = context(&ctx_value(&steps, each.clone(), true));
                let input = match engine.render_value(&step.input, &ctx) {
                    Ok(i) => i,
                    Err(e) => {
                        let e = fail(format!("step '{}': its input: {e}", step.id));
                        emit(e.message.clone(), Some(&step.id), Some("failed"));
                        return Err(e.into());
                    }
                };
                let mut lines: Vec<String> = Vec::new();
                let mut wait = None;
                let result = {
                    let mut sink = |m: String| lines.push(m);
                    let mut actx = Ctx {
                        step: &step.id,
                        task: self.task_id,
                        template: &template_ref,
                        outside: self.outside,
                        resumed,
                        wait: &mut wait,
                        workspace,
                        template_dir: self.template_dir,
                        dry_run: self.dry_run,
                        templater: &engine,
                        catalog: self.catalog,
                        user: self.user["ref"].as_str().unwrap_or("guest"),
                        log: &mut sink,
                        cancelled: self.cancelled,
                    };
                    actions::run(&step.action, &mut actx, &input)
                };
                for l in lines {
                    emit(l, Some(&step.id), None);
                }
                if let (Some(gate), Ok(_)) = (wait, &result) {
                    if step.each.is_some() {
                        let e = fail(format!("step '{}': {} cannot wait inside each", step.id, step.action));
                        emit(e.message.clone(), Some(&step.id), Some("failed"));
                        return Err(e.into());
                    }
                    return Err(Stop::Waiting { at: Box::new(Resume { next: index, steps, answer: None }), gate });
                }
                match result {
                    // With `each`, every output name collects one value per item.
                    Ok(o) if step.each.is_some() => {
                        for (k, v) in o {
                            match output.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
                                Value::Array(list) => list.push(v),
                                other => *other = Value::Array(vec![v]),
                            }
                        }
                    }
                    Ok(o) => output = o,
                    Err(message) => {
                        let e = fail(format!("step '{}' ({}) failed: {message}", step.id, step.action));
                        emit(e.message.clone(), Some(&step.id), Some("failed"));
                        return Err(e.into());
                    }
                }
            }
            steps.insert(step.id.clone(), json!({"output": output}));
            emit(format!("Finished step {}", step.name), Some(&step.id), Some("completed"));
        }
        let ctx = context(&ctx_value(&steps, None, false));
        engine
            .render_value(&self.template.output, &ctx)
            .map_err(|e| Failure { step_id: None, message: format!("the template's output: {e}") }.into())
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
