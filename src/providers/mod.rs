//! Repository discovery: GitHub organisations and GitLab groups whose catalog files become
//! locations, kept in step by scheduled runs and by signed push webhooks.
//!
//! A provider lists its organisation's repositories, keeps those its filter accepts, looks for
//! the catalog file (or glob) on the tracked branch of each, and registers every file found as a
//! `url` location with origin `provider:<type>:<id>`. Locations of repositories that disappear,
//! get filtered out or lose their file are deleted, and the orphan strategy applies to their
//! entities. A listing that fails changes nothing; a repository whose files cannot be checked
//! keeps its locations. Runs are claimed through the database ([`store`]), so instances sharing
//! one database never scan one provider at once, and every run's outcome is stored.

pub mod github;
pub mod gitlab;
pub mod handlers;
pub mod store;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::catalog::fetch::AllowRule;
use crate::catalog::ingest::Ingestor;
use crate::catalog::store as catalog_store;
use crate::db::now_ms;
use store::{RunOutcome, RunRow};

/// A configured secret (token, webhook secret): never printed, not even by `{:?}`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `[providers]`: the organisations and groups to discover.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    pub github: Vec<GithubSettings>,
    pub gitlab: Vec<GitlabSettings>,
}

/// `[[providers.github]]`: one GitHub organisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    pub id: String,
    pub organization: String,
    /// A path in each repository, or a glob (`**/catalog-info.yaml`).
    #[serde(default = "default_catalog_path")]
    pub catalog_path: String,
    /// The branch to read; default: each repository's default branch.
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub filter: FilterSettings,
    #[serde(default = "default_schedule")]
    pub schedule_secs: u64,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default = "default_github_api")]
    pub api_base_url: String,
    /// Where files are read raw: `https://raw.githubusercontent.com`, or
    /// `https://ghe.example.com/raw` on GitHub Enterprise.
    #[serde(default = "default_github_raw")]
    pub raw_base_url: String,
}

/// `[[providers.gitlab]]`: one GitLab group and its subgroups.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabSettings {
    pub id: String,
    /// The group's full path (`acme` or `acme/platform`).
    pub group: String,
    #[serde(default = "default_catalog_path")]
    pub catalog_path: String,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub filter: FilterSettings,
    #[serde(default = "default_schedule")]
    pub schedule_secs: u64,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default = "default_gitlab_api")]
    pub api_base_url: String,
    /// The web address files are read from (`{web_base_url}/{project}/-/raw/{branch}/{path}`).
    #[serde(default = "default_gitlab_web")]
    pub web_base_url: String,
}

/// Which repositories a provider keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSettings {
    /// A regular expression the repository name must match.
    pub include: Option<String>,
    /// A regular expression the repository name must not match.
    pub exclude: Option<String>,
    /// The repository must carry at least one of these topics (empty: no condition).
    pub topics: Vec<String>,
    /// `public`, `private`, `internal` (empty: any).
    pub visibility: Vec<String>,
    /// Keep archived repositories (default: skipped).
    pub archived: bool,
    /// Keep forks (default: skipped).
    pub forks: bool,
}

fn default_catalog_path() -> String {
    "catalog-info.yaml".into()
}
fn default_schedule() -> u64 {
    3600
}
fn default_github_api() -> String {
    "https://api.github.com".into()
}
fn default_github_raw() -> String {
    "https://raw.githubusercontent.com".into()
}
fn default_gitlab_api() -> String {
    "https://gitlab.com/api/v4".into()
}
fn default_gitlab_web() -> String {
    "https://gitlab.com".into()
}

/// `[webhooks]`: the shared secrets push webhooks are checked against.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The secret of GitHub's `X-Hub-Signature-256`; without it GitHub deliveries get 401.
    pub github_secret: Option<Secret>,
    /// The value GitLab sends as `X-Gitlab-Token`; without it GitLab deliveries get 401.
    pub gitlab_token: Option<Secret>,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { github_secret: None, gitlab_token: None, max_body_bytes: 5 * 1024 * 1024 }
    }
}

/// A repository as either host describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// `owner/name` on GitHub, `path_with_namespace` on GitLab.
    pub full_name: String,
    pub name: String,
    pub default_branch: Option<String>,
    pub archived: bool,
    pub fork: bool,
    pub visibility: String,
    pub topics: Vec<String>,
    /// GitLab's numeric project id.
    pub project_id: Option<u64>,
}

