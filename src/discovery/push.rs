//! Push webhooks from GitHub and GitLab: authenticated on the raw body before anything is
//! parsed, de-duplicated by delivery id, and applied to the locations of the repository touched.
//!
//! GitHub signs each delivery with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! under the shared secret; GitLab sends the shared token as `X-Gitlab-Token`. Both are compared
//! in constant time. A missing, malformed or wrong signature is a 401 and changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::github::GithubRepo;
use super::store::{self, RunOutcome};
use super::views::RunView;
use super::{Api, Discovery, Provider, PushSettings, Repo, Secret, record_webhook};
use crate::db::now_ms;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

fn unauthenticated(source: &'static str, message: &str) -> ApiError {
    count(source, "unauthenticated");
    ApiError::with_code(ErrorCode::Unauthenticated, message)
}

fn count(source: &'static str, outcome: &'static str) {
    metrics::counter!("portolan_webhook_deliveries_total", "source" => source, "outcome" => outcome).increment(1);
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads the raw body, refusing it once it passes `max` bytes.
async fn read_body(mut payload: web::Payload, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::input(format!("reading the request body failed: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::with_code(
                ErrorCode::PayloadTooLarge,
                format!("webhook body is larger than the limit of {max} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks `sha256=<64 hex digits>` against the HMAC-SHA256 of the body, in constant time.
pub fn github_signature_valid(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else { return false };
    if hex.len() != 64 {
        return false;
    }
    let mut expected = [0u8; 32];
    for (i, byte) in expected.iter_mut().enumerate() {
        match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(b) => *byte = b,
            Err(_) => return false,
        }
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn answer(status: &str, runs: Vec<RunView>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": status, "runs": runs }))
}

/// Claims a delivery id; `false` for a replay. Deliveries without an id are always processed.
async fn first_delivery(state: &AppState, source: &str, id: Option<&str>, event: &str) -> Result<bool, ApiError> {
    let Some(id) = id.filter(|i| !i.is_empty()) else { return Ok(true) };
    let (pool, source, id, event) = (state.pool.clone(), source.to_owned(), id.to_owned(), event.to_owned());
    Ok(web::block(move || store::claim_delivery(&pool, &source, &id, &event)).await??)
}

/// Processes a delivery; when processing fails the delivery id is forgotten, so the sender's
/// retry is processed instead of being taken for a replay.
async fn process<F>(
    state: &AppState,
    discovery: &Discovery,
    source: &'static str,
    id: Option<&str>,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: std::future::Future<Output = anyhow::Result<Vec<RunView>>> + Send + 'static,
{
    match discovery.ingestor.on_runtime(work).await.and_then(|r| r) {
        Ok(runs) => {
            let outcome = if runs.is_empty() { "ignored" } else { "processed" };
            count(source, outcome);
            Ok(answer(outcome, runs))
        }
        Err(e) => {
            count(source, "failed");
            if let Some(id) = id {
                store::forget_delivery(&state.pool, source, id)?;
            }
            Err(ApiError::Internal(e))
        }
    }
}

/// What sets one sender's deliveries apart: how they are authenticated, which headers name the
/// event and the delivery, and how the payload maps to provider work. All else (the body limit,
/// replays, JSON, metrics, the answer) is [`receive`]'s, the same for every sender.
trait Source {
    /// The `source` of metrics and of remembered delivery ids.
    const NAME: &'static str;
    /// The sender's name in log lines.
    const TITLE: &'static str;
    /// The header that names the event.
    const EVENT_HEADER: &'static str;
    /// The headers that may carry the delivery id, the first present wins.
    const DELIVERY_HEADERS: &'static [&'static str];
    /// What the body must still be checked against once it is read.
    type BodyCheck;

    /// Authenticates what the headers alone can show, before the body is read; a refusal is the
    /// 401's message.
    fn check_headers(webhooks: &PushSettings, req: &HttpRequest) -> Result<Self::BodyCheck, &'static str>;

    /// Authenticates the body, once read.
    fn check_body(check: Self::BodyCheck, body: &[u8]) -> Result<(), &'static str>;

    /// What a delivery asks for, from its event name and body; a refusal is the 400's message.
    fn read(event: &str, body: &[u8]) -> Result<Delivery, String>;
}

/// GitHub: `X-Hub-Signature-256` signs the body under `webhooks.github_secret`.
struct Github;

impl Source for Github {
    const NAME: &'static str = "github";
    const TITLE: &'static str = "GitHub";
    const EVENT_HEADER: &'static str = "x-github-event";
    const DELIVERY_HEADERS: &'static [&'static str] = &["x-github-delivery"];
    /// The secret and the signature header.
    type BodyCheck = (Secret, String);

    fn check_headers(webhooks: &PushSettings, req: &HttpRequest) -> Result<Self::BodyCheck, &'static str> {
        let secret =
            webhooks.github_secret.clone().ok_or("GitHub webhooks are not configured (webhooks.github_secret)")?;
        let signature = header(req, "x-hub-signature-256").ok_or("missing X-Hub-Signature-256")?;
        Ok((secret, signature.to_owned()))
    }

    fn check_body((secret, signature): Self::BodyCheck, body: &[u8]) -> Result<(), &'static str> {
        if !github_signature_valid(secret.expose().as_bytes(), body, &signature) {
            return Err("X-Hub-Signature-256 does not match the body");
        }
        Ok(())
    }

    fn read(event: &str, body: &[u8]) -> Result<Delivery, String> {
        read_github(event, body)
    }
}

/// GitLab: `X-Gitlab-Token` is `webhooks.gitlab_token`, checked before the body is read.
struct Gitlab;

impl Source for Gitlab {
    const NAME: &'static str = "gitlab";
    const TITLE: &'static str = "GitLab";
    const EVENT_HEADER: &'static str = "x-gitlab-event";
    const DELIVERY_HEADERS: &'static [&'static str] = &["idempotency-key", "x-gitlab-event-uuid"];
    type BodyCheck = ();

    fn check_headers(webhooks: &PushSettings, req: &HttpRequest) -> Result<(), &'static str> {
        let expected =
            webhooks.gitlab_token.as_ref().ok_or("GitLab webhooks are not configured (webhooks.gitlab_token)")?;
        let token = header(req, "x-gitlab-token").ok_or("missing X-Gitlab-Token")?;
        if !bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return Err("X-Gitlab-Token is wrong");
        }
        Ok(())
    }

    fn check_body((): (), _body: &[u8]) -> Result<(), &'static str> {
        Ok(())
    }

    fn read(_event: &str, body: &[u8]) -> Result<Delivery, String> {
        read_gitlab(body)
    }
}

