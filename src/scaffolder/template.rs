//! A `Template` entity (`scaffolder.backstage.io/v1beta3`) as the scaffolder runs it: its form
//! pages (`spec.parameters`), steps and output; the parameter schema Backstage's form reads; and
//! the checks made before anything runs (every action and filter known, the values valid).

use serde_json::{Map, Value, json};

use super::actions;
use super::expr::Templater;
use crate::catalog::validate::Problem;

/// The apiVersion portolan runs.
pub const API_VERSION: &str = "scaffolder.backstage.io/v1beta3";

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub action: String,
    pub input: Value,
    /// `if`: a boolean or an expression; the step is skipped when it renders false.
    pub when: Option<Value>,
    /// `each`: a list or object (or an expression giving one): the step runs once per item.
    pub each: Option<Value>,
}

/// A template, read from its entity's body.
#[derive(Debug, Clone)]
pub struct Template {
    pub body: Value,
    pub title: String,
    pub description: Option<String>,
    /// The form's pages, one JSON Schema object each.
    pub pages: Vec<Value>,
    pub steps: Vec<Step>,
    pub output: Value,
}

impl Template {
    /// Reads a template's body; what is wrong is said with its place.
    pub fn from_body(body: &Value) -> Result<Template, String> {
        let api = body["apiVersion"].as_str().unwrap_or_default();
        if api != API_VERSION {
            return Err(format!("/apiVersion: '{api}' is not run; templates are {API_VERSION}"));
        }
        if !body["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("template")) {
            return Err("/kind: not a Template".into());
        }
        let spec = &body["spec"];
        let pages = match &spec["parameters"] {
            Value::Array(a) => a.clone(),
            Value::Object(o) => vec![Value::Object(o.clone())],
            Value::Null => Vec::new(),
            _ => return Err("/spec/parameters: a list of form pages (JSON Schema objects)".into()),
        };
        let mut steps = Vec::new();
        for (i, s) in spec["steps"].as_array().into_iter().flatten().enumerate() {
            let action = s["action"].as_str().ok_or_else(|| format!("/spec/steps/{i}/action: required"))?;
            let id = s["id"].as_str().map(str::to_owned).unwrap_or_else(|| format!("step-{i}"));
            if steps.iter().any(|x: &Step| x.id == id) {
                return Err(format!("/spec/steps/{i}/id: '{id}' is the id of an earlier step too"));
            }
            steps.push(Step {
                name: s["name"].as_str().map(str::to_owned).unwrap_or_else(|| id.clone()),
                id,
                action: action.to_owned(),
                input: s.get("input").cloned().unwrap_or_else(|| json!({})),
                when: s.get("if").cloned(),
                each: s.get("each").cloned(),
            });
        }
        let meta = &body["metadata"];
        Ok(Template {
            title: meta["title"].as_str().or(meta["name"].as_str()).unwrap_or_default().to_owned(),
            description: meta["description"].as_str().map(str::to_owned),
            pages,
            steps,
            output: spec.get("output").cloned().unwrap_or_else(|| json!({})),
            body: body.clone(),
        })
    }

    /// A stored task's template: the steps and output of its TaskSpec.
    pub fn from_spec(spec: &Value) -> Result<Template, String> {
        let body = json!({
            "apiVersion": API_VERSION,
            "kind": "Template",
            "metadata": spec["templateInfo"]["entity"]["metadata"],
            "spec": {"steps": spec["steps"], "output": spec["output"]},
        });
        Template::from_body(&body)
    }

    /// The steps as Backstage's TaskSpec and dry run write them (`if` and `each` when set).
    pub fn steps_json(&self) -> Vec<Value> {
        self.steps
            .iter()
            .map(|s| {
                let mut v = json!({"id": s.id, "name": s.name, "action": s.action, "input": s.input});
                if let Some(w) = &s.when {
                    v["if"] = w.clone();
                }
                if let Some(e) = &s.each {
                    v["each"] = e.clone();
                }
                v
            })
            .collect()
    }

    /// `GET .../parameter-schema`: the title, description and one step per form page.
    pub fn parameter_schema(&self) -> Value {
        let steps: Vec<Value> = self
            .pages
            .iter()
            .map(|p| {
                json!({
                    "title": p["title"].as_str().unwrap_or("Please enter the following information"),
                    "description": p.get("description"),
                    "schema": p,
                })
            })
            .collect();
        let mut out = json!({"title": self.title, "description": self.description, "steps": steps});
        if let Some(p) = self.body["spec"].get("presentation") {
            out["presentation"] = p.clone();
        }
        out
    }

    /// What in the template portolan cannot run: actions and filters it lacks, each named with
    /// its step.
    pub fn unsupported(&self, templater: &Templater) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            if !actions::exists(&s.action) {
                out.push(format!(
                    "step '{}' (/spec/steps/{i}) uses the action '{}', which portolan does not have",
                    s.id, s.action
                ));
            }
            let texts = [&s.input, s.when.as_ref().unwrap_or(&Value::Null), s.each.as_ref().unwrap_or(&Value::Null)];
            for f in texts.iter().flat_map(|v| strings(v)).flat_map(|t| templater.unknown_filters(&t)) {
                let line =
                    format!("step '{}' (/spec/steps/{i}) uses the filter '{f}', which portolan does not have", s.id);
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
        for f in strings(&self.output).iter().flat_map(|t| templater.unknown_filters(t)) {
            let line = format!("/spec/output uses the filter '{f}', which portolan does not have");
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    }

    /// The values' problems against every form page, each with its JSON pointer.
    pub fn check_values(&self, values: &Value) -> Vec<Problem> {
        let mut out = Vec::new();
        if !values.is_object() {
            return vec![Problem::new("/values", "must be an object")];
        }
        for (i, page) in self.pages.iter().enumerate() {
            match crate::catalog::validate::problems_against(&form_schema(page), values) {
                Ok(p) => out.extend(p.into_iter().map(|p| Problem::new(format!("/values{}", p.path), p.message))),
                Err(e) => out.push(Problem::new(format!("/spec/parameters/{i}"), e)),
            }
        }
        out.dedup_by(|a, b| a.path == b.path && a.message == b.message);
        out
    }
}

/// A form page as a schema the validator reads: the `ui:` keys left out (they are the form's).
fn form_schema(page: &Value) -> Value {
    match page {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if !k.starts_with("ui:") {
                    out.insert(k.clone(), form_schema(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(form_schema).collect()),
        other => other.clone(),
    }
}

/// Every string inside a value.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}
