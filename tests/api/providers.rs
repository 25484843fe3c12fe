//! Repository discovery and push webhooks against a fake GitHub and GitLab: organisation
//! listings across pages with filters, repositories that lose their catalog file, signed pushes
//! that add, change and remove catalog files, refused signatures, pings and replays.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use portolan::discovery::{GithubSettings, GitlabSettings, Secret};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::both;
use crate::fake_git::{FakeGit, github_repo, gitlab_project};
use crate::fixtures::component;
use crate::helpers::*;

pub(crate) const SECRET: &str = "It's a Secret to Everybody";
pub(crate) const GITLAB_TOKEN: &str = "gitlab-shared-token";

pub(crate) fn github(fake: &FakeGit, extra: Value) -> GithubSettings {
    let mut s = json!({
        "id": "acme-github",
        "organization": "acme",
        "token": "ghp_test_token",
        "api_base_url": fake.url(""),
        "raw_base_url": fake.url("/raw"),
        "schedule_secs": 3600,
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

pub(crate) fn gitlab(fake: &FakeGit) -> GitlabSettings {
    serde_json::from_value(json!({
        "id": "acme-gitlab",
        "group": "acme",
        "token": "glpat-test",
        "api_base_url": fake.url("/api/v4"),
        "web_base_url": fake.url(""),
        "schedule_secs": 3600,
    }))
    .unwrap()
}

async fn spawn_github(db: Db, settings: GithubSettings) -> TestApp {
    spawn_with(db, vec![], move |s, _| {
        s.providers.github.push(settings);
        s.webhooks.github_secret = Some(Secret::new(SECRET));
        s.webhooks.max_body_bytes = 64 * 1024;
        s.reading.allow = vec![];
        s.reading.timeout_secs = 5;
    })
    .await
}

impl TestApp {
    /// The provider's runs, newest first.
    async fn runs(&self, provider: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/api/providers/{provider}/runs")).await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap()
    }

    /// Waits for the run the scheduler starts at once, and returns it.
    async fn first_run(&self, provider: &str) -> Value {
        let started = Instant::now();
        loop {
            if let Some(run) = self.runs(provider).await.pop() {
                return run;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the scheduled run never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn run_provider(&self, provider: &str) -> Value {
        let (status, body) = self.post_json(&format!("/api/providers/{provider}/run"), &json!({})).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Targets of the locations a provider registered, sorted.
    async fn provider_targets(&self, provider_origin: &str) -> Vec<String> {
        let (_, list) = self.get_json("/api/catalog/locations").await;
        let mut out: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["data"]["origin"] == provider_origin)
            .map(|l| l["data"]["target"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    }

    async fn has(&self, name: &str) -> bool {
        self.entity("component", "default", name).await.0 == 200
    }

    /// POSTs a GitHub webhook; `signature` None means the body is signed with the secret.
    pub(crate) async fn github_hook(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
        signature: Option<&str>,
    ) -> (u16, Value) {
        let sig = match signature {
            Some(s) => s.to_owned(),
            None => sign(SECRET, body),
        };
        let mut req = self
            .client
            .post(self.url("/api/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("user-agent", "GitHub-Hookshot/044aadd")
            .body(body.to_owned());
        if !sig.is_empty() {
            req = req.header("x-hub-signature-256", sig);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn gitlab_hook(&self, event: &str, uuid: &str, token: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/api/webhooks/gitlab"))
            .header("content-type", "application/json")
            .header("x-gitlab-event", event)
            .header("x-gitlab-event-uuid", uuid)
            .header("x-gitlab-token", token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A push event as GitHub delivers it (trimmed from the documented example).
fn github_push(repo: &str, git_ref: &str, commits: Vec<Value>) -> String {
    let commits: Vec<Value> = commits
        .into_iter()
        .enumerate()
        .map(|(i, files)| {
            json!({
                "id": format!("{i:040}"),
                "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
                "distinct": true,
                "message": "Update catalog",
                "timestamp": "2015-05-05T19:40:15-04:00",
                "url": format!("https://github.com/acme/{repo}/commit/{i:040}"),
                "author": {"name": "baxterthehacker", "email": "baxterthehacker@users.noreply.github.com", "username": "baxterthehacker"},
                "committer": {"name": "baxterthehacker", "email": "baxterthehacker@users.noreply.github.com", "username": "baxterthehacker"},
                "added": files["added"].clone(),
                "removed": files["removed"].clone(),
                "modified": files["modified"].clone(),
            })
        })
        .collect();
    let mut repository = github_repo("acme", repo, json!({}));
    repository["owner"]["name"] = json!("acme");
    json!({
        "ref": git_ref,
        "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
        "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/acme/{repo}/compare/9049f1265b7d...0d1a26e67d8f"),
        "commits": commits,
        "head_commit": null,
        "repository": repository,
        "pusher": {"name": "baxterthehacker", "email": "baxterthehacker@users.noreply.github.com"},
        "organization": {"login": "acme", "id": 1},
        "sender": {"login": "baxterthehacker", "id": 6752317, "type": "User"},
    })
    .to_string()
}

fn files(added: &[&str], modified: &[&str], removed: &[&str]) -> Value {
    json!({"added": added, "modified": modified, "removed": removed})
}

/// The organisation of the discovery tests: 8 repositories over 3 pages of 3.
fn seed_org(fake: &FakeGit) {
    fake.set_page_size(3);
    fake.github_repos(vec![
        github_repo("acme", "svc-a", json!({})),
        github_repo("acme", "svc-b", json!({"default_branch": "trunk"})),
        github_repo("acme", "svc-c", json!({})),
        github_repo("acme", "old-svc", json!({"archived": true})),
        github_repo("acme", "fork-svc", json!({"fork": true})),
        github_repo("acme", "lib-utils", json!({})),
        github_repo("acme", "svc-private", json!({"private": true, "visibility": "private"})),
        github_repo("acme", "svc-d", json!({"topics": ["payments"]})),
    ]);
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    fake.file("acme/svc-b", "trunk", "catalog-info.yaml", &component("svc-b", "team-b"));
    // svc-c has no catalog file.
    fake.file("acme/svc-c", "main", "README.md", "# svc-c");
    fake.file("acme/old-svc", "main", "catalog-info.yaml", &component("old-svc", "team-a"));
    fake.file("acme/fork-svc", "main", "catalog-info.yaml", &component("fork-svc", "team-a"));
    fake.file("acme/lib-utils", "main", "catalog-info.yaml", &component("lib-utils", "team-a"));
    fake.file("acme/svc-private", "main", "catalog-info.yaml", &component("svc-private", "team-a"));
    fake.file("acme/svc-d", "main", "catalog-info.yaml", &component("svc-d", "team-d"));
}

async fn github_discovery_reads_three_pages_applies_filters_and_skips_archived(db: Db) {
    let fake = FakeGit::start().await;
    seed_org(&fake);
    // Page 2 first answers with an exhausted rate limit: the run waits and retries.
    fake.rate_limit_once("page=2");
    let app =
        spawn_github(db, github(&fake, json!({"filter": {"exclude": "^lib-", "visibility": ["public", "internal"]}})))
            .await;
    let run = app.first_run("acme-github").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["cause"], "schedule");
    // svc-a, svc-b, svc-c, svc-d pass the filter; archived, fork, lib-* and private do not.
    assert_eq!(run["repositories"], 4, "{run}");
    assert_eq!(run["locationsAdded"], 3, "{run}");
    assert_eq!(run["locationsRemoved"], 0);
    for name in ["svc-a", "svc-b", "svc-d"] {
        assert!(app.has(name).await, "{name} was discovered");
    }
    for name in ["old-svc", "fork-svc", "lib-utils", "svc-private"] {
        assert!(!app.has(name).await, "{name} should have been filtered out");
    }
    assert_eq!(
        app.provider_targets("provider:github:acme-github").await,
        vec![
            fake.url("/raw/acme/svc-a/main/catalog-info.yaml"),
            fake.url("/raw/acme/svc-b/trunk/catalog-info.yaml"),
            fake.url("/raw/acme/svc-d/main/catalog-info.yaml"),
        ]
    );
    // Every page was listed, following Link headers; the rate-limited page was retried after
    // the wait the headers asked for, and the token went with every API call.
    let pages = fake.hits_matching("/orgs/acme/repos");
    let statuses: Vec<u16> = pages.iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec![200, 403, 200, 200], "{pages:?}");
    assert!(pages[1].uri.contains("page=2") && pages[2].uri.contains("page=2") && pages[3].uri.contains("page=3"));
    assert!(pages[2].at.duration_since(pages[1].at) >= Duration::from_millis(900), "no backoff: {pages:?}");
    assert!(pages.iter().all(|h| h.token.as_deref() == Some("Bearer ghp_test_token")));
    let raw = fake.hits_matching("/raw/acme/");
    // Each discovered file was read (the refresh loop may read one again meanwhile).
    for repo in ["svc-a", "svc-b", "svc-d"] {
        assert!(raw.iter().any(|h| h.uri.contains(&format!("/raw/acme/{repo}/"))), "{repo}: {raw:?}");
    }
    assert!(!raw.iter().any(|h| h.uri.contains("/raw/acme/svc-c/")), "svc-c has no catalog file: {raw:?}");
    assert!(raw.iter().all(|h| h.token.as_deref() == Some("Bearer ghp_test_token")), "raw reads carry the token");
    // The contents API was asked on each repository's tracked branch.
    assert_eq!(fake.hits_matching("/repos/acme/svc-b/contents/catalog-info.yaml?ref=trunk").len(), 1);
    assert!(fake.hits_matching("/repos/acme/old-svc/").is_empty(), "archived repositories are not even checked");
    // Entities carry GitHub-style annotations derived from the raw URL.
    let (_, e) = app.entity("component", "default", "svc-a").await;
    assert_eq!(
        e["metadata"]["annotations"]["backstage.io/managed-by-origin-location"],
        format!("url:{}", fake.url("/raw/acme/svc-a/main/catalog-info.yaml"))
    );
    // The providers list shows the provider and its latest run.
    let (status, list) = app.get_json("/api/providers").await;
    assert_eq!(status, 200);
    let p = &list["items"][0];
    assert_eq!(
        (p["id"].as_str(), p["type"].as_str(), p["target"].as_str()),
        (Some("acme-github"), Some("github"), Some("acme"))
    );
    assert_eq!(p["lastRun"]["id"], run["id"]);
    let (status, body) = app.get_json("/api/providers/nope/runs").await;
    assert_error(&body, 404, "NotFoundError", "not_found");
    assert_eq!(status, 404);
}

async fn a_repository_that_loses_its_catalog_file_or_disappears_loses_its_location(db: Db) {
    let fake = FakeGit::start().await;
    seed_org(&fake);
    let app = spawn_github(db, github(&fake, json!({"filter": {"exclude": "^lib-"}}))).await;
    let first = app.first_run("acme-github").await;
    assert_eq!(first["locationsAdded"], 4, "{first}");
    assert!(app.has("svc-b").await && app.has("svc-d").await && app.has("svc-private").await);

    fake.remove_file("acme/svc-b", "trunk", "catalog-info.yaml");
    let mut repos: Vec<Value> = Vec::new();
    for r in ["svc-a", "svc-b", "svc-c"] {
        repos.push(github_repo("acme", r, json!({})));
    }
    repos[1]["default_branch"] = json!("trunk");
    // svc-d is gone from the organisation; svc-private got archived.
    repos.push(github_repo("acme", "svc-private", json!({"archived": true})));
    fake.github_repos(repos);
    let run = app.run_provider("acme-github").await;
    assert_eq!(run["cause"], "api");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!((run["locationsAdded"].as_i64(), run["locationsRemoved"].as_i64()), (Some(0), Some(3)), "{run}");
    assert!(app.has("svc-a").await);
    for gone in ["svc-b", "svc-d", "svc-private"] {
        assert!(!app.has(gone).await, "{gone}'s entity went with its location");
    }
    assert_eq!(
        app.provider_targets("provider:github:acme-github").await,
        vec![fake.url("/raw/acme/svc-a/main/catalog-info.yaml")]
    );
    assert_eq!(app.runs("acme-github").await.len(), 2);

    // A listing that fails changes nothing, and the run says why.
    fake.fail("/orgs/acme/repos", 401);
    let run = app.run_provider("acme-github").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["errors"][0].as_str().unwrap().contains("401"), "{run}");
    assert_eq!(run["locationsRemoved"], 0);
    assert!(app.has("svc-a").await);
}

async fn a_signed_push_adds_changes_and_removes_catalog_files(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "mono", json!({}))]);
    let root = |owner: &str| {
        format!(
            "{}---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: mono-apis}}\nspec:\n  targets: [./apis/petstore.yaml]\n",
            component("mono-root", owner)
        )
    };
    let api = |owner: &str| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: petstore}}\nspec: {{type: openapi, lifecycle: production, owner: {owner}, definition: openapi}}\n"
        )
    };
    fake.file("acme/mono", "main", "catalog-info.yaml", &root("team-a"));
    fake.file("acme/mono", "main", "apis/petstore.yaml", &api("team-a"));
    fake.file("acme/mono", "main", "services/y/catalog-info.yaml", &component("svc-y", "team-a"));
    fake.file("acme/mono", "main", "services/y/main.go", "package main");
    let app = spawn_github(db, github(&fake, json!({"catalog_path": "**/catalog-info.yaml"}))).await;
    let first = app.first_run("acme-github").await;
    assert_eq!(first["locationsAdded"], 2, "{first}");
    assert!(app.has("mono-root").await && app.has("svc-y").await);
    let reads_of_y = fake.hits_matching("/raw/acme/mono/main/services/y/").len();

    // One push: a new catalog file, a changed one, a removed one, and an unrelated file.
    fake.file("acme/mono", "main", "services/x/catalog-info.yaml", &component("svc-x", "team-x"));
    fake.file("acme/mono", "main", "catalog-info.yaml", &root("team-new"));
    fake.remove_file("acme/mono", "main", "services/y/catalog-info.yaml");
    let body = github_push(
        "mono",
        "refs/heads/main",
        vec![
            files(&["services/x/catalog-info.yaml"], &["catalog-info.yaml"], &[]),
            files(&[], &["services/y/main.go"], &["services/y/catalog-info.yaml"]),
        ],
    );
    let (status, res) = app.github_hook("push", "d1a8e9a0-0001-11e6-8b5e-6d3a9b8c0a01", &body, None).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["status"], "processed");
    let run = &res["runs"][0];
    assert_eq!(run["cause"], "webhook:github:push");
    assert_eq!(
        (run["locationsAdded"].as_i64(), run["locationsRefreshed"].as_i64(), run["locationsRemoved"].as_i64()),
        (Some(1), Some(1), Some(1)),
        "{run}"
    );
    assert!(app.has("svc-x").await, "the added file is in the catalog at once");
    assert!(!app.has("svc-y").await, "the removed file's entity is gone");
    let (_, root) = app.entity("component", "default", "mono-root").await;
    assert_eq!(root["spec"]["owner"], "team-new", "the changed file was re-read");
    // Only the touched files were read: svc-y's folder was not re-read, nothing was listed.
    assert_eq!(fake.hits_matching("/raw/acme/mono/main/services/y/").len(), reads_of_y);
    assert_eq!(fake.hits_matching("/orgs/acme/repos").len(), 1);

    // A push that changes a file only a location's tree reads re-reads that location.
    fake.file("acme/mono", "main", "apis/petstore.yaml", &api("team-api"));
    let nested = github_push("mono", "refs/heads/main", vec![files(&[], &["apis/petstore.yaml"], &[])]);
    let (status, res) = app.github_hook("push", "d1a8e9a0-0005-11e6-8b5e-6d3a9b8c0a01", &nested, None).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["runs"][0]["locationsRefreshed"], 1, "{res}");
    let (_, petstore) = app.entity("api", "default", "petstore").await;
    assert_eq!(petstore["spec"]["owner"], "team-api");

    // A push to another branch, or one that touches no catalog file, changes nothing.
    fake.file("acme/mono", "feature", "services/z/catalog-info.yaml", &component("svc-z", "team-z"));
    let other = github_push("mono", "refs/heads/feature", vec![files(&["services/z/catalog-info.yaml"], &[], &[])]);
    let (status, res) = app.github_hook("push", "d1a8e9a0-0002-11e6-8b5e-6d3a9b8c0a01", &other, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("ignored")), "{res}");
    assert!(!app.has("svc-z").await);
    let unrelated = github_push("mono", "refs/heads/main", vec![files(&["docs/index.md"], &[], &[])]);
    let (status, res) = app.github_hook("push", "d1a8e9a0-0003-11e6-8b5e-6d3a9b8c0a01", &unrelated, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (res["runs"][0]["locationsAdded"].as_i64(), res["runs"][0]["locationsRefreshed"].as_i64()),
        (Some(0), Some(0))
    );
    // A repository of another organisation is none of this provider's business.
    let foreign = github_push("mono", "refs/heads/main", vec![files(&["catalog-info.yaml"], &[], &[])])
        .replace("\"acme/mono\"", "\"other/mono\"");
    let (status, res) = app.github_hook("push", "d1a8e9a0-0004-11e6-8b5e-6d3a9b8c0a01", &foreign, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("ignored")), "{res}");
}