/// `POST /api/webhooks/github`.
pub async fn receive_github(
    state: web::Data<AppState>,
    discovery: web::Data<Discovery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    receive::<Github>(state, discovery, req, payload).await
}

/// `POST /api/webhooks/gitlab`.
pub async fn receive_gitlab(
    state: web::Data<AppState>,
    discovery: web::Data<Discovery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    receive::<Gitlab>(state, discovery, req, payload).await
}

/// One delivery from any sender: authenticated (headers, then the raw body) before anything is
/// parsed, claimed by delivery id (a replay is answered `duplicate`), then applied.
async fn receive<S: Source>(
    state: web::Data<AppState>,
    discovery: web::Data<Discovery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let providers = discovery.into_inner();
    let check = S::check_headers(&providers.webhooks, &req).map_err(|m| unauthenticated(S::NAME, m))?;
    let body = read_body(payload, providers.webhooks.max_body_bytes).await?;
    S::check_body(check, &body).map_err(|m| unauthenticated(S::NAME, m))?;
    let event = header(&req, S::EVENT_HEADER).unwrap_or_default().to_owned();
    let delivery = S::DELIVERY_HEADERS.iter().find_map(|h| header(&req, h)).map(str::to_owned);
    if !first_delivery(&state, S::NAME, delivery.as_deref(), &event).await? {
        count(S::NAME, "duplicate");
        return Ok(answer("duplicate", Vec::new()));
    }
    // Events another domain acts on (deployments, incidents) go to it, authenticated and
    // claimed as every delivery is.
    if let Ok(payload) = serde_json::from_slice::<Value>(&body)
        && providers.hooks.webhook_listeners.all().iter().any(|l| l.wants(S::NAME, &event, &payload))
    {
        let hook = crate::domain::hooks::WebhookEvent { source: S::NAME, event: event.clone(), payload };
        return listen(&state, providers, S::NAME, delivery.as_deref(), hook).await;
    }
    let work = match S::read(&event, &body) {
        Ok(work) => work,
        Err(message) => {
            if let Some(id) = &delivery {
                store::forget_delivery(&state.pool, S::NAME, id)?;
            }
            count(S::NAME, "refused");
            return Err(ApiError::input(message));
        }
    };
    tracing::info!(webhook.event = %event, webhook.delivery = ?delivery, "Received a {} webhook.", S::TITLE);
    let discovery = providers.clone();
    process(&state, &discovery, S::NAME, delivery.as_deref(), apply(providers, work)).await
}

