//! Publishing the workspace: `publish:github` and `publish:gitlab` create the repository through
//! the host's REST API (GitHub: `POST /orgs/{org}/repos` or `/user/repos`; GitLab:
//! `POST /projects` in the owner's namespace), then push the workspace to it with git, as one
//! commit on the default branch; `github:actions:dispatch` starts a workflow. Hosts, their API
//! addresses and tokens come from `[[scaffolder.hosts]]`; a step's `token` input overrides.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{Action, Ctx, Outcome, Outside, text};

/// A repository URL (`github.com?owner=o&repo=r`) as host (with its port) and parts.
struct RepoUrl {
    host: String,
    owner: String,
    repo: String,
}

fn repo_url(raw: &str) -> Result<RepoUrl, String> {
    let parts = crate::scaffolder::expr::repo_url_parts(raw).map_err(|e| format!("repoUrl: {e}"))?;
    let parsed = url::Url::parse(&format!("https://{raw}")).map_err(|e| format!("repoUrl: {e}"))?;
    let host = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    let part = |k: &str| parts.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(RepoUrl { host, owner: part("owner"), repo: part("repo") })
}

fn publish_input(extra: Value) -> Value {
    let mut props = json!({
        "repoUrl": {"type": "string", "description": "host?owner=o&repo=r"},
        "description": {"type": "string"},
        "defaultBranch": {"type": "string", "default": "master"},
        "repoVisibility": {"type": "string", "enum": ["private", "internal", "public"], "default": "private"},
        "sourcePath": {"type": "string", "description": "The workspace folder to publish (all of it by default)"},
        "gitCommitMessage": {"type": "string", "default": "initial commit"},
        "gitAuthorName": {"type": "string", "default": "Scaffolder"},
        "gitAuthorEmail": {"type": "string", "default": "scaffolder@backstage.io"},
        "token": {"type": "string", "description": "Overrides the host's token from scaffolder.hosts"},
    });
    if let (Some(p), Value::Object(e)) = (props.as_object_mut(), extra) {
        p.extend(e);
    }
    json!({"type": "object", "required": ["repoUrl"], "properties": props})
}

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action {
            id: "publish:github",
            description: "Creates a GitHub repository (organisation or user) and pushes the workspace to it",
            input: || publish_input(json!({"topics": {"type": "array", "items": {"type": "string"}}})),
            output: || {
                json!({"type": "object", "properties": {
                    "remoteUrl": {"type": "string"}, "repoContentsUrl": {"type": "string"}, "commitHash": {"type": "string"}}})
            },
            run: github,
            dry_run: false,
        },
        Action {
            id: "publish:gitlab",
            description: "Creates a GitLab project in the owner's group or user namespace and pushes the workspace to it",
            input: || publish_input(json!({})),
            output: || {
                json!({"type": "object", "properties": {
                    "remoteUrl": {"type": "string"}, "repoContentsUrl": {"type": "string"},
                    "projectId": {"type": "number"}, "commitHash": {"type": "string"}}})
            },
            run: gitlab,
            dry_run: false,
        },
        Action {
            id: "publish:local",
            description: "Commits the workspace to a git repository portolan keeps in its data folder (a portal without GitHub or GitLab): a bare repository to clone, and a checkout the catalog reads",
            input: || {
                let mut i = publish_input(json!({}));
                i["properties"]["repoUrl"]["description"] = json!("local?owner=o&repo=r");
                i["properties"].as_object_mut().map(|p| p.remove("token"));
                i
            },
            output: || {
                json!({"type": "object", "properties": {
                    "remoteUrl": {"type": "string"}, "repoContentsUrl": {"type": "string"}, "commitHash": {"type": "string"}}})
            },
            run: local,
            dry_run: false,
        },
        Action {
            id: "github:actions:dispatch",
            description: "Starts a GitHub Actions workflow (workflow_dispatch) on a branch or tag",
            input: || {
                json!({"type": "object", "required": ["repoUrl", "workflowId", "branchOrTagName"], "properties": {
                    "repoUrl": {"type": "string"}, "workflowId": {"type": "string"},
                    "branchOrTagName": {"type": "string"}, "workflowInputs": {"type": "object"},
                    "token": {"type": "string"}}})
            },
            output: || json!({"type": "object"}),
            run: dispatch,
            dry_run: false,
        },
    ]
}

/// The host's API address and token for a step.
fn host_of(
    outside: &dyn Outside,
    kind: &str,
    r: &RepoUrl,
    input: &Map<String, Value>,
) -> Result<(String, String), String> {
    let h = outside.git_host(kind, &r.host).ok_or_else(|| {
        format!("no [[scaffolder.hosts]] entry of kind {kind} for {} (its api_base_url and token)", r.host)
    })?;
    let token = text(input, "token")
        .map(str::to_owned)
        .or(h.1)
        .ok_or_else(|| format!("no token for {}: set it in scaffolder.hosts or give the step a token", r.host))?;
    Ok((h.0.trim_end_matches('/').to_owned(), token))
}

