//! HTTP handlers of the scaffolder (`/api/scaffolder/v2`): thin, the work off the async workers.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::expr::Templater;
use super::run::{Failure, LogLine, Run, Stop};
use super::template::Template;
use super::{CatalogReader, Scaffolder, actions};
use crate::auth::Identity;
use crate::catalog::model::EntityRef;
use crate::catalog::validate::Problem;
use crate::error::{ApiError, Body};

pub(crate) async fn blocking<T: Send + 'static>(
    s: &web::Data<Scaffolder>,
    f: impl FnOnce(&Scaffolder) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s: Arc<Scaffolder> = s.clone().into_inner();
    web::block(move || f(&s)).await?
}

/// A template's ref key from a path's namespace, kind and name.
fn template_key(ns: &str, kind: &str, name: &str) -> Result<String, ApiError> {
    if !kind.eq_ignore_ascii_case("template") {
        return Err(ApiError::input("Invalid kind, only 'Template' kind is supported"));
    }
    EntityRef::parse(&format!("template:{ns}/{name}"), None, crate::catalog::model::DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("template: {e}")))
}

/// `GET /api/scaffolder/v2/templates/{namespace}/{kind}/{name}/parameter-schema`.
pub async fn parameter_schema(
    s: web::Data<Scaffolder>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ns, kind, name) = path.into_inner();
    let key = template_key(&ns, &kind, &name)?;
    let found = blocking(&s, move |s| s.template(&key)).await?;
    Ok(HttpResponse::Ok().json(found.template.parameter_schema()))
}

/// `GET /api/scaffolder/v2/actions`: every action with its input and output schemas.
pub async fn list_actions() -> HttpResponse {
    HttpResponse::Ok().json(actions::list())
}

/// The values' problems as Backstage's form reads them (`errors`, beside portolan's envelope):
/// `path` as a list of keys, `property`, `message`, `stack`.
pub(crate) fn values_error(problems: &[Problem]) -> ApiError {
    let errors: Vec<Value> = problems
        .iter()
        .map(|p| {
            let keys: Vec<String> = p
                .path
                .trim_start_matches("/values")
                .split('/')
                .filter(|k| !k.is_empty())
                .map(|k| k.replace("~1", "/").replace("~0", "~"))
                .collect();
            let property = std::iter::once("instance".to_owned()).chain(keys.iter().cloned()).collect::<Vec<_>>().join(".");
            json!({"path": keys, "property": property, "message": p.message, "stack": format!("{property} {}", p.message)})
        })
        .collect();
    let words: Vec<String> = problems.iter().take(5).map(|p| format!("{}: {}", p.path, p.message)).collect();
    ApiError::Client {
        code: crate::error::ErrorCode::InvalidInput,
        message: format!("The values do not fit the template's form: {}", words.join("; ")),
        details: Some(json!({"errors": errors})),
    }
}

/// What stops a template from running before anything runs (400, naming it): actions or filters
/// portolan lacks, values that do not fit its form.
pub(crate) fn refuse_what_cannot_run(t: &Template, values: &Value) -> Result<(), ApiError> {
    let missing = t.unsupported(&Templater::new(false));
    if !missing.is_empty() {
        return Err(ApiError::Client {
            code: crate::error::ErrorCode::InvalidInput,
            message: format!("This template cannot run here: {}", missing.join("; ")),
            details: Some(json!({"unsupported": missing})),
        });
    }
    let problems = t.check_values(values);
    if problems.is_empty() { Ok(()) } else { Err(values_error(&problems)) }
}

/// `POST /api/scaffolder/v2/dry-run`: Backstage's body (`template`, `values`, `secrets`,
/// `directoryContents`), or `templateRef` (a template of the catalog, with the files beside it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunBody {
    pub template: Option<Value>,
    pub template_ref: Option<String>,
    #[serde(default)]
    pub values: Option<Value>,
    #[serde(default)]
    pub secrets: Map<String, Value>,
    #[serde(default)]
    pub directory_contents: Vec<actions::files::FileEntry>,
}

/// `POST /api/scaffolder/v2/dry-run`: runs the template in a throw-away workspace with the
/// actions that reach outside it skipped, and answers the files it made, its log and output.
pub async fn dry_run(
    s: web::Data<Scaffolder>,
    identity: Identity,
    body: Body<DryRunBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = match &identity.principal {
        crate::auth::Principal::User { sub, .. } if sub.starts_with("user:") => Some(sub.clone()),
        _ => None,
    };
    let out = blocking(&s, move |s| dry_run_blocking(s, body, user)).await?;
    Ok(HttpResponse::Ok().json(out))
}

fn dry_run_blocking(s: &Scaffolder, body: DryRunBody, user: Option<String>) -> Result<Value, ApiError> {
    let files_dir =
        tempfile::Builder::new().prefix("portolan-dry-run-content").tempdir().map_err(anyhow::Error::from)?;
    let (template, dir) = match (&body.template, &body.template_ref) {
        (Some(t), None) => {
            let t = Template::from_body(t)
                .map_err(|e| ApiError::input(format!("Input template is not a template: {e}")))?;
            actions::files::unpack(&body.directory_contents, files_dir.path()).map_err(ApiError::input)?;
            (t, Some(files_dir.path().to_path_buf()))
        }
        (None, Some(r)) => {
            let found = s.template_by_ref(r)?;
            (found.template, found.dir)
        }
        _ => return Err(ApiError::input("Give either template (with directoryContents) or templateRef")),
    };
    let values = body.values.unwrap_or_else(|| json!({}));
    refuse_what_cannot_run(&template, &values)?;
    let workspace = tempfile::Builder::new().prefix("portolan-dry-run").tempdir().map_err(anyhow::Error::from)?;
    let catalog = CatalogReader { pool: s.pool.clone() };
    let never = || false;
    let task_id = uuid::Uuid::new_v4().to_string();
    let run = Run {
        template: &template,
        values: &values,
        secrets: &body.secrets,
        user: s.user(user),
        template_dir: dir.as_deref(),
        dry_run: true,
        catalog: Some(&catalog),
        cancelled: &never,
        task_id: &task_id,
        outside: None,
        resume: None,
    };
    let mut log: Vec<LogLine> = Vec::new();
    let result = run.run(workspace.path(), &mut |l| log.push(l));
    let log_json: Vec<Value> = log.iter().map(|l| json!({"body": l})).collect();
    let output = match result {
        Ok(o) => o,
        Err(stop) => {
            let f = match stop {
                Stop::Failed(f) => f,
                Stop::Waiting { gate, .. } => Failure {
                    step_id: gate["stepId"].as_str().map(str::to_owned),
                    message: "a step waited in a dry run".into(),
                },
            };
            return Err(ApiError::Client {
                code: crate::error::ErrorCode::InvalidInput,
                message: f.message,
                details: Some(json!({"stepId": f.step_id, "log": log_json})),
            });
        }
    };
    let contents = actions::files::pack(workspace.path(), false).map_err(anyhow::Error::from)?;
    let steps = template.steps_json();
    Ok(json!({"log": log_json, "directoryContents": contents, "output": output, "steps": steps}))
}