async fn a_bad_signature_gets_401_and_changes_nothing(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "svc-a", json!({}))]);
    let app = spawn_github(db, github(&fake, json!({}))).await;
    app.first_run("acme-github").await;
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    let body = github_push("svc-a", "refs/heads/main", vec![files(&["catalog-info.yaml"], &[], &[])]);
    let wrong_secret = sign("not the secret", &body);
    let other_body = sign(SECRET, &body.replace("svc-a", "svc-b"));
    let cases = [
        ("missing", String::new()),
        ("malformed", "sha256=not-hex".to_owned()),
        ("sha1", "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6".to_owned()),
        ("wrong secret", wrong_secret),
        ("another body", other_body),
    ];
    for (i, (what, sig)) in cases.iter().enumerate() {
        let (status, res) = app.github_hook("push", &format!("bad-{i}"), &body, Some(sig)).await;
        assert_eq!(status, 401, "{what}: {res}");
        assert_error(&res, 401, "AuthenticationError", "unauthenticated");
    }
    // Not even parsed: a body that is not JSON is refused for its signature, not its syntax.
    let (status, _) = app.github_hook("push", "bad-json", "{not json", Some("sha256=00")).await;
    assert_eq!(status, 401);
    assert!(!app.has("svc-a").await, "nothing was registered");
    assert_eq!(app.runs("acme-github").await.len(), 1, "no run was recorded");
    assert!(fake.hits_matching("/raw/acme/svc-a/").is_empty(), "nothing was read");
    // The refused delivery ids were not remembered: the genuine delivery is processed.
    let (status, res) = app.github_hook("push", "bad-0", &body, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("processed")), "{res}");
    assert!(app.has("svc-a").await);
    // A validly signed body that is not JSON is a 400; an oversized one a 413.
    let (status, _) = app.github_hook("push", "not-json", "{not json", None).await;
    assert_eq!(status, 400);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(100 * 1024));
    let (status, res) = app.github_hook("push", "huge", &huge, None).await;
    assert_eq!(status, 413, "{res}");
    // A signed JSON body without the fields its event has is a 400 naming the field (it was a
    // 500 before the payload was read ahead of the work); the delivery id is not kept.
    for (event, body, field) in [
        ("push", json!({"ref": "refs/heads/main"}).to_string(), "repository"),
        ("push", json!({"ref": 7, "repository": {"name": "svc-a", "full_name": "acme/svc-a"}}).to_string(), "string"),
        ("repository", json!({"repository": {"name": "svc-a", "full_name": "acme/svc-a"}}).to_string(), "action"),
    ] {
        let (status, res) = app.github_hook(event, "misshapen", &body, None).await;
        assert_eq!(status, 400, "{event} {body}: {res}");
        assert_error(&res, 400, "InputError", "invalid_input");
        let message = res["error"]["message"].as_str().unwrap();
        assert!(message.contains(field) && !message.contains("struct"), "{message}");
    }
    let (status, res) = app.github_hook("push", "misshapen", &body, None).await;
    assert_eq!(status, 200, "the refused delivery id was forgotten: {res}");
}