fn github(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let outside = ctx.outside.ok_or("publish:github runs in tasks only")?;
    let r = repo_url(text(input, "repoUrl").unwrap_or_default())?;
    let (api, token) = host_of(outside, "github", &r, input)?;
    let auth = [("Authorization", format!("Bearer {token}")), ("Accept", "application/vnd.github+json".to_owned())];
    let (status, owner) = outside.call("GET", &format!("{api}/users/{}", r.owner), &auth, None)?;
    if status == 404 {
        return Err(format!("GitHub has no user or organisation '{}'", r.owner));
    }
    let visibility = text(input, "repoVisibility").unwrap_or("private");
    let mut body = json!({"name": r.repo, "private": visibility != "public", "description": text(input, "description").unwrap_or_default()});
    let create = if owner["type"] == "Organization" {
        body["visibility"] = json!(visibility);
        format!("{api}/orgs/{}/repos", r.owner)
    } else {
        format!("{api}/user/repos")
    };
    let (status, repo) = outside.call("POST", &create, &auth, Some(&body))?;
    if status == 422 {
        return Err(format!("GitHub refused to create {}/{}: {}", r.owner, r.repo, say(&repo)));
    }
    if !(200..300).contains(&status) {
        return Err(format!("GitHub answered {status} creating {}/{}: {}", r.owner, r.repo, say(&repo)));
    }
    if let Some(topics) = input.get("topics").filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
        let url = format!("{api}/repos/{}/{}/topics", r.owner, r.repo);
        outside.call("PUT", &url, &auth, Some(&json!({"names": topics})))?;
    }
    let clone = repo["clone_url"].as_str().ok_or("GitHub's answer has no clone_url")?.to_owned();
    let html = repo["html_url"].as_str().unwrap_or_default().to_owned();
    let branch = text(input, "defaultBranch").unwrap_or("master").to_owned();
    let commit = push(ctx, outside, input, &clone, &format!("x-access-token:{token}"), &branch)?;
    let mut out = Map::new();
    out.insert("remoteUrl".into(), json!(clone));
    out.insert("repoContentsUrl".into(), json!(format!("{html}/blob/{branch}")));
    out.insert("commitHash".into(), json!(commit));
    Ok(out)
}

fn gitlab(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let outside = ctx.outside.ok_or("publish:gitlab runs in tasks only")?;
    let r = repo_url(text(input, "repoUrl").unwrap_or_default())?;
    let (api, token) = host_of(outside, "gitlab", &r, input)?;
    let auth = [("PRIVATE-TOKEN", token.clone())];
    let ns_url = format!("{api}/namespaces/{}", urlencoding(&r.owner));
    let (status, ns) = outside.call("GET", &ns_url, &auth, None)?;
    if status != 200 {
        return Err(format!("GitLab has no group or user namespace '{}' ({status})", r.owner));
    }
    let body = json!({
        "name": r.repo, "path": r.repo, "namespace_id": ns["id"],
        "visibility": text(input, "repoVisibility").unwrap_or("private"),
        "description": text(input, "description").unwrap_or_default(),
    });
    let (status, project) = outside.call("POST", &format!("{api}/projects"), &auth, Some(&body))?;
    if !(200..300).contains(&status) {
        return Err(format!("GitLab answered {status} creating {}/{}: {}", r.owner, r.repo, say(&project)));
    }
    let clone = project["http_url_to_repo"].as_str().ok_or("GitLab's answer has no http_url_to_repo")?.to_owned();
    let web = project["web_url"].as_str().unwrap_or_default().to_owned();
    let branch = text(input, "defaultBranch").unwrap_or("master").to_owned();
    let commit = push(ctx, outside, input, &clone, &format!("oauth2:{token}"), &branch)?;
    let mut out = Map::new();
    out.insert("remoteUrl".into(), json!(web));
    out.insert("repoContentsUrl".into(), json!(format!("{web}/-/blob/{branch}")));
    out.insert("projectId".into(), project["id"].clone());
    out.insert("commitHash".into(), json!(commit));
    Ok(out)
}