/// Hands a delivery to the domains that act on it; when one fails, the delivery id is
/// forgotten so the sender's retry is processed.
async fn listen(
    state: &AppState,
    providers: Arc<Discovery>,
    source: &'static str,
    id: Option<&str>,
    hook: crate::domain::hooks::WebhookEvent,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let work = async move {
        let mut results = Vec::new();
        for l in providers.hooks.webhook_listeners.all() {
            if l.wants(hook.source, &hook.event, &hook.payload) {
                results.push(l.receive(&pool, &hook, providers.as_ref()).await?);
            }
        }
        Ok::<_, anyhow::Error>(results)
    };
    match work.await {
        Ok(results) => {
            count(source, "processed");
            Ok(HttpResponse::Ok().json(json!({"status": "processed", "runs": [], "results": results})))
        }
        Err(e) => {
            count(source, "failed");
            if let Some(id) = id {
                store::forget_delivery(&state.pool, source, id)?;
            }
            match e.downcast::<ApiError>() {
                Ok(api) => Err(api),
                Err(e) => Err(ApiError::Internal(e)),
            }
        }
    }
}

/// What a delivery asks for, read and checked before any work starts: a payload that does not
/// have the shape its event promises is the sender's mistake (a 400), not the server's.
pub enum Delivery {
    GithubPush(GithubPush),
    GithubRepository(GithubRepositoryEvent),
    GitlabPush(GitlabPush),
    GitlabProject(GitlabProjectEvent),
    /// An event portolan does not act on.
    Ignored,
}

/// Reads a typed payload, saying what is wrong in the sender's words.
fn typed<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| {
        format!("the {what} payload is not as documented: {}", crate::error::plain_serde_message(&e.to_string()))
    })
}

fn json_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("webhook body is not JSON: {}", crate::error::plain_serde_message(&e.to_string())))
}

/// A GitHub delivery: the `X-GitHub-Event` name and the body.
pub fn read_github(event: &str, body: &[u8]) -> Result<Delivery, String> {
    let payload = json_body(body)?;
    Ok(match event {
        "push" => Delivery::GithubPush(typed("GitHub push", payload)?),
        "repository" => Delivery::GithubRepository(typed("GitHub repository", payload)?),
        _ => Delivery::Ignored,
    })
}

/// A GitLab delivery: the body names its kind (`object_kind`, `event_name`).
pub fn read_gitlab(body: &[u8]) -> Result<Delivery, String> {
    let payload = json_body(body)?;
    Ok(if payload["object_kind"] == "push" {
        Delivery::GitlabPush(typed("GitLab push", payload)?)
    } else if payload["event_name"].as_str().is_some_and(|e| e.starts_with("project_")) {
        Delivery::GitlabProject(typed("GitLab project", payload)?)
    } else {
        Delivery::Ignored
    })
}

impl Delivery {
    /// The final state of each path a push's commits touched (empty for other deliveries).
    pub fn touched(&self) -> BTreeMap<String, bool> {
        match self {
            Delivery::GithubPush(p) => touched(&p.commits),
            Delivery::GitlabPush(p) => touched(&p.commits),
            _ => BTreeMap::new(),
        }
    }
}