async fn a_ping_gets_200_and_changes_nothing(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "svc-a", json!({}))]);
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    let app = spawn_github(db, github(&fake, json!({}))).await;
    app.first_run("acme-github").await;
    let before = fake.hits().len();
    let ping = json!({
        "zen": "Keep it logically awesome.",
        "hook_id": 109948940,
        "hook": {"type": "Organization", "id": 109948940, "name": "web", "active": true, "events": ["push", "repository"],
                 "config": {"content_type": "json", "insecure_ssl": "0", "url": app.url("/api/webhooks/github")}},
        "organization": {"login": "acme", "id": 1},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    })
    .to_string();
    let (status, res) = app.github_hook("ping", "4b7c9a80-0000-11e6-8b5e-000000000001", &ping, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("ignored")), "{res}");
    assert_eq!(app.runs("acme-github").await.len(), 1);
    assert_eq!(fake.hits().len(), before, "a ping reads nothing");
    assert!(app.has("svc-a").await);
}

async fn a_replayed_delivery_is_ignored(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "svc-a", json!({}))]);
    let app = spawn_github(db, github(&fake, json!({}))).await;
    app.first_run("acme-github").await;
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    let body = github_push("svc-a", "refs/heads/main", vec![files(&["catalog-info.yaml"], &[], &[])]);
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let (status, res) = app.github_hook("push", delivery, &body, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("processed")), "{res}");
    let (_, loc) = app.get_json("/api/catalog/locations/by-entity/component/default/svc-a").await;
    let id = loc["id"].as_str().unwrap().to_owned();
    // Someone removes the location; replaying the same delivery must not bring it back.
    let res = app.client.delete(app.url(&format!("/api/catalog/locations/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let reads = fake.hits_matching("/raw/acme/svc-a/").len();
    let (status, res) = app.github_hook("push", delivery, &body, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("duplicate")), "{res}");
    assert!(!app.has("svc-a").await);
    assert_eq!(fake.hits_matching("/raw/acme/svc-a/").len(), reads);
    assert_eq!(app.runs("acme-github").await.len(), 2, "the replay recorded no run");
    // A new delivery of the same content is processed.
    let (status, res) = app.github_hook("push", "72d3162e-cc78-11e3-81ab-4c9367dc0959", &body, None).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("processed")));
    assert!(app.has("svc-a").await);
}

