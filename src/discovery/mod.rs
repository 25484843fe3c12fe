//! Repository discovery: GitHub organisations and GitLab groups whose catalog files become
//! locations, kept in step by scheduled runs and by signed push webhooks.
//!
//! A provider lists its organisation's repositories, keeps those its filter accepts, looks for
//! the catalog file (or glob) on the tracked branch of each, and registers every file found as a
//! `url` location with origin `provider:<type>:<id>`. Locations of repositories that disappear,
//! get filtered out or lose their file are deleted, and the orphan strategy applies to their
//! entities. A listing that fails changes nothing; a repository whose files cannot be checked
//! keeps its locations. Runs are claimed through the database (`store::PROVIDER_LEASES`), so
//! instances sharing one database never scan one provider at once, and every run's outcome is
//! stored.
//!
//! Here: the providers and a run's scan and apply. Beside it: `settings.rs` the configuration,
//! the repository filter and the catalog path; `client.rs` the host API client (retries, rate
//! limits); `scheduler.rs` when runs happen (the loop, runs on request, lease renewal);
//! [`github`] and [`gitlab`] what each host answers; [`push`] push deliveries; [`views`] what
//! the API answers, typed; [`handlers`] the HTTP API; `store.rs` all SQL (private: nothing
//! outside discovery reads its tables). Locations are registered and read through
//! `crate::catalog::facade` and `catalog::ingest`.

mod client;
pub mod github;
pub mod gitlab;
pub mod handlers;
pub mod push;
pub mod routes;
mod scheduler;
mod settings;
mod store;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

pub use self::client::{ApiClient, ApiResponse, MAX_RATE_LIMIT_WAIT, join_segments};
use self::scheduler::LeaseRenewer;
pub use self::scheduler::RunError;
pub use self::settings::*;
use crate::catalog::facade as catalog_store;
use crate::catalog::ingest::Ingestor;
use crate::db::now_ms;
/// The one secret type; named here too for the provider settings' users.
pub use crate::secret::Secret;
use store::{RunOutcome, RunRow};

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

/// The discovery domain's front door: the configured GitHub and GitLab providers (registering
/// what they find through the catalog), their handlers' data (runs, push webhooks), and the
/// scheduler task.
pub fn domain(
    (settings, push): (&DiscoverySettings, &PushSettings),
    shared: &crate::domain::Shared,
) -> anyhow::Result<crate::domain::Domain> {
    let mut discovery = Discovery::build(settings, push, shared.catalog.clone())?;
    discovery.hooks = shared.hooks.clone();
    let discovery = Arc::new(discovery);
    let d = discovery.clone();
    Ok(crate::domain::Domain::new("discovery")
        .data(discovery)
        .task(crate::domain::Task::service("discovery-scheduler", move |alive| d.spawn_loop(alive))))
}

/// The configured providers and what they need to run: shared by the scheduler loop, the API
/// and the webhooks.
pub struct Discovery {
    pub list: Vec<Provider>,
    pub ingestor: Ingestor,
    pub webhooks: PushSettings,
    /// Where webhook events discovery does not act on go (deployments, incidents...).
    pub hooks: Arc<crate::domain::Hooks>,
}

/// Other domains compare commits through the configured GitHub providers: the one of the
/// repository's organisation, else the first.
impl crate::domain::hooks::CommitLister for Discovery {
    fn compare<'a>(
        &'a self,
        repo: &'a str,
        base: &'a str,
        head: &'a str,
    ) -> futures_util::future::BoxFuture<'a, crate::domain::hooks::Commits> {
        Box::pin(async move {
            let owner = repo.split('/').next().unwrap_or_default();
            let githubs: Vec<&github::GithubApi> = self
                .list
                .iter()
                .filter_map(|p| match &p.api {
                    Api::Github(g) => Some(g),
                    Api::Gitlab(_) => None,
                })
                .collect();
            let Some(api) = githubs.iter().find(|g| g.organization.eq_ignore_ascii_case(owner)).or(githubs.first())
            else {
                return Ok(None);
            };
            Ok(Some(api.compare(repo, base, head).await?))
        })
    }
}

impl Discovery {
    /// Checks the configuration (unique ids, valid filters and globs) and builds the clients.
    pub fn build(settings: &DiscoverySettings, webhooks: &PushSettings, ingestor: Ingestor) -> anyhow::Result<Self> {
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
        Ok(Self { list, ingestor, webhooks: webhooks.clone(), hooks: Default::default() })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.id == id)
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
        for id in catalog_store::locations_reading(&pool, &sources)? {
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

/// The outcome of a webhook delivery, recorded as a run of the provider it concerned.
pub fn record_webhook(providers: &Discovery, provider_id: &str, mut out: RunOutcome) -> anyhow::Result<RunRow> {
    out.finished_at = now_ms();
    store::record_run(&providers.ingestor.pool, provider_id, &out)
}
