//! Deployments and incidents from GitHub and GitLab webhooks, received on the signed webhook
//! routes (the receiving domain authenticates and de-duplicates each delivery first):
//!
//! - GitHub `deployment_status`: the finish time is the status's own `created_at`, never the
//!   deployment's `updated_at`; a successful production deployment's changes are the commits
//!   since the entity's previous successful production deployment (GitHub's compare API).
//! - GitHub `issues` labelled `incident`: opened is created, closed is resolved.
//! - GitLab `Deployment Hook`: the finish time is `status_changed_at`; the tier is the
//!   environment's own.
//!
//! Each becomes an event of the generic intake, checked and written the same way.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Health;
use super::intake::{Outcome, Resolver};
use super::model::Tier;
use crate::db::{Pool, rfc3339};
use crate::domain::hooks::{CommitLister, WebhookEvent, WebhookListener};
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct GithubDeploymentStatusEvent {
    deployment_status: GithubStatus,
    deployment: GithubDeployment,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct GithubStatus {
    state: String,
    created_at: String,
    environment: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GithubDeployment {
    id: i64,
    sha: String,
    environment: String,
    created_at: Option<String>,
    production_environment: Option<bool>,
    #[serde(default)]
    payload: Value,
}

#[derive(Debug, Deserialize)]
struct GithubIssuesEvent {
    action: String,
    issue: GithubIssue,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct GithubIssue {
    number: i64,
    title: String,
    created_at: String,
    closed_at: Option<String>,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

#[derive(Debug, Deserialize)]
struct GitlabDeploymentEvent {
    status: String,
    status_changed_at: String,
    deployment_id: i64,
    environment: String,
    environment_tier: Option<String>,
    project: GitlabProject,
    commit_url: Option<String>,
    short_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitlabProject {
    path_with_namespace: String,
}

fn typed<T: serde::de::DeserializeOwned>(what: &str, v: &Value) -> Result<T, ApiError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        ApiError::input(format!(
            "the {what} payload is not as documented: {}",
            crate::error::plain_serde_message(&e.to_string())
        ))
    })
}

fn has_incident_label(payload: &Value) -> bool {
    payload["issue"]["labels"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("incident"))))
}

/// GitLab writes `2021-04-28 21:50:00 +0200`; RFC 3339 is taken too.
fn gitlab_time(raw: &str) -> Result<String, ApiError> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .or_else(|_| chrono::DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z"))
        .or_else(|_| chrono::DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %Z"))
        .map(|t| rfc3339(t.timestamp_millis()))
        .map_err(|_| ApiError::input(format!("status_changed_at: \"{raw}\" is not a time")))
}

/// Runs blocking work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    actix_web::web::block(f).await.map_err(|e| anyhow::anyhow!("a blocking task failed: {e}"))?
}

/// What one delivery did: the outcome of its event, or why it was ignored.
fn result(kind: &str, outcome: &Outcome) -> Result<Value, ApiError> {
    if let Some(r) = outcome.rejected.first() {
        return Err(ApiError::input(format!("the {kind} event was refused: {}", r.message)));
    }
    Ok(
        json!({"kind": kind, "status": if outcome.created > 0 { "created" } else if outcome.updated > 0 { "updated" } else { "unchanged" }}),
    )
}

fn ignored(kind: &str, reason: String) -> Value {
    json!({"kind": kind, "status": "ignored", "reason": reason})
}

impl Health {
    /// The catalog entity of a repository (`owner/name`).
    fn entity_of_repo(&self, pool: &Pool, repo: &str) -> anyhow::Result<Option<String>> {
        let g = self.org.snapshot(pool)?;
        Ok(Resolver::new(&g).repo(repo))
    }

    async fn github_deployment(
        self: Arc<Self>,
        pool: Pool,
        payload: Value,
        commits: &dyn CommitLister,
    ) -> Result<Value, ApiError> {
        let e: GithubDeploymentStatusEvent = typed("GitHub deployment_status", &payload)?;
        let repo = e.repository.full_name.clone();
        let status = match e.deployment_status.state.as_str() {
            "success" => "success",
            "failure" | "error" => "failure",
            "in_progress" | "queued" | "pending" | "waiting" => "in_progress",
            other => return Ok(ignored("deployment", format!("a deployment status of \"{other}\" is not recorded"))),
        };
        let (me, p, r) = (self.clone(), pool.clone(), repo.clone());
        let Some(entity) = blocking(move || me.entity_of_repo(&p, &r)).await? else {
            return Ok(ignored("deployment", format!("no catalog entity names the repository '{repo}'")));
        };
        let environment = e.deployment_status.environment.clone().unwrap_or_else(|| e.deployment.environment.clone());
        let tier = match e.deployment.production_environment {
            Some(true) => Tier::Production,
            _ => Tier::of_environment(&environment),
        };
        let finished = (status != "in_progress").then(|| e.deployment_status.created_at.clone());
        let finished_ms = match &finished {
            Some(f) => Some(super::intake::time("deployment_status.created_at", f).map_err(ApiError::input)?),
            None => None,
        };
        // The changes: commits since the previous successful production deployment.
        let mut changes = None;
        if let (Some(at), "success", Tier::Production) = (finished_ms, status, tier) {
            let (p, en) = (pool.clone(), entity.clone());
            let base = blocking(move || super::store::previous_success(&p, &en, at)).await?;
            if let Some(base) = base.filter(|b| *b != e.deployment.sha) {
                match commits.compare(&repo, &base, &e.deployment.sha).await {
                    Ok(Some(list)) => {
                        changes = Some(
                            list.into_iter()
                                .map(|(sha, t)| json!({"sha": sha, "committedAt": rfc3339(t)}))
                                .collect::<Vec<_>>(),
                        )
                    }
                    Ok(None) => {}
                    Err(err) => {
                        // The deployment is still recorded; its lead time is unknown.
                        tracing::warn!(repository = %repo, error.cause = format!("{err:#}"), "Comparing commits for a deployment failed.");
                    }
                }
            }
        }
        let version = e.deployment.payload.get("version").and_then(Value::as_str).map(str::to_owned);
        let mut event = json!({
            "id": format!("github:{}:{}", repo.to_ascii_lowercase(), e.deployment.id),
            "entity": entity,
            "environment": environment,
            "tier": tier.as_str(),
            "status": status,
            "commitSha": e.deployment.sha,
            "repoUrl": format!("https://github.com/{repo}"),
        });
        if let Some(f) = finished {
            event["finishedAt"] = json!(f);
        }
        if let Some(s) = e.deployment.created_at {
            event["startedAt"] = json!(s);
        }
        if let Some(v) = version {
            event["version"] = json!(v);
        }
        if let Some(c) = changes {
            event["changes"] = json!(c);
        }
        let me = self.clone();
        let outcome = blocking(move || me.record_deployments(&pool, vec![event], "github")).await?;
        result("deployment", &outcome)
    }

