//! GitLab's REST API (v4), as a provider needs it: a group's projects with its subgroups
//! (paginated by `X-Next-Page`), whether a file exists on a branch, a branch's file tree (for
//! glob catalog paths), and one project (for project webhooks).

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::{ApiClient, GitlabSettings, Repo, join_segments};

/// A project as GitLab's REST API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct GitlabProject {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub path: Option<String>,
    pub path_with_namespace: String,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub tag_list: Vec<String>,
    #[serde(default)]
    pub forked_from_project: Option<serde_json::Value>,
    #[serde(default)]
    pub empty_repo: bool,
}

impl From<GitlabProject> for Repo {
    fn from(p: GitlabProject) -> Self {
        let topics = if p.topics.is_empty() { p.tag_list } else { p.topics };
        Repo {
            name: p.path.unwrap_or(p.name),
            full_name: p.path_with_namespace,
            default_branch: if p.empty_repo { None } else { p.default_branch },
            archived: p.archived,
            fork: p.forked_from_project.as_ref().is_some_and(|v| !v.is_null()),
            visibility: p.visibility.unwrap_or_else(|| "private".into()),
            topics,
            project_id: Some(p.id),
        }
    }
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

pub struct GitlabApi {
    pub group: String,
    api_base: String,
    web_base: String,
    client: ApiClient,
}

impl GitlabApi {
    pub fn new(s: &GitlabSettings, timeout: Duration) -> anyhow::Result<Self> {
        let auth = s.token.as_ref().map(|t| ("private-token", t.expose().to_owned()));
        let client = ApiClient::new(timeout, auth, vec![("accept", "application/json")])?;
        for (key, base) in [("api_base_url", &s.api_base_url), ("web_base_url", &s.web_base_url)] {
            url::Url::parse(base).with_context(|| format!("providers.gitlab {:?}: {key} {base:?}", s.id))?;
        }
        Ok(Self {
            group: s.group.trim_matches('/').to_owned(),
            api_base: s.api_base_url.trim_end_matches('/').to_owned(),
            web_base: s.web_base_url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// GETs every page of a paginated list, following `X-Next-Page`. A 404 means no list
    /// (an empty repository has no tree): `None`.
    async fn pages<T: serde::de::DeserializeOwned>(&self, mut url: url::Url) -> anyhow::Result<Option<Vec<T>>> {
        let mut out = Vec::new();
        let mut page = "1".to_owned();
        for _ in 0..10_000 {
            let mut this = url.clone();
            this.query_pairs_mut().append_pair("page", &page);
            let resp = self.client.get(this.as_str()).await?;
            if resp.status == 404 && out.is_empty() {
                return Ok(None);
            }
            if resp.status != 200 {
                anyhow::bail!("GET {this} answered {}", resp.status);
            }
            let items: Vec<T> =
                serde_json::from_slice(&resp.body).with_context(|| format!("GET {this}: unexpected JSON"))?;
            out.extend(items);
            match resp.header("x-next-page").map(str::trim).filter(|n| !n.is_empty()) {
                Some(n) if n.chars().all(|c| c.is_ascii_digit()) => page = n.to_owned(),
                _ => return Ok(Some(out)),
            }
        }
        url.set_query(None);
        anyhow::bail!("GET {url}: more than 10000 pages")
    }

    /// Every project of the group and its subgroups.
    pub async fn list_repos(&self) -> anyhow::Result<Vec<Repo>> {
        let mut url = join_segments(&self.api_base, ["groups", &self.group, "projects"])?;
        url.query_pairs_mut().append_pair("include_subgroups", "true").append_pair("per_page", "100");
        let projects: Vec<GitlabProject> =
            self.pages(url).await?.with_context(|| format!("GitLab group {} not found", self.group))?;
        Ok(projects.into_iter().map(Repo::from).collect())
    }

    /// One project by id, or `None` when it is gone.
    pub async fn project(&self, id: u64) -> anyhow::Result<Option<Repo>> {
        let url = join_segments(&self.api_base, ["projects", &id.to_string()])?;
        let resp = self.client.get(url.as_str()).await?;
        if resp.status != 200 {
            return Ok(None);
        }
        let p: GitlabProject =
            serde_json::from_slice(&resp.body).with_context(|| format!("GET {url}: unexpected JSON"))?;
        Ok(Some(p.into()))
    }

    fn project_ref(repo: &Repo) -> String {
        repo.project_id.map(|id| id.to_string()).unwrap_or_else(|| repo.full_name.clone())
    }

    /// Does `path` exist on `branch`?
    pub async fn file_exists(&self, repo: &Repo, branch: &str, path: &str) -> anyhow::Result<bool> {
        let project = Self::project_ref(repo);
        let mut url = join_segments(&self.api_base, ["projects", &project, "repository", "files", path])?;
        url.query_pairs_mut().append_pair("ref", branch);
        Ok(self.client.get(url.as_str()).await?.status == 200)
    }

    /// Every file path on `branch`.
    pub async fn tree(&self, repo: &Repo, branch: &str) -> anyhow::Result<Vec<String>> {
        let project = Self::project_ref(repo);
        let mut url = join_segments(&self.api_base, ["projects", &project, "repository", "tree"])?;
        url.query_pairs_mut()
            .append_pair("recursive", "true")
            .append_pair("ref", branch)
            .append_pair("per_page", "100");
        let entries: Vec<TreeEntry> = self.pages(url).await?.unwrap_or_default();
        Ok(entries.into_iter().filter(|e| e.kind == "blob").map(|e| e.path).collect())
    }

    /// The raw URL of a file: `{web_base_url}/{project}/-/raw/{branch}/{path}`.
    pub fn file_url(&self, full_name: &str, branch: &str, path: &str) -> String {
        let mut segments: Vec<&str> = full_name.split('/').collect();
        segments.extend(["-", "raw"]);
        segments.extend(branch.split('/'));
        segments.extend(path.split('/'));
        join_segments(&self.web_base, segments)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{}/{full_name}/-/raw/{branch}/{path}", self.web_base))
    }

    pub fn repo_prefix(&self, full_name: &str) -> String {
        let mut segments: Vec<&str> = full_name.split('/').collect();
        segments.extend(["-", "raw", ""]);
        join_segments(&self.web_base, segments)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{}/{full_name}/-/raw/", self.web_base))
    }
}