/// A compiled repository filter.
#[derive(Debug, Clone)]
pub struct RepoFilter {
    include: Option<regex::Regex>,
    exclude: Option<regex::Regex>,
    topics: Vec<String>,
    visibility: Vec<String>,
    archived: bool,
    forks: bool,
}

impl RepoFilter {
    pub fn parse(s: &FilterSettings) -> anyhow::Result<Self> {
        let re = |p: &Option<String>, key: &str| -> anyhow::Result<Option<regex::Regex>> {
            p.as_deref()
                .map(|p| {
                    regex::Regex::new(p).with_context(|| format!("filter.{key}: invalid regular expression {p:?}"))
                })
                .transpose()
        };
        Ok(Self {
            include: re(&s.include, "include")?,
            exclude: re(&s.exclude, "exclude")?,
            topics: s.topics.iter().map(|t| t.to_ascii_lowercase()).collect(),
            visibility: s.visibility.iter().map(|t| t.to_ascii_lowercase()).collect(),
            archived: s.archived,
            forks: s.forks,
        })
    }

    pub fn accepts(&self, repo: &Repo) -> bool {
        (self.archived || !repo.archived)
            && (self.forks || !repo.fork)
            && self.include.as_ref().is_none_or(|r| r.is_match(&repo.name))
            && self.exclude.as_ref().is_none_or(|r| !r.is_match(&repo.name))
            && (self.topics.is_empty() || repo.topics.iter().any(|t| self.topics.contains(&t.to_ascii_lowercase())))
            && (self.visibility.is_empty() || self.visibility.contains(&repo.visibility.to_ascii_lowercase()))
    }
}

/// Where the catalog files are in each repository.
#[derive(Debug, Clone)]
pub enum CatalogPath {
    Exact(String),
    Glob(glob::Pattern),
}

impl CatalogPath {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim().trim_start_matches('/');
        if raw.is_empty() {
            bail!("catalog_path is empty");
        }
        if raw.contains(['*', '?', '[']) {
            Ok(Self::Glob(glob::Pattern::new(raw).with_context(|| format!("catalog_path: invalid glob {raw:?}"))?))
        } else {
            Ok(Self::Exact(raw.to_owned()))
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Glob(g) => g.matches_with(
                path,
                glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            ),
        }
    }
}

/// Which host a provider speaks to.
pub enum Api {
    Github(github::GithubApi),
    Gitlab(gitlab::GitlabApi),
}

/// One configured provider, checked once at start.
pub struct Provider {
    pub id: String,
    pub api: Api,
    pub catalog_path: CatalogPath,
    pub branch: Option<String>,
    pub filter: RepoFilter,
    pub schedule: Duration,
}

impl Provider {
    pub fn kind(&self) -> &'static str {
        match self.api {
            Api::Github(_) => "github",
            Api::Gitlab(_) => "gitlab",
        }
    }

    /// The `origin` of the locations this provider registers.
    pub fn origin(&self) -> String {
        format!("provider:{}:{}", self.kind(), self.id)
    }

    /// The organisation or group.
    pub fn target(&self) -> &str {
        match &self.api {
            Api::Github(a) => &a.organization,
            Api::Gitlab(a) => &a.group,
        }
    }

    /// Does this repository (`owner/name`, `group/sub/project`) belong to this provider?
    pub fn owns(&self, full_name: &str) -> bool {
        let lower = full_name.to_ascii_lowercase();
        let prefix = format!("{}/", self.target().to_ascii_lowercase());
        match &self.api {
            Api::Github(_) => lower.rsplit_once('/').is_some_and(|(owner, _)| format!("{owner}/") == prefix),
            Api::Gitlab(_) => lower.starts_with(&prefix),
        }
    }

    fn branch_of(&self, repo: &Repo) -> Option<String> {
        self.branch.clone().or_else(|| repo.default_branch.clone())
    }

    /// The location target of one file: the raw URL of the file on the branch.
    fn file_target(&self, full_name: &str, branch: &str, path: &str) -> String {
        match &self.api {
            Api::Github(a) => a.file_url(full_name, branch, path),
            Api::Gitlab(a) => a.file_url(full_name, branch, path),
        }
    }

    /// Every location target of this repository starts with this.
    fn repo_prefix(&self, full_name: &str) -> String {
        match &self.api {
            Api::Github(a) => a.repo_prefix(full_name),
            Api::Gitlab(a) => a.repo_prefix(full_name),
        }
    }

    async fn list_repos(&self) -> anyhow::Result<Vec<Repo>> {
        match &self.api {
            Api::Github(a) => a.list_repos().await,
            Api::Gitlab(a) => a.list_repos().await,
        }
    }

    /// The catalog files of a repository on a branch (empty for an empty repository).
    async fn catalog_files(&self, repo: &Repo, branch: &str) -> anyhow::Result<Vec<String>> {
        match (&self.api, &self.catalog_path) {
            (Api::Github(a), CatalogPath::Exact(p)) => {
                Ok(if a.file_exists(&repo.full_name, branch, p).await? { vec![p.clone()] } else { vec![] })
            }
            (Api::Gitlab(a), CatalogPath::Exact(p)) => {
                Ok(if a.file_exists(repo, branch, p).await? { vec![p.clone()] } else { vec![] })
            }
            (Api::Github(a), glob) => {
                Ok(a.tree(&repo.full_name, branch).await?.into_iter().filter(|p| glob.matches(p)).collect())
            }
            (Api::Gitlab(a), glob) => Ok(a.tree(repo, branch).await?.into_iter().filter(|p| glob.matches(p)).collect()),
        }
    }
}