async fn repository_events_follow_deletes_and_renames(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "svc-a", json!({})), github_repo("acme", "svc-b", json!({}))]);
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    fake.file("acme/svc-b", "main", "catalog-info.yaml", &component("svc-b", "team-b"));
    let app = spawn_github(db, github(&fake, json!({}))).await;
    assert_eq!(app.first_run("acme-github").await["locationsAdded"], 2);
    let event = |action: &str, repo: Value, changes: Value| {
        json!({"action": action, "repository": repo, "changes": changes,
               "organization": {"login": "acme"}, "sender": {"login": "octocat"}})
        .to_string()
    };
    // svc-a is deleted.
    let (status, res) = app
        .github_hook("repository", "r-1", &event("deleted", github_repo("acme", "svc-a", json!({})), json!({})), None)
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["runs"][0]["locationsRemoved"], 1);
    assert!(!app.has("svc-a").await);
    // svc-b is renamed to svc-b2: the file now lives under the new name.
    fake.remove_file("acme/svc-b", "main", "catalog-info.yaml");
    fake.file("acme/svc-b2", "main", "catalog-info.yaml", &component("svc-b", "team-b"));
    let renamed =
        event("renamed", github_repo("acme", "svc-b2", json!({})), json!({"repository": {"name": {"from": "svc-b"}}}));
    let (status, res) = app.github_hook("repository", "r-2", &renamed, None).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        (res["runs"][0]["locationsRemoved"].as_i64(), res["runs"][0]["locationsAdded"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        app.provider_targets("provider:github:acme-github").await,
        vec![fake.url("/raw/acme/svc-b2/main/catalog-info.yaml")]
    );
    assert!(app.has("svc-b").await);
    // Archived: its location goes (archived repositories are skipped).
    let archived = event("archived", github_repo("acme", "svc-b2", json!({"archived": true})), json!({}));
    let (_, res) = app.github_hook("repository", "r-3", &archived, None).await;
    assert_eq!(res["runs"][0]["locationsRemoved"], 1, "{res}");
    assert!(!app.has("svc-b").await);
}