/// The work a delivery asks for; the runs it recorded (none: ignored).
async fn apply(providers: Arc<Discovery>, delivery: Delivery) -> anyhow::Result<Vec<RunView>> {
    match delivery {
        Delivery::GithubPush(push) => github_push(&providers, push).await,
        Delivery::GithubRepository(event) => github_repository(&providers, event).await,
        Delivery::GitlabPush(push) => gitlab_push(&providers, push).await,
        Delivery::GitlabProject(event) => gitlab_project(&providers, event).await,
        Delivery::Ignored => Ok(Vec::new()),
    }
}

#[derive(Deserialize, Default)]
struct Commit {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

/// The final state of each path the commits touched, in commit order (true: present).
fn touched(commits: &[Commit]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for c in commits {
        for p in c.added.iter().chain(&c.modified) {
            out.insert(p.clone(), true);
        }
        for p in &c.removed {
            out.insert(p.clone(), false);
        }
    }
    out
}

/// Applies a push to one provider's repository, when it is to the branch the provider tracks;
/// `whole`: the payload does not tell every file touched (too many commits, a deleted branch),
/// so the whole repository is checked again. The run it recorded, if any.
async fn push_to(
    providers: &Discovery,
    p: &Provider,
    repo: &Repo,
    git_ref: &str,
    cause: &str,
    whole: bool,
    commits: &[Commit],
) -> anyhow::Result<Option<RunView>> {
    let Some(branch) = p.branch_of(repo) else { return Ok(None) };
    if git_ref != format!("refs/heads/{branch}") {
        return Ok(None);
    }
    let mut out = RunOutcome { cause: cause.to_owned(), started_at: now_ms(), ..Default::default() };
    if whole {
        providers.sync_repo(p, repo, &mut out).await?;
    } else {
        providers.apply_push(p, repo, &branch, &touched(commits), &mut out).await?;
    }
    Ok(Some(record_webhook(providers, &p.id, out)?.view()))
}

#[derive(Deserialize)]
pub struct GithubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    repository: GithubRepo,
    #[serde(default)]
    commits: Vec<Commit>,
    #[serde(default)]
    deleted: bool,
}

/// GitHub lists at most this many commits in a push payload.
const GITHUB_MAX_PUSH_COMMITS: usize = 2048;

async fn github_push(providers: &Discovery, push: GithubPush) -> anyhow::Result<Vec<RunView>> {
    let repo: Repo = push.repository.into();
    let mut runs = Vec::new();
    for p in providers.list.iter().filter(|p| matches!(p.api, Api::Github(_)) && p.owns(&repo.full_name)) {
        let whole = push.deleted || push.commits.len() >= GITHUB_MAX_PUSH_COMMITS;
        let cause = "webhook:github:push";
        runs.extend(push_to(providers, p, &repo, &push.git_ref, cause, whole, &push.commits).await?);
    }
    Ok(runs)
}

#[derive(Deserialize)]
pub struct GithubRepositoryEvent {
    action: String,
    repository: GithubRepo,
    #[serde(default)]
    changes: Value,
}

async fn github_repository(providers: &Discovery, event: GithubRepositoryEvent) -> anyhow::Result<Vec<RunView>> {
    let repo: Repo = event.repository.into();
    let (owner, name) = repo.full_name.split_once('/').unwrap_or(("", repo.full_name.as_str()));
    // The name the repository had before a rename or transfer.
    let old = match event.action.as_str() {
        "renamed" => event.changes["repository"]["name"]["from"].as_str().map(|from| format!("{owner}/{from}")),
        "transferred" => {
            let from = &event.changes["owner"]["from"];
            from["organization"]["login"].as_str().or(from["user"]["login"].as_str()).map(|o| format!("{o}/{name}"))
        }
        _ => None,
    };
    let mut runs = Vec::new();
    for p in providers.list.iter().filter(|p| matches!(p.api, Api::Github(_))) {
        let owns_old = old.as_deref().is_some_and(|o| p.owns(o));
        if !owns_old && !p.owns(&repo.full_name) {
            continue;
        }
        let cause = format!("webhook:github:repository.{}", event.action);
        let mut out = RunOutcome { cause, started_at: now_ms(), ..Default::default() };
        if let Some(old) = old.as_deref().filter(|_| owns_old) {
            providers.drop_repo(p, old, &mut out).await?;
        }
        if p.owns(&repo.full_name) {
            if event.action == "deleted" {
                providers.drop_repo(p, &repo.full_name, &mut out).await?;
            } else {
                providers.sync_repo(p, &repo, &mut out).await?;
            }
        }
        runs.push(record_webhook(providers, &p.id, out)?.view());
    }
    Ok(runs)
}