/// Adds the raw-file hosts of the configured providers to the reading allowlist, each limited
/// to its organisation's or group's paths, so discovered files can be read without listing the
/// host by hand (a private address is reachable only because the provider names it).
pub fn reading_rules(settings: &ProviderSettings) -> Vec<AllowRule> {
    let github = settings.github.iter().filter_map(|g| raw_rule(&g.raw_base_url, &g.organization));
    let gitlab = settings.gitlab.iter().filter_map(|g| raw_rule(&g.web_base_url, g.group.trim_matches('/')));
    github.chain(gitlab).collect()
}

/// The rule for `{base}/{prefix}/...`: the base's host and port, limited to that path.
fn raw_rule(base: &str, prefix: &str) -> Option<AllowRule> {
    let u = url::Url::parse(base).ok()?;
    let host = u.host_str()?;
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Some(AllowRule { host, paths: Some(vec![format!("{}/{prefix}/", u.path().trim_end_matches('/'))]) })
}

/// The GitHub providers' tokens, sent when reading their organisation's raw files (so private
/// repositories can be read, on github.com and on GitHub Enterprise alike).
pub fn reading_tokens(settings: &ProviderSettings) -> Vec<(AllowRule, Secret)> {
    settings
        .github
        .iter()
        .filter_map(|g| Some((raw_rule(&g.raw_base_url, &g.organization)?, g.token.clone()?)))
        .collect()
}

/// The configured providers and what they need to run: shared by the scheduler loop, the API
/// and the webhooks.
pub struct Providers {
    pub list: Vec<Provider>,
    pub ingestor: Ingestor,
    pub webhooks: WebhookSettings,
}

/// How long a provider run holds its lease before renewing it.
fn lease(ingestor: &Ingestor) -> Duration {
    ingestor.lease
}