async fn gitlab_group_discovery_and_push(db: Db) {
    let fake = FakeGit::start().await;
    fake.set_page_size(2);
    fake.gitlab_projects(vec![
        gitlab_project(1, "acme/web", json!({})),
        gitlab_project(2, "acme/platform/api", json!({})),
        gitlab_project(3, "acme/platform/legacy", json!({"archived": true})),
        gitlab_project(4, "acme/empty", json!({"empty_repo": true, "default_branch": null})),
        gitlab_project(5, "acme/platform/deep/worker", json!({"default_branch": "develop"})),
        gitlab_project(6, "other/elsewhere", json!({})),
    ]);
    fake.file("acme/web", "main", "catalog-info.yaml", &component("gl-web", "team-web"));
    fake.file("acme/platform/api", "main", "catalog-info.yaml", &component("gl-api", "team-api"));
    fake.file("acme/platform/legacy", "main", "catalog-info.yaml", &component("gl-legacy", "team-api"));
    fake.file("acme/platform/deep/worker", "develop", "catalog-info.yaml", &component("gl-worker", "team-w"));
    fake.file("other/elsewhere", "main", "catalog-info.yaml", &component("gl-else", "team-x"));
    let settings = gitlab(&fake);
    let app = spawn_with(db, vec![], move |s, _| {
        s.providers.gitlab.push(settings);
        s.webhooks.gitlab_token = Some(Secret::new(GITLAB_TOKEN));
        s.reading.allow = vec![];
        s.reading.timeout_secs = 5;
    })
    .await;
    let run = app.first_run("acme-gitlab").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!((run["repositories"].as_i64(), run["locationsAdded"].as_i64()), (Some(4), Some(3)), "{run}");
    for name in ["gl-web", "gl-api", "gl-worker"] {
        assert!(app.has(name).await, "{name}");
    }
    assert!(!app.has("gl-legacy").await && !app.has("gl-else").await);
    // Three pages, followed by X-Next-Page, subgroups included, with the token.
    let pages = fake.hits_matching("/api/v4/groups/acme/projects");
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|h| h.uri.contains("include_subgroups=true") && h.token.as_deref() == Some("glpat-test")));
    // Files were checked through the repository files API, the path URL-encoded.
    assert_eq!(fake.hits_matching("/api/v4/projects/5/repository/files/catalog-info.yaml?ref=develop").len(), 1);
    let (_, web) = app.entity("component", "default", "gl-web").await;
    assert_eq!(
        web["metadata"]["annotations"]["backstage.io/edit-url"],
        fake.url("/acme/web/-/edit/main/catalog-info.yaml"),
        "{web}"
    );

    // A push (as GitLab documents it) that changes one file and removes another.
    fake.file("acme/web", "main", "catalog-info.yaml", &component("gl-web", "team-renamed"));
    fake.remove_file("acme/platform/api", "main", "catalog-info.yaml");
    let push = |project: u64, path: &str, modified: &[&str], removed: &[&str]| {
        json!({
            "object_kind": "push", "event_name": "push",
            "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
            "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "ref": "refs/heads/main", "ref_protected": true,
            "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "user_id": 4, "user_name": "John Smith", "user_username": "jsmith",
            "project_id": project,
            "project": {"id": project, "name": path.rsplit('/').next(), "path_with_namespace": path,
                        "default_branch": "main", "web_url": format!("https://gitlab.example.com/{path}"),
                        "visibility_level": 20},
            "commits": [{"id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327", "message": "Update catalog",
                         "timestamp": "2011-12-12T14:27:31+02:00", "url": "https://gitlab.example.com/x",
                         "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
                         "added": [], "modified": modified, "removed": removed}],
            "total_commits_count": 1,
        })
    };
    let (status, res) =
        app.gitlab_hook("Push Hook", "uuid-1", "wrong-token", &push(1, "acme/web", &["catalog-info.yaml"], &[])).await;
    assert_eq!(status, 401, "{res}");
    assert_error(&res, 401, "AuthenticationError", "unauthenticated");
    let (_, web) = app.entity("component", "default", "gl-web").await;
    assert_eq!(web["spec"]["owner"], "team-web", "a refused push changes nothing");
    let (status, res) =
        app.gitlab_hook("Push Hook", "uuid-2", GITLAB_TOKEN, &push(1, "acme/web", &["catalog-info.yaml"], &[])).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("processed")), "{res}");
    assert_eq!(res["runs"][0]["locationsRefreshed"], 1);
    let (_, web) = app.entity("component", "default", "gl-web").await;
    assert_eq!(web["spec"]["owner"], "team-renamed");
    let (status, res) = app
        .gitlab_hook("Push Hook", "uuid-3", GITLAB_TOKEN, &push(2, "acme/platform/api", &[], &["catalog-info.yaml"]))
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["runs"][0]["locationsRemoved"], 1);
    assert!(!app.has("gl-api").await);
    // A replay of a processed delivery is ignored.
    let (status, res) = app
        .gitlab_hook("Push Hook", "uuid-3", GITLAB_TOKEN, &push(2, "acme/platform/api", &[], &["catalog-info.yaml"]))
        .await;
    assert_eq!((status, res["status"].as_str()), (200, Some("duplicate")));
    // A project destroyed (system hook shape) loses its locations.
    let destroy = json!({"created_at": "2012-07-21T07:30:58Z", "updated_at": "2012-07-21T07:38:22Z",
        "event_name": "project_destroy", "name": "worker", "owner_email": "johnsmith@example.com",
        "owner_name": "John Smith", "path": "worker", "path_with_namespace": "acme/platform/deep/worker",
        "project_id": 5, "project_visibility": "internal"});
    let (status, res) = app.gitlab_hook("System Hook", "uuid-4", GITLAB_TOKEN, &destroy).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["runs"][0]["locationsRemoved"], 1, "{res}");
    assert!(!app.has("gl-worker").await);
}