#[derive(Deserialize)]
struct GitlabPushProject {
    id: u64,
    path_with_namespace: String,
}

#[derive(Deserialize)]
pub struct GitlabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    project: GitlabPushProject,
    #[serde(default)]
    commits: Vec<Commit>,
    #[serde(default)]
    total_commits_count: usize,
    #[serde(default)]
    after: String,
}

async fn gitlab_push(providers: &Discovery, push: GitlabPush) -> anyhow::Result<Vec<RunView>> {
    let mut runs = Vec::new();
    for p in providers.list.iter().filter(|p| p.owns(&push.project.path_with_namespace)) {
        let Api::Gitlab(api) = &p.api else { continue };
        // The push payload lacks what the filter needs (archived, topics, forks): ask the API.
        let Some(repo) = api.project(push.project.id).await? else { continue };
        // GitLab lists at most 20 commits; a deleted branch has `after` all zeros.
        let partial = push.total_commits_count > push.commits.len();
        let whole = partial || push.after.chars().all(|c| c == '0') && !push.after.is_empty();
        let cause = "webhook:gitlab:push";
        runs.extend(push_to(providers, p, &repo, &push.git_ref, cause, whole, &push.commits).await?);
    }
    Ok(runs)
}

#[derive(Deserialize)]
pub struct GitlabProjectEvent {
    event_name: String,
    path_with_namespace: String,
    #[serde(default)]
    old_path_with_namespace: Option<String>,
    project_id: u64,
}

async fn gitlab_project(providers: &Discovery, event: GitlabProjectEvent) -> anyhow::Result<Vec<RunView>> {
    let mut runs = Vec::new();
    for p in providers.list.iter() {
        let Api::Gitlab(api) = &p.api else { continue };
        let owns_old = event.old_path_with_namespace.as_deref().is_some_and(|o| p.owns(o));
        let owns_new = p.owns(&event.path_with_namespace);
        if !owns_old && !owns_new {
            continue;
        }
        let cause = format!("webhook:gitlab:{}", event.event_name);
        let mut out = RunOutcome { cause, started_at: now_ms(), ..Default::default() };
        if let Some(old) = event.old_path_with_namespace.as_deref().filter(|_| owns_old) {
            providers.drop_repo(p, old, &mut out).await?;
        }
        if owns_new {
            match (event.event_name.as_str(), api.project(event.project_id).await?) {
                ("project_destroy", _) | (_, None) => {
                    providers.drop_repo(p, &event.path_with_namespace, &mut out).await?
                }
                (_, Some(repo)) => providers.sync_repo(p, &repo, &mut out).await?,
            }
        }
        runs.push(record_webhook(providers, &p.id, out)?.view());
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_signature_example_verifies() {
        // From GitHub's "Validating webhook deliveries" documentation.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", sig));
        assert!(!github_signature_valid(b"another secret", b"Hello, World!", sig));
        assert!(!github_signature_valid(b"It's a Secret to Everybody", b"Hello, World?", sig));
        assert!(!github_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", "sha1=abc"));
        assert!(!github_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn the_last_commit_decides_a_paths_state() {
        let commits = vec![
            Commit { added: vec!["a.yaml".into(), "b.yaml".into()], ..Default::default() },
            Commit { removed: vec!["a.yaml".into()], modified: vec!["c.yaml".into()], ..Default::default() },
        ];
        let t = touched(&commits);
        assert_eq!(t.get("a.yaml"), Some(&false));
        assert_eq!(t.get("b.yaml"), Some(&true));
        assert_eq!(t.get("c.yaml"), Some(&true));
    }
}