impl Providers {
    /// Checks the configuration (unique ids, valid filters and globs) and builds the clients.
    pub fn build(settings: &ProviderSettings, webhooks: &WebhookSettings, ingestor: Ingestor) -> anyhow::Result<Self> {
        let timeout = ingestor.reader.settings().timeout;
        let mut list = Vec::new();
        for g in &settings.github {
            list.push(Provider {
                id: g.id.clone(),
                api: Api::Github(github::GithubApi::new(g, timeout)?),
                catalog_path: CatalogPath::parse(&g.catalog_path)
                    .with_context(|| format!("providers.github {:?}", g.id))?,
                branch: g.branch.clone().filter(|b| !b.is_empty()),
                filter: RepoFilter::parse(&g.filter).with_context(|| format!("providers.github {:?}", g.id))?,
                schedule: Duration::from_secs(g.schedule_secs.max(1)),
            });
        }
        for g in &settings.gitlab {
            list.push(Provider {
                id: g.id.clone(),
                api: Api::Gitlab(gitlab::GitlabApi::new(g, timeout)?),
                catalog_path: CatalogPath::parse(&g.catalog_path)
                    .with_context(|| format!("providers.gitlab {:?}", g.id))?,
                branch: g.branch.clone().filter(|b| !b.is_empty()),
                filter: RepoFilter::parse(&g.filter).with_context(|| format!("providers.gitlab {:?}", g.id))?,
                schedule: Duration::from_secs(g.schedule_secs.max(1)),
            });
        }
        let mut ids = BTreeSet::new();
        for p in &list {
            if p.id.trim().is_empty() || !p.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                bail!("provider id {:?} must be letters, digits, '-', '_' or '.'", p.id);
            }
            if p.target().trim().is_empty() {
                bail!("provider {:?} names no organisation or group", p.id);
            }
            if !ids.insert(p.id.clone()) {
                bail!("provider id {:?} is configured twice", p.id);
            }
        }
        let configured: Vec<(String, String)> = list.iter().map(|p| (p.id.clone(), p.kind().to_owned())).collect();
        store::sync_providers(&ingestor.pool, &configured)?;
        // The locations of a provider no longer configured go, as configured locations do.
        let origins: Vec<String> = list.iter().map(Provider::origin).collect();
        for old in catalog_store::list_locations(&ingestor.pool)? {
            if old.origin.starts_with("provider:") && !origins.contains(&old.origin) {
                tracing::info!(location.target = %old.target, location.origin = %old.origin, "Removing a location of a provider that is no longer configured.");
                ingestor.delete_location(&old.id)?;
            }
        }
        Ok(Self { list, ingestor, webhooks: webhooks.clone() })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.id == id)
    }

    /// A lease owner for one run: the instance plus a run id, so two runs never share a lease,
    /// even on one instance.
    fn run_owner(&self) -> String {
        format!("{}/{}", self.ingestor.instance_id, uuid::Uuid::new_v4())
    }

    /// Runs a provider now, waiting for a run of it in progress (on any instance) to finish first.
    pub async fn run_now(self: &Arc<Self>, id: &str, cause: &str) -> Result<RunRow, RunError> {
        let lease = lease(&self.ingestor);
        let owner = self.run_owner();
        let deadline = Instant::now() + lease + Duration::from_secs(1);
        loop {
            let now = now_ms();
            if store::claim(&self.ingestor.pool, id, &owner, now, now + lease.as_millis() as i64)? {
                break;
            }
            if Instant::now() > deadline {
                return Err(RunError::Busy(format!("provider {id} is still being run elsewhere; try again later")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let this = self.clone();
        let (id_owned, cause, run_owner) = (id.to_owned(), cause.to_owned(), owner.clone());
        let result =
            self.ingestor.on_runtime(async move { this.run_leased(&id_owned, &cause, &run_owner).await }).await;
        let next = self.get(id).map(|p| now_ms() + p.schedule.as_millis() as i64);
        store::release(&self.ingestor.pool, id, &owner, next)?;
        Ok(result??)
    }

    /// The scheduler: claims due providers through the database, one at a time, while `alive`.
    pub fn spawn_loop(self: &Arc<Self>, alive: std::sync::Weak<()>) {
        if self.list.is_empty() {
            return;
        }
        let this = self.clone();
        let handle = tokio::runtime::Handle::current();
        handle.spawn(async move {
            let mut last_prune = Instant::now();
            while alive.upgrade().is_some() {
                let now = now_ms();
                let lease = lease(&this.ingestor).as_millis() as i64;
                let owner = this.run_owner();
                let pool = this.ingestor.pool.clone();
                let claim_owner = owner.clone();
                let claimed =
                    tokio::task::spawn_blocking(move || store::claim_due(&pool, &claim_owner, now, now + lease)).await;
                match claimed {
                    Ok(Ok(Some(id))) => {
                        let runner = this.clone();
                        let (run_id, run_owner) = (id.clone(), owner.clone());
                        let result = this
                            .ingestor
                            .on_runtime(async move { runner.run_leased(&run_id, "schedule", &run_owner).await })
                            .await;
                        if let Err(e) = result.and_then(|r| r) {
                            tracing::error!(provider.id = %id, error.cause = format!("{e:#}"), "A provider run failed.");
                        }
                        let next = this.get(&id).map(|p| now_ms() + jitter(p.schedule));
                        if let Err(e) = store::release(&this.ingestor.pool, &id, &owner, next) {
                            tracing::error!(provider.id = %id, error.cause = format!("{e:#}"), "Releasing a provider lease failed.");
                        }
                    }
                    Ok(Ok(None)) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Ok(Err(e)) => {
                        tracing::warn!(error.cause = format!("{e:#}"), "Claiming due providers failed; retrying.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => {
                        tracing::error!(error.cause = %e, "The provider loop's database task failed.");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                if last_prune.elapsed() > Duration::from_secs(3600) {
                    last_prune = Instant::now();
                    let week = 7 * 24 * 3600 * 1000;
                    if let Err(e) = store::prune_deliveries(&this.ingestor.pool, now_ms() - week) {
                        tracing::warn!(error.cause = format!("{e:#}"), "Pruning webhook deliveries failed.");
                    }
                }
            }
        });
    }

    /// A full run of a provider whose lease this instance holds; records its outcome.
    async fn run_leased(&self, id: &str, cause: &str, owner: &str) -> anyhow::Result<RunRow> {
        let provider = self.get(id).with_context(|| format!("provider {id} is not configured"))?;
        let mut out = RunOutcome { cause: cause.to_owned(), started_at: now_ms(), ..Default::default() };
        let renewer = LeaseRenewer::new(&self.ingestor, id, owner);
        match provider.list_repos().await {
            Err(e) => out.errors.push(format!("listing repositories failed: {e:#}")),
            Ok(repos) => {
                let mut desired = BTreeSet::new();
                let mut unknown: Vec<String> = Vec::new();
                for repo in repos.iter().filter(|r| provider.filter.accepts(r)) {
                    renewer.renew()?;
                    out.repositories += 1;
                    let Some(branch) = provider.branch_of(repo) else { continue };
                    match provider.catalog_files(repo, &branch).await {
                        Ok(paths) => {
                            for p in paths {
                                desired.insert(self.normalize(provider.file_target(&repo.full_name, &branch, &p)));
                            }
                        }
                        Err(e) => {
                            out.errors.push(format!("{}: {e:#}", repo.full_name));
                            unknown.push(provider.repo_prefix(&repo.full_name));
                        }
                    }
                }
                self.apply(provider, None, &desired, &unknown, &mut out).await?;
            }
        }
        out.finished_at = now_ms();
        let row = store::record_run(&self.ingestor.pool, id, &out)?;
        metrics::counter!("portolan_provider_runs_total", "provider" => id.to_owned(), "status" => row.status.clone())
            .increment(1);
        tracing::info!(
            provider.id = %id,
            cause,
            repositories = out.repositories,
            added = out.locations_added,
            removed = out.locations_removed,
            errors = out.errors.len(),
            duration_ms = out.finished_at - out.started_at,
            "Provider run finished."
        );
        Ok(row)
    }

    fn normalize(&self, target: String) -> String {
        self.ingestor.normalize_target("url", &target, false).unwrap_or(target)
    }

    /// Makes the provider's locations (all of them, or those under `scope` prefixes) exactly the
    /// `desired` targets: registers and processes the new ones, deletes the ones gone, and leaves
    /// the locations under `unknown` prefixes (repositories that could not be checked) alone.
    async fn apply(
        &self,
        provider: &Provider,
        scope: Option<&[String]>,
        desired: &BTreeSet<String>,
        unknown: &[String],
        out: &mut RunOutcome,
    ) -> anyhow::Result<()> {
        let origin = provider.origin();
        let pool = self.ingestor.pool.clone();
        let existing: Vec<catalog_store::LocationRow> = catalog_store::list_locations(&pool)?
            .into_iter()
            .filter(|l| l.origin == origin && l.kind == "url")
            .filter(|l| scope.is_none_or(|s| s.iter().any(|p| l.target.starts_with(p.as_str()))))
            .collect();
        for old in &existing {
            // A location registered while this run was scanning (by a push webhook) is newer
            // than what the scan saw: it stays.
            let newer = old.created_at >= out.started_at;
            if !newer && !desired.contains(&old.target) && !unknown.iter().any(|p| old.target.starts_with(p.as_str())) {
                tracing::info!(provider.id = %provider.id, location.target = %old.target, "Removing a location its repository no longer has.");
                self.ingestor.delete_location(&old.id)?;
                out.locations_removed += 1;
            }
        }
        for target in desired {
            if existing.iter().any(|l| &l.target == target) {
                continue;
            }
            let (row, created) = catalog_store::find_or_create_location(&pool, "url", target, &origin)?;
            if created {
                out.locations_added += 1;
                if let Err(e) = self.ingestor.process(&row).await {
                    out.errors.push(format!("{target}: {e:#}"));
                }
            }
        }
        Ok(())
    }

    /// Brings one repository's locations in step with its current state (webhooks).
    async fn sync_repo(&self, provider: &Provider, repo: &Repo, out: &mut RunOutcome) -> anyhow::Result<()> {
        let prefix = vec![provider.repo_prefix(&repo.full_name)];
        let mut desired = BTreeSet::new();
        if provider.filter.accepts(repo) {
            out.repositories += 1;
            if let Some(branch) = provider.branch_of(repo) {
                for p in provider.catalog_files(repo, &branch).await? {
                    desired.insert(self.normalize(provider.file_target(&repo.full_name, &branch, &p)));
                }
            }
        }
        self.apply(provider, Some(&prefix), &desired, &[], out).await
    }

    /// Removes every location of a repository (deleted, renamed away, transferred away).
    async fn drop_repo(&self, provider: &Provider, full_name: &str, out: &mut RunOutcome) -> anyhow::Result<()> {
        let prefix = vec![provider.repo_prefix(full_name)];
        self.apply(provider, Some(&prefix), &BTreeSet::new(), &[], out).await
    }

    /// Applies a push: catalog files added or modified on the tracked branch are registered or
    /// re-read, removed ones lose their location. `files` holds each touched path's final state
    /// (true: present).
    async fn apply_push(
        &self,
        provider: &Provider,
        repo: &Repo,
        branch: &str,
        files: &BTreeMap<String, bool>,
        out: &mut RunOutcome,
    ) -> anyhow::Result<()> {
        if !provider.filter.accepts(repo) {
            return Ok(());
        }
        out.repositories += 1;
        let origin = provider.origin();
        let pool = self.ingestor.pool.clone();
        let mut processed = BTreeSet::new();
        for (path, present) in files.iter().filter(|(p, _)| provider.catalog_path.matches(p)) {
            let target = self.normalize(provider.file_target(&repo.full_name, branch, path));
            if *present {
                let (row, created) = catalog_store::find_or_create_location(&pool, "url", &target, &origin)?;
                if created {
                    out.locations_added += 1;
                } else {
                    out.locations_refreshed += 1;
                }
                processed.insert(row.id.clone());
                let report = self.ingestor.process(&row).await?;
                if report.root_failed {
                    out.errors.extend(report.errors.iter().map(|e| format!("{}: {}", e.source, e.message)));
                }
            } else if let Some(row) = catalog_store::find_location(&pool, "url", &target)?
                && row.origin == origin
            {
                self.ingestor.delete_location(&row.id)?;
                out.locations_removed += 1;
            }
        }
        // Other touched files may be read through a location's tree (Location targets): the
        // locations that read them are re-read too.
        let sources: Vec<String> = files
            .keys()
            .filter(|p| !provider.catalog_path.matches(p))
            .map(|p| format!("url:{}", self.normalize(provider.file_target(&repo.full_name, branch, p))))
            .collect();
        for id in store::locations_reading(&pool, &sources)? {
            if processed.insert(id.clone())
                && let Some(row) = catalog_store::get_location(&pool, &id)?
            {
                out.locations_refreshed += 1;
                self.ingestor.process(&row).await?;
            }
        }
        Ok(())
    }
}

/// Why a requested run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another run of the provider held its lease for longer than a lease lasts.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Keeps a long run's lease alive: renews it when a third of it has passed.
struct LeaseRenewer<'a> {
    ingestor: &'a Ingestor,
    id: &'a str,
    owner: &'a str,
    last: Mutex<Instant>,
}

impl<'a> LeaseRenewer<'a> {
    fn new(ingestor: &'a Ingestor, id: &'a str, owner: &'a str) -> Self {
        Self { ingestor, id, owner, last: Mutex::new(Instant::now()) }
    }

    fn renew(&self) -> anyhow::Result<()> {
        let mut last = self.last.lock().map_err(|_| anyhow::anyhow!("lease renewer poisoned"))?;
        if last.elapsed() < self.ingestor.lease / 3 {
            return Ok(());
        }
        let now = now_ms();
        let until = now + self.ingestor.lease.as_millis() as i64;
        if !store::claim(&self.ingestor.pool, self.id, self.owner, now, until)? {
            bail!("lost the lease on provider {} to another instance", self.id);
        }
        *last = Instant::now();
        Ok(())
    }
}

fn jitter(d: Duration) -> i64 {
    let base = d.as_millis() as i64;
    base + fastrand::i64(0..=(base / 10).max(1))
}

/// The outcome of a webhook delivery, recorded as a run of the provider it concerned.
pub fn record_webhook(providers: &Providers, provider_id: &str, mut out: RunOutcome) -> anyhow::Result<RunRow> {
    out.finished_at = now_ms();
    store::record_run(&providers.ingestor.pool, provider_id, &out)
}

/// A GET against a host API, with the token, rate-limit handling and retries: a 403 or 429 that
/// says the rate limit is exhausted waits for `retry-after` or `x-ratelimit-reset` (up to
/// [`MAX_RATE_LIMIT_WAIT`], beyond which the run fails and the next one tries again); a 5xx or a
/// connection failure is retried with exponential backoff; a response that leaves no requests
/// (`x-ratelimit-remaining: 0`) pauses the next request until the reset.
pub struct ApiClient {
    client: reqwest::Client,
    auth: Option<(&'static str, String)>,
    extra: Vec<(&'static str, &'static str)>,
    pause_until: Mutex<Option<Instant>>,
}

/// The longest a run waits for a rate limit to reset.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
const MAX_ATTEMPTS: u32 = 5;
/// Listing pages and trees are capped at this size.
const MAX_API_BODY: usize = 32 * 1024 * 1024;

/// A successful (or 404/409) API answer.
pub struct ApiResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl ApiClient {
    pub fn new(
        timeout: Duration,
        auth: Option<(&'static str, String)>,
        extra: Vec<(&'static str, &'static str)>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portolan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, auth, extra, pause_until: Mutex::new(None) })
    }

    fn pause(&self) -> Option<Duration> {
        let until = (*self.pause_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }

    fn set_pause(&self, wait: Duration) {
        if let Ok(mut p) = self.pause_until.lock() {
            *p = Some(Instant::now() + wait);
        }
    }

    /// GETs `url`; 2xx, 404 and 409 come back as responses, anything else is an error.
    pub async fn get(&self, url: &str) -> anyhow::Result<ApiResponse> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(wait) = self.pause() {
                tokio::time::sleep(wait).await;
            }
            let mut req = self.client.get(url);
            if let Some((name, value)) = &self.auth {
                req = req.header(*name, value);
            }
            for (name, value) in &self.extra {
                req = req.header(*name, *value);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(url, error.cause = %e, attempt, "An API request failed; retrying.");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(anyhow::anyhow!("GET {url}: {e}")),
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let wait = rate_limit_wait(status, &headers);
            if let Some(wait) = wait {
                if wait > MAX_RATE_LIMIT_WAIT || attempt >= MAX_ATTEMPTS {
                    bail!("GET {url}: rate limited for {} s more", wait.as_secs());
                }
                tracing::warn!(url, wait_ms = wait.as_millis() as u64, "Rate limited by the API; waiting.");
                tokio::time::sleep(wait).await;
                continue;
            }
            if resp.status().is_server_error() && attempt < MAX_ATTEMPTS {
                tracing::warn!(url, status, attempt, "The API answered a server error; retrying.");
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            if !(resp.status().is_success() || status == 404 || status == 409) {
                bail!("GET {url} answered {status}");
            }
            if headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()) == Some("0")
                && let Some(reset) = reset_wait(&headers)
            {
                self.set_pause(reset.min(MAX_RATE_LIMIT_WAIT));
            }
            if resp.content_length().is_some_and(|n| n as usize > MAX_API_BODY) {
                bail!("GET {url}: response larger than {MAX_API_BODY} bytes");
            }
            let body = resp.bytes().await.with_context(|| format!("GET {url}: reading the body"))?;
            if body.len() > MAX_API_BODY {
                bail!("GET {url}: response larger than {MAX_API_BODY} bytes");
            }
            return Ok(ApiResponse { status, headers, body: body.to_vec() });
        }
    }

    /// GETs `url` and parses a JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> anyhow::Result<(ApiResponse, T)> {
        let resp = self.get(url).await?;
        if resp.status != 200 {
            bail!("GET {url} answered {}", resp.status);
        }
        let value = serde_json::from_slice(&resp.body).with_context(|| format!("GET {url}: unexpected JSON"))?;
        Ok((resp, value))
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(6)))
}

/// How long to wait before retrying, when this answer says the rate limit is exhausted.
fn rate_limit_wait(status: u16, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(secs) = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") || header("ratelimit-remaining") == Some("0") {
        return Some(reset_wait(headers).unwrap_or(Duration::from_secs(60)));
    }
    // A 429 without any hint: a short pause.
    (status == 429).then(|| Duration::from_secs(1))
}

/// Time until `x-ratelimit-reset` (GitHub) or `ratelimit-reset` (GitLab), epoch seconds.
fn reset_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let reset = ["x-ratelimit-reset", "ratelimit-reset"]
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok()))?;
    let now = chrono::Utc::now().timestamp();
    Some(Duration::from_secs((reset - now).max(1) as u64))
}