async fn runs_of_one_provider_never_overlap(db: Db) {
    let fake = FakeGit::start().await;
    fake.github_repos(vec![github_repo("acme", "svc-a", json!({}))]);
    fake.file("acme/svc-a", "main", "catalog-info.yaml", &component("svc-a", "team-a"));
    let app = spawn_github(db, github(&fake, json!({}))).await;
    app.first_run("acme-github").await;
    // Each listing now takes 400 ms; three runs are requested at once.
    fake.slow("/orgs/acme/repos", Duration::from_millis(400));
    let (a, b, c) =
        tokio::join!(app.run_provider("acme-github"), app.run_provider("acme-github"), app.run_provider("acme-github"));
    let mut spans: Vec<(String, String)> = [a, b, c]
        .iter()
        .map(|r| (r["startedAt"].as_str().unwrap().to_owned(), r["finishedAt"].as_str().unwrap().to_owned()))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "two runs of one provider overlapped: {spans:?}");
    }
    assert_eq!(app.runs("acme-github").await.len(), 4);
    // Only one listing was ever in flight.
    let listings = fake.hits_matching("/orgs/acme/repos");
    assert_eq!(listings.len(), 4);
}

both!(
    runs_of_one_provider_never_overlap,
    github_discovery_reads_three_pages_applies_filters_and_skips_archived,
    a_repository_that_loses_its_catalog_file_or_disappears_loses_its_location,
    a_signed_push_adds_changes_and_removes_catalog_files,
    a_bad_signature_gets_401_and_changes_nothing,
    a_ping_gets_200_and_changes_nothing,
    a_replayed_delivery_is_ignored,
    repository_events_follow_deletes_and_renames,
    gitlab_group_discovery_and_push,
);