fn local(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let outside = ctx.outside.ok_or("publish:local runs in tasks only")?;
    let r = repo_url(text(input, "repoUrl").unwrap_or_default())?;
    let simple = |s: &str| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !s.starts_with('.')
    };
    if !simple(&r.owner) || !simple(&r.repo) {
        return Err(format!(
            "repoUrl: owner and repo must be simple names (letters, digits, - _ .), not {}/{}",
            r.owner, r.repo
        ));
    }
    let root = outside.local_repos().join(&r.owner);
    let (bare, checkout) = (root.join(format!("{}.git", r.repo)), root.join(&r.repo));
    if bare.exists() || checkout.exists() {
        return Err(format!("the repository {}/{} exists already", r.owner, r.repo));
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let branch = text(input, "defaultBranch").unwrap_or("master").to_owned();
    git(&root, &["init", "-q", "--bare", "-b", &branch, &format!("{}.git", r.repo)], None)?;
    let remote = bare.display().to_string();
    let commit = push(ctx, outside, input, &remote, "", &branch)?;
    git(&root, &["clone", "-q", "-b", &branch, &remote, &r.repo], None)?;
    let mut out = Map::new();
    out.insert("remoteUrl".into(), json!(remote));
    out.insert("repoContentsUrl".into(), json!(format!("file:{}", checkout.display())));
    out.insert("commitHash".into(), json!(commit));
    Ok(out)
}

fn dispatch(ctx: &mut Ctx<'_>, input: &Map<String, Value>) -> Outcome {
    let outside = ctx.outside.ok_or("github:actions:dispatch runs in tasks only")?;
    let r = repo_url(text(input, "repoUrl").unwrap_or_default())?;
    let (api, token) = host_of(outside, "github", &r, input)?;
    let auth = [("Authorization", format!("Bearer {token}")), ("Accept", "application/vnd.github+json".to_owned())];
    let workflow = text(input, "workflowId").unwrap_or_default();
    let url = format!("{api}/repos/{}/{}/actions/workflows/{}/dispatches", r.owner, r.repo, urlencoding(workflow));
    let body = json!({"ref": text(input, "branchOrTagName"), "inputs": input.get("workflowInputs").cloned().unwrap_or_else(|| json!({}))});
    let (status, answer) = outside.call("POST", &url, &auth, Some(&body))?;
    if !(200..300).contains(&status) {
        return Err(format!("GitHub answered {status} to the dispatch of {workflow}: {}", say(&answer)));
    }
    (ctx.log)(format!("Workflow {workflow} of {}/{} dispatched", r.owner, r.repo));
    Ok(Map::new())
}

/// An API error body in words: its `message` (and GitHub's `errors[].message`).
fn say(v: &Value) -> String {
    let mut out = v["message"].as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    for e in v["errors"].as_array().into_iter().flatten() {
        if let Some(m) = e["message"].as_str() {
            out.push_str(&format!("; {m}"));
        }
    }
    out
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Commits the workspace (or its `sourcePath`) as one commit on `branch` and pushes it to
/// `remote` with HTTP basic credentials `user:token` (given to git through its environment, not
/// its arguments; none for a local path); the commit's hash.
fn push(
    ctx: &mut Ctx<'_>,
    outside: &dyn Outside,
    input: &Map<String, Value>,
    remote: &str,
    credentials: &str,
    branch: &str,
) -> Result<String, String> {
    if !credentials.is_empty() {
        outside.check_url(remote)?;
    }
    let dir = match text(input, "sourcePath") {
        Some(p) => super::inside(ctx.workspace, p)?,
        None => ctx.workspace.to_path_buf(),
    };
    let name = text(input, "gitAuthorName").unwrap_or("Scaffolder");
    let email = text(input, "gitAuthorEmail").unwrap_or("scaffolder@backstage.io");
    let message = text(input, "gitCommitMessage").unwrap_or("initial commit");
    let header =
        format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes()));
    let _ = std::fs::remove_dir_all(dir.join(".git"));
    git(&dir, &["init", "-q", "-b", branch], None)?;
    git(&dir, &["add", "-A"], None)?;
    git(
        &dir,
        &[
            "-c",
            &format!("user.name={name}"),
            "-c",
            &format!("user.email={email}"),
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ],
        None,
    )?;
    let commit = git(&dir, &["rev-parse", "HEAD"], None)?.trim().to_owned();
    let header = (!credentials.is_empty()).then_some(header);
    git(&dir, &["push", "-q", remote, &format!("HEAD:refs/heads/{branch}")], header.as_deref())?;
    (ctx.log)(format!("Pushed {commit} to {remote} ({branch})"));
    Ok(commit)
}

/// Runs git in `dir`; its output, or its error in words (credentials never in them).
fn git(dir: &Path, args: &[&str], header: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    if let Some(h) = header {
        cmd.env("GIT_CONFIG_COUNT", "1").env("GIT_CONFIG_KEY_0", "http.extraHeader").env("GIT_CONFIG_VALUE_0", h);
    }
    let out = cmd.output().map_err(|e| format!("git could not run ({e}); is git installed?"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git {} failed: {}",
            args.iter().find(|a| !a.starts_with('-') && !a.contains('=')).unwrap_or(&""),
            err.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
