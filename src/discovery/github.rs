//! GitHub's REST API, as a provider needs it: an organisation's repositories (paginated by the
//! `Link` header), whether a file exists on a branch (contents API), and a branch's file tree
//! (git trees API, for glob catalog paths).

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::client::same_origin_link;
use super::{ApiClient, GithubSettings, Repo, join_segments};

/// A repository as GitHub's REST API and webhook payloads describe it.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubRepo {
    pub name: String,
    pub full_name: String,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
}

impl From<GithubRepo> for Repo {
    fn from(r: GithubRepo) -> Self {
        let visibility = r.visibility.unwrap_or_else(|| if r.private { "private" } else { "public" }.to_owned());
        Repo {
            full_name: r.full_name,
            name: r.name,
            default_branch: r.default_branch,
            archived: r.archived,
            fork: r.fork,
            visibility,
            topics: r.topics,
            project_id: None,
        }
    }
}

#[derive(Deserialize)]
struct Tree {
    #[serde(default)]
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`, what portolan reads of it.
#[derive(Deserialize)]
struct Comparison {
    #[serde(default)]
    commits: Vec<ComparedCommit>,
}

#[derive(Deserialize)]
struct ComparedCommit {
    sha: String,
    commit: CommitDetail,
}

#[derive(Deserialize)]
struct CommitDetail {
    author: Option<Signature>,
    committer: Option<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    date: String,
}

pub struct GithubApi {
    pub organization: String,
    api_base: String,
    raw_base: String,
    client: ApiClient,
}

impl GithubApi {
    pub fn new(s: &GithubSettings, timeout: Duration) -> anyhow::Result<Self> {
        let auth = s.token.as_ref().map(|t| ("authorization", format!("Bearer {}", t.expose())));
        let client = ApiClient::new(
            timeout,
            auth,
            vec![("accept", "application/vnd.github+json"), ("x-github-api-version", "2022-11-28")],
        )?;
        for (key, base) in [("api_base_url", &s.api_base_url), ("raw_base_url", &s.raw_base_url)] {
            url::Url::parse(base).with_context(|| format!("providers.github {:?}: {key} {base:?}", s.id))?;
        }
        Ok(Self {
            organization: s.organization.clone(),
            api_base: s.api_base_url.trim_end_matches('/').to_owned(),
            raw_base: s.raw_base_url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// Every repository of the organisation, following `Link: <...>; rel="next"`.
    pub async fn list_repos(&self) -> anyhow::Result<Vec<Repo>> {
        let mut url = join_segments(&self.api_base, ["orgs", &self.organization, "repos"])?;
        url.query_pairs_mut().append_pair("per_page", "100").append_pair("type", "all");
        let mut next = Some(url.to_string());
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                anyhow::bail!("more than 10000 pages of repositories");
            }
            let (resp, repos) = self.client.get_json::<Vec<GithubRepo>>(&url).await?;
            out.extend(repos.into_iter().map(Repo::from));
            // Only follow links on the API base's scheme, host and port: the token must not
            // travel anywhere else; a link elsewhere fails the run.
            next = match resp.header("link").and_then(next_link) {
                Some(link) => Some(same_origin_link(&self.api_base, &link)?.to_string()),
                None => None,
            };
        }
        Ok(out)
    }

    /// Does `path` exist on `branch`? (404: no; an empty repository answers 404 too.)
    pub async fn file_exists(&self, full_name: &str, branch: &str, path: &str) -> anyhow::Result<bool> {
        let mut segments = vec!["repos"];
        segments.extend(full_name.split('/'));
        segments.push("contents");
        segments.extend(path.split('/'));
        let mut url = join_segments(&self.api_base, segments)?;
        url.query_pairs_mut().append_pair("ref", branch);
        let resp = self.client.get(url.as_str()).await?;
        Ok(resp.status == 200)
    }

    /// Every file path on `branch` (an empty repository has none).
    pub async fn tree(&self, full_name: &str, branch: &str) -> anyhow::Result<Vec<String>> {
        let mut segments = vec!["repos"];
        segments.extend(full_name.split('/'));
        segments.extend(["git", "trees", branch]);
        let mut url = join_segments(&self.api_base, segments)?;
        url.query_pairs_mut().append_pair("recursive", "1");
        let resp = self.client.get(url.as_str()).await?;
        if resp.status != 200 {
            return Ok(Vec::new());
        }
        let tree: Tree = serde_json::from_slice(&resp.body).with_context(|| format!("GET {url}: unexpected JSON"))?;
        if tree.truncated {
            tracing::warn!(repository = full_name, "GitHub truncated the file tree; some catalog files may be missed.");
        }
        Ok(tree.tree.into_iter().filter(|e| e.kind == "blob").map(|e| e.path).collect())
    }

    /// The commits after `base` up to `head` (`GET /repos/{o}/{r}/compare/{base}...{head}`),
    /// oldest first, as (sha, authored at in ms).
    pub async fn compare(&self, full_name: &str, base: &str, head: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let mut segments = vec!["repos"];
        segments.extend(full_name.split('/'));
        let range = format!("{base}...{head}");
        segments.extend(["compare", range.as_str()]);
        let url = join_segments(&self.api_base, segments)?;
        let (_, cmp) = self.client.get_json::<Comparison>(url.as_str()).await?;
        let mut out = Vec::with_capacity(cmp.commits.len());
        for c in cmp.commits {
            let when = c.commit.author.as_ref().or(c.commit.committer.as_ref()).map(|p| p.date.as_str()).unwrap_or("");
            let at = chrono::DateTime::parse_from_rfc3339(when)
                .with_context(|| format!("GET {url}: commit {} has no valid date", c.sha))?;
            out.push((c.sha, at.timestamp_millis()));
        }
        Ok(out)
    }

    /// The raw URL of a file: `{raw_base_url}/{owner}/{repo}/{branch}/{path}`.
    pub fn file_url(&self, full_name: &str, branch: &str, path: &str) -> String {
        let mut segments: Vec<&str> = full_name.split('/').collect();
        segments.extend(branch.split('/'));
        segments.extend(path.split('/'));
        join_segments(&self.raw_base, segments)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{}/{full_name}/{branch}/{path}", self.raw_base))
    }

    pub fn repo_prefix(&self, full_name: &str) -> String {
        let mut segments: Vec<&str> = full_name.split('/').collect();
        segments.push("");
        join_segments(&self.raw_base, segments)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{}/{full_name}/", self.raw_base))
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_read_from_githubs_link_header() {
        let h = "<https://api.github.com/organizations/1/repos?page=3>; rel=\"next\", \
                 <https://api.github.com/organizations/1/repos?page=5>; rel=\"last\", \
                 <https://api.github.com/organizations/1/repos?page=1>; rel=\"first\"";
        assert_eq!(next_link(h).as_deref(), Some("https://api.github.com/organizations/1/repos?page=3"));
        assert_eq!(next_link("<https://x/?page=1>; rel=\"prev\""), None);
    }
}