/// Appends path segments to a base URL, each percent-encoded.
pub fn join_segments<'a>(base: &str, segments: impl IntoIterator<Item = &'a str>) -> anyhow::Result<url::Url> {
    let mut url = url::Url::parse(base).with_context(|| format!("invalid base URL {base:?}"))?;
    {
        let mut path = url.path_segments_mut().map_err(|_| anyhow::anyhow!("{base:?} cannot be a base URL"))?;
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> Repo {
        Repo {
            full_name: format!("acme/{name}"),
            name: name.into(),
            default_branch: Some("main".into()),
            archived: false,
            fork: false,
            visibility: "public".into(),
            topics: vec!["Backstage".into()],
            project_id: None,
        }
    }

    #[test]
    fn archived_repositories_and_forks_are_skipped_by_default() {
        let f = RepoFilter::parse(&FilterSettings::default()).unwrap();
        assert!(f.accepts(&repo("svc")));
        assert!(!f.accepts(&Repo { archived: true, ..repo("svc") }));
        assert!(!f.accepts(&Repo { fork: true, ..repo("svc") }));
    }

    #[test]
    fn include_exclude_topics_and_visibility_all_apply() {
        let f = RepoFilter::parse(&FilterSettings {
            include: Some("^svc-".into()),
            exclude: Some("-legacy$".into()),
            topics: vec!["backstage".into()],
            visibility: vec!["public".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(f.accepts(&repo("svc-a")));
        assert!(!f.accepts(&repo("lib-a")));
        assert!(!f.accepts(&repo("svc-a-legacy")));
        assert!(!f.accepts(&Repo { topics: vec![], ..repo("svc-a") }));
        assert!(!f.accepts(&Repo { visibility: "private".into(), ..repo("svc-a") }));
        assert!(RepoFilter::parse(&FilterSettings { include: Some("(".into()), ..Default::default() }).is_err());
    }

    #[test]
    fn a_glob_catalog_path_matches_at_any_depth_and_an_exact_one_only_itself() {
        let g = CatalogPath::parse("**/catalog-info.yaml").unwrap();
        assert!(g.matches("catalog-info.yaml"));
        assert!(g.matches("services/a/catalog-info.yaml"));
        assert!(!g.matches("services/a/other.yaml"));
        let e = CatalogPath::parse("catalog-info.yaml").unwrap();
        assert!(e.matches("catalog-info.yaml") && !e.matches("x/catalog-info.yaml"));
    }

    #[test]
    fn the_example_configuration_parses_with_its_provider_sections_uncommented() {
        let text = include_str!("../../portolan.example.toml");
        toml::from_str::<crate::config::Settings>(text).unwrap();
        let start = text.find("# [[providers.github]]").unwrap();
        let end = text.find("[webhooks]").unwrap();
        let uncommented: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n");
        let s: crate::config::Settings = toml::from_str(&uncommented).unwrap();
        assert_eq!(s.providers.github[0].filter.topics, vec!["backstage".to_string()]);
        assert_eq!(s.providers.gitlab[0].group, "acme");
        assert!(!format!("{s:?}").contains("github_pat_"), "tokens never show in debug output");
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret([redacted])");
    }

    #[test]
    fn an_exhausted_rate_limit_waits_for_retry_after_or_the_reset() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(rate_limit_wait(429, &h), Some(Duration::from_secs(3)));
        assert_eq!(rate_limit_wait(200, &h), None);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", (chrono::Utc::now().timestamp() + 30).to_string().parse().unwrap());
        let w = rate_limit_wait(403, &h).unwrap();
        assert!(w <= Duration::from_secs(30) && w >= Duration::from_secs(28), "{w:?}");
        let plain_forbidden = reqwest::header::HeaderMap::new();
        assert_eq!(rate_limit_wait(403, &plain_forbidden), None);
    }
}