    async fn github_issue(self: Arc<Self>, pool: Pool, payload: Value) -> Result<Value, ApiError> {
        let e: GithubIssuesEvent = typed("GitHub issues", &payload)?;
        if !e.issue.labels.iter().any(|l| l.name.eq_ignore_ascii_case("incident")) {
            return Ok(ignored("incident", "the issue is not labelled incident".into()));
        }
        let repo = e.repository.full_name.clone();
        let (me, p, r) = (self.clone(), pool.clone(), repo.clone());
        let Some(entity) = blocking(move || me.entity_of_repo(&p, &r)).await? else {
            return Ok(ignored("incident", format!("no catalog entity names the repository '{repo}'")));
        };
        let mut event = json!({
            "id": format!("github:{}#{}", repo.to_ascii_lowercase(), e.issue.number),
            "entity": entity,
            "title": e.issue.title,
            "createdAt": e.issue.created_at,
        });
        if e.action == "closed"
            && let Some(closed) = e.issue.closed_at
        {
            event["resolvedAt"] = json!(closed);
        }
        let me = self.clone();
        let outcome = blocking(move || me.record_incidents(&pool, vec![event], "github")).await?;
        result("incident", &outcome)
    }

    async fn gitlab_deployment(self: Arc<Self>, pool: Pool, payload: Value) -> Result<Value, ApiError> {
        let e: GitlabDeploymentEvent = typed("GitLab deployment", &payload)?;
        let status = match e.status.as_str() {
            "success" => "success",
            "failed" => "failure",
            "canceled" | "cancelled" => "cancelled",
            "running" | "created" | "blocked" => "in_progress",
            other => return Ok(ignored("deployment", format!("a deployment status of \"{other}\" is not recorded"))),
        };
        let repo = e.project.path_with_namespace.clone();
        let (me, p, r) = (self.clone(), pool.clone(), repo.clone());
        let Some(entity) = blocking(move || me.entity_of_repo(&p, &r)).await? else {
            return Ok(ignored("deployment", format!("no catalog entity names the project '{repo}'")));
        };
        let sha = e
            .commit_url
            .as_deref()
            .and_then(|u| u.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or(e.short_sha)
            .ok_or_else(|| ApiError::input("the GitLab deployment payload names no commit (commit_url, short_sha)"))?;
        let tier =
            e.environment_tier.as_deref().and_then(Tier::parse).unwrap_or_else(|| Tier::of_environment(&e.environment));
        let mut event = json!({
            "id": format!("gitlab:{}:{}", repo.to_ascii_lowercase(), e.deployment_id),
            "entity": entity,
            "environment": e.environment,
            "tier": tier.as_str(),
            "status": status,
            "commitSha": sha,
        });
        if status != "in_progress" {
            event["finishedAt"] = json!(gitlab_time(&e.status_changed_at)?);
        }
        let me = self.clone();
        let outcome = blocking(move || me.record_deployments(&pool, vec![event], "gitlab")).await?;
        result("deployment", &outcome)
    }
}

impl WebhookListener for Health {
    fn wants(&self, source: &str, event: &str, payload: &Value) -> bool {
        match source {
            "github" => event == "deployment_status" || (event == "issues" && has_incident_label(payload)),
            "gitlab" => payload["object_kind"] == "deployment",
            _ => false,
        }
    }

    fn receive<'a>(
        &'a self,
        pool: &'a Pool,
        event: &'a WebhookEvent,
        commits: &'a dyn CommitLister,
    ) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            let me = self.this.upgrade().ok_or_else(|| anyhow::anyhow!("the server is shutting down"))?;
            let pool = pool.clone();
            let payload = event.payload.clone();
            let r = match (event.source, event.event.as_str()) {
                ("github", "deployment_status") => me.github_deployment(pool, payload, commits).await,
                ("github", "issues") => me.github_issue(pool, payload).await,
                ("gitlab", _) => me.gitlab_deployment(pool, payload).await,
                _ => Ok(Value::Null),
            };
            r.map_err(anyhow::Error::from)
        })
    }
}
