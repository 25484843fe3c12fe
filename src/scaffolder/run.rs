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
    /// Where `portolan:approval` waits (a task's; none in a dry run).
    pub gate: Option<&'a dyn actions::Gate>,
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
    pub fn run(&self, workspace: &Path, log: &mut dyn FnMut(LogLine)) -> Result<Value, Failure> {
        let engine = Templater::new(false);
        let mut emit = |message: String, step: Option<&str>, status: Option<&'static str>| {
            log(LogLine { message: mask(&message, self.secrets), step_id: step.map(str::to_owned), status })
        };
        let mut steps: Map<String, Value> = Map::new();
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
        emit(format!("Starting up task with {} steps", self.template.steps.len()), None, None);
        for step in &self.template.steps {
            if (self.cancelled)() {
                return Err(Failure { step_id: Some(step.id.clone()), message: "the task was cancelled".into() });
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
            emit(format!("Beginning step {}", step.name), Some(&step.id), Some("processing"));
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
                            return Err(e);
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
                        return Err(e);
                    }
                };
                let mut lines: Vec<String> = Vec::new();
                let result = {
                    let mut sink = |m: String| lines.push(m);
                    let mut actx = Ctx {
                        step: &step.id,
                        gate: self.gate,
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
                        return Err(e);
                    }
                }
            }
            steps.insert(step.id.clone(), json!({"output": output}));
            emit(format!("Finished step {}", step.name), Some(&step.id), Some("completed"));
        }
        let ctx = context(&ctx_value(&steps, None, false));
        engine
            .render_value(&self.template.output, &ctx)
            .map_err(|e| Failure { step_id: None, message: format!("the template's output: {e}") })
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
