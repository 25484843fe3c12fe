//! Provider configuration: the `[[providers.github]]`, `[[providers.gitlab]]` and `[webhooks]`
//! sections as read from the file, the compiled repository filter and catalog path they turn
//! into, and the reading rules and tokens the providers add for their raw files.

use anyhow::{Context, bail};
use serde::Deserialize;

use super::Repo;
use crate::catalog::fetch::AllowRule;
use crate::secret::Secret;

/// `[providers]`: the organisations and groups to discover.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverySettings {
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
pub struct PushSettings {
    /// The secret of GitHub's `X-Hub-Signature-256`; without it GitHub deliveries get 401.
    pub github_secret: Option<Secret>,
    /// The value GitLab sends as `X-Gitlab-Token`; without it GitLab deliveries get 401.
    pub gitlab_token: Option<Secret>,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self { github_secret: None, gitlab_token: None, max_body_bytes: 5 * 1024 * 1024 }
    }
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

/// Adds the raw-file hosts of the configured providers to the reading allowlist, each limited
/// to its organisation's or group's paths, so discovered files can be read without listing the
/// host by hand (a private address is reachable only because the provider names it).
pub fn reading_rules(settings: &DiscoverySettings) -> Vec<AllowRule> {
    let github = settings.github.iter().filter_map(|g| raw_rule(&g.raw_base_url, &g.organization));
    let gitlab = settings.gitlab.iter().filter_map(|g| raw_rule(&g.web_base_url, g.group.trim_matches('/')));
    github.chain(gitlab).collect()
}

/// The rule for `{base}/{prefix}/...`: the base's host and port (the scheme's default when it
/// names none), limited to that path, so the provider's token goes to no other port.
fn raw_rule(base: &str, prefix: &str) -> Option<AllowRule> {
    let u = url::Url::parse(base).ok()?;
    let host = u.host_str()?;
    let host = match u.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Some(AllowRule { host, paths: Some(vec![format!("{}/{prefix}/", u.path().trim_end_matches('/'))]) })
}

/// The GitHub providers' tokens, sent when reading their organisation's raw files (so private
/// repositories can be read, on github.com and on GitHub Enterprise alike).
pub fn reading_tokens(settings: &DiscoverySettings) -> Vec<(AllowRule, Secret)> {
    settings
        .github
        .iter()
        .filter_map(|g| Some((raw_rule(&g.raw_base_url, &g.organization)?, g.token.clone()?)))
        .collect()
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
        toml::from_str::<crate::settings::Settings>(text).unwrap();
        let start = text.find("# [[providers.github]]").unwrap();
        let end = text.find("[webhooks]").unwrap();
        let uncommented: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n");
        let s: crate::settings::Settings = toml::from_str(&uncommented).unwrap();
        assert_eq!(s.providers.github[0].filter.topics, vec!["backstage".to_string()]);
        assert_eq!(s.providers.gitlab[0].group, "acme");
        assert!(!format!("{s:?}").contains("github_pat_"), "tokens never show in debug output");
    }
}
