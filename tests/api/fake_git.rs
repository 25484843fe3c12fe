//! A fake GitHub and GitLab on loopback, speaking their REST JSON: GitHub's organisation
//! repository listing (paginated with `Link`), contents, git trees and raw files; GitLab's group
//! projects (paginated with `X-Next-Page`), projects, repository files and trees, and raw files.
//! It can answer one request with an exhausted rate limit, and logs every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Hit {
    /// Path and query, as sent.
    pub uri: String,
    pub status: u16,
    pub at: Instant,
    pub token: Option<String>,
}

#[derive(Default)]
struct State {
    /// GitHub repository objects, in listing order.
    github: Vec<Value>,
    /// GitLab project objects, in listing order.
    gitlab: Vec<Value>,
    /// `full_name@branch:path` -> content.
    files: BTreeMap<String, String>,
    page_size: usize,
    /// The next request whose URI contains this is answered 403 with an exhausted rate limit.
    rate_limit_once: Option<String>,
    /// Requests whose URI contains this are answered with this status.
    fail: Option<(String, u16)>,
    /// Requests whose URI contains this are answered after this delay.
    slow: Option<(String, std::time::Duration)>,
    /// What GitHub's `Link` headers start with instead of this server's own address.
    link_base: Option<String>,
    /// `owner/repo` -> its commits, oldest first, as (sha, authored at, RFC 3339).
    commits: BTreeMap<String, Vec<(String, String)>>,
    hits: Vec<Hit>,
    /// Where created repositories live, as real bare git repositories (`owner/name.git`).
    git_root: Option<std::path::PathBuf>,
    /// GitLab namespaces by id.
    namespaces: Vec<String>,
    /// Bodies of POST and PUT requests, with their path.
    posted: Vec<(String, Value)>,
}

#[derive(Clone)]
pub struct FakeGit {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn key(full_name: &str, branch: &str, path: &str) -> String {
    format!("{full_name}@{branch}:{path}")
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}))
}

impl State {
    fn file(&self, full: &str, branch: &str, path: &str) -> Option<String> {
        self.files.get(&key(full, branch, path)).cloned()
    }

    fn paths(&self, full: &str, branch: &str) -> Vec<String> {
        let prefix = format!("{full}@{branch}:");
        self.files.keys().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)).collect()
    }

    fn gitlab_project(&self, id: &str) -> Option<Value> {
        self.gitlab
            .iter()
            .find(|p| p["id"].as_u64().is_some_and(|n| n.to_string() == id) || p["path_with_namespace"] == id)
            .cloned()
    }
}

/// A repository created through the API: a bare git repository under the root.
fn create_repo(root: &std::path::Path, full: &str) -> bool {
    let dir = root.join(format!("{full}.git"));
    if dir.exists() {
        return false;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let ok = std::process::Command::new("git").args(["init", "-q", "--bare"]).arg(&dir).status().unwrap().success();
    assert!(ok, "git init --bare failed");
    true
}

/// Git's smart HTTP through `git http-backend` (CGI): clones and pushes, credentials required.
fn git_cgi(root: &std::path::Path, req: &HttpRequest, body: &[u8]) -> HttpResponse {
    use std::io::Write;
    if req.headers().get("authorization").is_none() {
        return HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Basic realm=\"fake\"")).finish();
    }
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut child = std::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", req.uri().path().trim_start_matches("/git"))
        .env("REQUEST_METHOD", req.method().as_str())
        .env("QUERY_STRING", req.query_string())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "scaffolder")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .unwrap_or((0, 0));
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let mut res = HttpResponse::Ok();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("status") {
                let code: u16 = v.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
                res.status(actix_web::http::StatusCode::from_u16(code).unwrap());
            } else {
                res.insert_header((k.trim().to_owned(), v.to_owned()));
            }
        }
    }
    res.body(out.stdout[split.0 + split.1..].to_vec())
}

/// The writing side: GitHub's repository creation, owner lookup, topics and workflow dispatch;
/// GitLab's namespaces and project creation; git itself. None when the request is not one.
fn serve_writes(st: &mut State, req: &HttpRequest, s: &[&str], body: &[u8], base: &str) -> Option<HttpResponse> {
    let method = req.method().as_str();
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if method != "GET" && s.first() != Some(&"git") {
        st.posted.push((req.uri().path().to_owned(), json_body.clone()));
    }
    let root = st.git_root.clone()?;
    Some(match (method, s) {
        (_, ["git", ..]) => git_cgi(&root, req, body),
        ("GET", ["users", owner]) => HttpResponse::Ok()
            .json(json!({"login": owner, "type": if owner.starts_with("u-") { "User" } else { "Organization" }})),
        ("POST", ["orgs", _, "repos"] | ["user", "repos"]) => {
            let owner = if s[0] == "orgs" { s[1].to_owned() } else { "u-me".to_owned() };
            let name = json_body["name"].as_str().unwrap_or_default().to_owned();
            let full = format!("{owner}/{name}");
            if !create_repo(&root, &full) {
                return Some(HttpResponse::UnprocessableEntity().json(json!({"message": "Repository creation failed.",
                    "errors": [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]})));
            }
            HttpResponse::Created().json(github_repo(
                &owner,
                &name,
                json!({
                "clone_url": format!("{base}/git/{full}.git"), "html_url": format!("{base}/{full}"),
                "private": json_body["private"], "description": json_body["description"]}),
            ))
        }
        ("GET", [owner, repo, "blob", branch, rest @ ..]) if root.join(format!("{owner}/{repo}.git")).exists() => {
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(root.join(format!("{owner}/{repo}.git")))
                .args(["show", &format!("{branch}:{}", rest.join("/"))])
                .output()
                .unwrap();
            if out.status.success() { HttpResponse::Ok().body(out.stdout) } else { not_found() }
        }
        ("PUT", ["repos", _, _, "topics"]) => HttpResponse::Ok().json(json!({"names": json_body["names"]})),
        ("POST", ["repos", _, _, "actions", "workflows", _, "dispatches"]) => HttpResponse::NoContent().finish(),
        ("GET", ["api", "v4", "namespaces", ns]) => {
            let id = match st.namespaces.iter().position(|n| n == ns) {
                Some(i) => i,
                None => {
                    st.namespaces.push((*ns).to_owned());
                    st.namespaces.len() - 1
                }
            };
            HttpResponse::Ok().json(json!({"id": id + 100, "full_path": ns, "kind": "group"}))
        }
        ("POST", ["api", "v4", "projects"]) => {
            let i = json_body["namespace_id"].as_u64().unwrap_or(0) as usize;
            let Some(ns) = st.namespaces.get(i.wrapping_sub(100)).cloned() else {
                return Some(HttpResponse::BadRequest().json(json!({"message": {"namespace": ["is not valid"]}})));
            };
            let path = json_body["path"].as_str().unwrap_or_default();
            let full = format!("{ns}/{path}");
            if !create_repo(&root, &full) {
                return Some(HttpResponse::BadRequest().json(json!({"message": {"name": ["has already been taken"]}})));
            }
            HttpResponse::Created().json(gitlab_project(
                500,
                &full,
                json!({
                "http_url_to_repo": format!("{base}/git/{full}.git"), "web_url": format!("{base}/{full}")}),
            ))
        }
        _ => return None,
    })
}

async fn serve(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
    port: web::Data<u16>,
) -> HttpResponse {
    let uri = req.uri().to_string();
    let token = req
        .headers()
        .get("authorization")
        .or_else(|| req.headers().get("private-token"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query: BTreeMap<String, String> =
        url::Url::parse(&format!("http://x{uri}")).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default();
    let raw_path = req.uri().path().to_owned();
    let segs: Vec<String> = raw_path.trim_start_matches('/').split('/').map(decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let own = format!("http://127.0.0.1:{}", port.get_ref());
    let base = state.lock().unwrap().link_base.clone().unwrap_or(own);
    let slow = state.lock().unwrap().slow.clone().filter(|(m, _)| uri.contains(m.as_str()));
    if let Some((_, delay)) = slow {
        tokio::time::sleep(delay).await;
    }
    let mut st = state.lock().unwrap();
    let res = if let Some(r) = serve_writes(&mut st, &req, &s, &body, &base) {
        r
    } else if st.rate_limit_once.as_deref().is_some_and(|m| uri.contains(m)) {
        st.rate_limit_once = None;
        let reset = chrono::Utc::now().timestamp() + 1;
        HttpResponse::Forbidden()
            .insert_header(("x-ratelimit-limit", "5000"))
            .insert_header(("x-ratelimit-remaining", "0"))
            .insert_header(("x-ratelimit-reset", reset.to_string()))
            .insert_header(("retry-after", "1"))
            .json(json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}))
    } else if let Some((_, code)) = st.fail.as_ref().filter(|(m, _)| uri.contains(m.as_str())) {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(*code).unwrap())
            .json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}))
    } else {
        match s.as_slice() {
            // GitHub: GET /orgs/{org}/repos?per_page=&page=
            ["orgs", org, "repos"] => {
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let size = st.page_size.max(1);
                let all: Vec<Value> =
                    st.github.iter().filter(|r| r["owner"]["login"].as_str() == Some(*org)).cloned().collect();
                let pages = all.len().div_ceil(size).max(1);
                let items: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
                let link = |p: usize| format!("{base}/orgs/{org}/repos?per_page=100&type=all&page={p}");
                let mut links = Vec::new();
                if page < pages {
                    links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
                    links.push(format!("<{}>; rel=\"last\"", link(pages)));
                }
                if page > 1 {
                    links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
                    links.push(format!("<{}>; rel=\"first\"", link(1)));
                }
                let mut r = HttpResponse::Ok();
                r.insert_header(("x-ratelimit-remaining", "4999"));
                if !links.is_empty() {
                    r.insert_header(("link", links.join(", ")));
                }
                r.json(items)
            }
            // GitHub: GET /repos/{owner}/{repo}/compare/{base}...{head}: the commits after base
            // up to head, oldest first, in GitHub's shape (trimmed).
            ["repos", owner, repo, "compare", range] => {
                let full = format!("{owner}/{repo}");
                let history = st.commits.get(&full).cloned().unwrap_or_default();
                let (from, to) = range.split_once("...").unwrap_or((*range, ""));
                let at = |sha: &str| history.iter().position(|(s, _)| s == sha);
                match (at(from), at(to)) {
                    (Some(b), Some(h)) if b <= h => {
                        let commits: Vec<Value> = history[b + 1..=h]
                            .iter()
                            .map(|(sha, date)| {
                                json!({
                                    "sha": sha,
                                    "node_id": "C_kwDOAAAA",
                                    "url": format!("{base}/repos/{full}/commits/{sha}"),
                                    "commit": {
                                        "author": {"name": "Monalisa Octocat", "email": "octocat@github.com", "date": date},
                                        "committer": {"name": "GitHub", "email": "noreply@github.com", "date": date},
                                        "message": format!("Change {sha}"),
                                    },
                                })
                            })
                            .collect();
                        HttpResponse::Ok().json(json!({
                            "status": "ahead", "ahead_by": commits.len(), "behind_by": 0,
                            "total_commits": commits.len(), "commits": commits, "files": [],
                        }))
                    }
                    _ => HttpResponse::NotFound().json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits"})),
                }
            }
            // GitHub: GET /repos/{owner}/{repo}/contents/{path}?ref=
            ["repos", owner, repo, "contents", path @ ..] => {
                let full = format!("{owner}/{repo}");
                let branch = query.get("ref").cloned().unwrap_or_default();
                let path = path.join("/");
                match st.file(&full, &branch, &path) {
                    Some(content) => {
                        use base64::Engine;
                        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
                        HttpResponse::Ok().json(json!({
                            "type": "file", "encoding": "base64", "size": content.len(), "name": name, "path": path,
                            "content": base64::engine::general_purpose::STANDARD.encode(&content),
                            "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
                            "download_url": format!("{base}/raw/{full}/{branch}/{path}"),
                            "html_url": format!("https://github.com/{full}/blob/{branch}/{path}"),
                        }))
                    }
                    None => not_found(),
                }
            }
            // GitHub: GET /repos/{owner}/{repo}/git/trees/{branch}?recursive=1
            ["repos", owner, repo, "git", "trees", branch] => {
                let full = format!("{owner}/{repo}");
                let tree: Vec<Value> = st
                    .paths(&full, branch)
                    .into_iter()
                    .map(|p| json!({"path": p, "mode": "100644", "type": "blob", "sha": "a1b2c3", "size": 10}))
                    .collect();
                if tree.is_empty() {
                    not_found()
                } else {
                    HttpResponse::Ok().json(
                        json!({"sha": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312", "tree": tree, "truncated": false}),
                    )
                }
            }
            // GitHub raw: /raw/{owner}/{repo}/{branch}/{path}
            ["raw", owner, repo, branch, path @ ..] => {
                match st.file(&format!("{owner}/{repo}"), branch, &path.join("/")) {
                    Some(body) => HttpResponse::Ok().content_type("text/plain").body(body),
                    None => HttpResponse::NotFound().body("404: Not Found"),
                }
            }
            // GitLab: GET /api/v4/groups/{group}/projects?include_subgroups=true&per_page=&page=
            ["api", "v4", "groups", group, "projects"] => {
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let size = st.page_size.max(1);
                let subgroups = query.get("include_subgroups").is_some_and(|v| v == "true");
                let prefix = format!("{group}/");
                let all: Vec<Value> = st
                    .gitlab
                    .iter()
                    .filter(|p| {
                        let path = p["path_with_namespace"].as_str().unwrap_or_default();
                        path.strip_prefix(&prefix).is_some_and(|rest| subgroups || !rest.contains('/'))
                    })
                    .cloned()
                    .collect();
                let pages = all.len().div_ceil(size).max(1);
                let items: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
                let next = if page < pages { (page + 1).to_string() } else { String::new() };
                HttpResponse::Ok()
                    .insert_header(("x-page", page.to_string()))
                    .insert_header(("x-per-page", size.to_string()))
                    .insert_header(("x-total-pages", pages.to_string()))
                    .insert_header(("x-next-page", next))
                    .json(items)
            }
            // GitLab: GET /api/v4/projects/{id}/repository/files/{path}?ref=
            ["api", "v4", "projects", id, "repository", "files", path] => {
                let branch = query.get("ref").cloned().unwrap_or_default();
                let project = st.gitlab_project(id);
                let full = project.as_ref().and_then(|p| p["path_with_namespace"].as_str()).unwrap_or_default();
                match st.file(full, &branch, path) {
                    Some(content) => {
                        use base64::Engine;
                        HttpResponse::Ok().json(json!({
                            "file_name": path.rsplit('/').next(), "file_path": path, "size": content.len(),
                            "encoding": "base64", "ref": branch,
                            "content": base64::engine::general_purpose::STANDARD.encode(&content),
                            "blob_id": "79f7bbd25901e8334750839545a9bd021f0e4c83",
                        }))
                    }
                    None => HttpResponse::NotFound().json(json!({"message": "404 File Not Found"})),
                }
            }
            // GitLab: GET /api/v4/projects/{id}/repository/tree?recursive=true&ref=
            ["api", "v4", "projects", id, "repository", "tree"] => {
                let branch = query.get("ref").cloned().unwrap_or_default();
                let project = st.gitlab_project(id);
                let full = project.as_ref().and_then(|p| p["path_with_namespace"].as_str()).unwrap_or_default();
                let tree: Vec<Value> = st
                    .paths(full, &branch)
                    .into_iter()
                    .map(|p| json!({"id": "a1b2c3", "name": p.rsplit('/').next(), "type": "blob", "path": p, "mode": "100644"}))
                    .collect();
                HttpResponse::Ok().insert_header(("x-next-page", "")).json(tree)
            }
            // GitLab: GET /api/v4/projects/{id}
            ["api", "v4", "projects", id] => match st.gitlab_project(id) {
                Some(p) => HttpResponse::Ok().json(p),
                None => HttpResponse::NotFound().json(json!({"message": "404 Project Not Found"})),
            },
            // GitLab raw: /{namespace...}/{project}/-/raw/{branch}/{path}
            _ if s.contains(&"-") => {
                let i = s.iter().position(|x| *x == "-").unwrap();
                match (s.get(i + 1), s.get(i + 2)) {
                    (Some(&"raw"), Some(branch)) => {
                        let full = s[..i].join("/");
                        match st.file(&full, branch, &s[i + 3..].join("/")) {
                            Some(body) => HttpResponse::Ok().content_type("text/plain").body(body),
                            None => HttpResponse::NotFound().body("not found"),
                        }
                    }
                    _ => HttpResponse::NotFound().finish(),
                }
            }
            _ => HttpResponse::NotFound().finish(),
        }
    };
    st.hits.push(Hit { uri, status: res.status().as_u16(), at: Instant::now(), token });
    res
}

impl FakeGit {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State { page_size: 100, ..Default::default() }));
        let data = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let port_data = web::Data::new(port);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(port_data.clone())
                .app_data(web::PayloadConfig::new(64 << 20))
                .default_service(web::to(serve))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { port, state }
    }

    /// Lets clients create repositories (real bare git repositories under `root`) and push.
    pub fn with_git(&self, root: &std::path::Path) {
        self.state.lock().unwrap().git_root = Some(root.to_path_buf());
    }

    /// The files of a pushed repository's branch, read back with git: path -> content.
    pub fn repo_files(&self, full: &str, branch: &str) -> BTreeMap<String, String> {
        let root = self.state.lock().unwrap().git_root.clone().expect("with_git first");
        let dir = root.join(format!("{full}.git"));
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git").arg("--git-dir").arg(&dir).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        git(&["ls-tree", "-r", "--name-only", branch])
            .lines()
            .map(|p| (p.to_owned(), git(&["show", &format!("{branch}:{p}")])))
            .collect()
    }

    /// The JSON bodies POSTed or PUT to paths containing `needle`.
    pub fn posted(&self, needle: &str) -> Vec<Value> {
        self.state.lock().unwrap().posted.iter().filter(|(p, _)| p.contains(needle)).map(|(_, b)| b.clone()).collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Makes GitHub's `Link` headers point at `base` (another host) instead of this server.
    pub fn set_link_base(&self, base: &str) {
        self.state.lock().unwrap().link_base = Some(base.to_owned());
    }

    pub fn set_page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n;
    }

    pub fn rate_limit_once(&self, uri_contains: &str) {
        self.state.lock().unwrap().rate_limit_once = Some(uri_contains.to_owned());
    }

    pub fn slow(&self, uri_contains: &str, delay: std::time::Duration) {
        self.state.lock().unwrap().slow = Some((uri_contains.to_owned(), delay));
    }

    pub fn fail(&self, uri_contains: &str, status: u16) {
        self.state.lock().unwrap().fail = Some((uri_contains.to_owned(), status));
    }

    pub fn github_repos(&self, repos: Vec<Value>) {
        self.state.lock().unwrap().github = repos;
    }

    pub fn gitlab_projects(&self, projects: Vec<Value>) {
        self.state.lock().unwrap().gitlab = projects;
    }

    pub fn file(&self, full_name: &str, branch: &str, path: &str, body: &str) {
        self.state.lock().unwrap().files.insert(key(full_name, branch, path), body.to_owned());
    }

    pub fn remove_file(&self, full_name: &str, branch: &str, path: &str) {
        self.state.lock().unwrap().files.remove(&key(full_name, branch, path));
    }

    /// Sets a repository's commit history, oldest first: (sha, authored at, RFC 3339).
    pub fn commits(&self, full_name: &str, history: &[(&str, &str)]) {
        self.state
            .lock()
            .unwrap()
            .commits
            .insert(full_name.to_owned(), history.iter().map(|(s, d)| (s.to_string(), d.to_string())).collect());
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    pub fn hits_matching(&self, needle: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.uri.contains(needle)).collect()
    }
}

/// A repository object as GitHub's REST API lists it (`GET /orgs/{org}/repos`).
pub fn github_repo(org: &str, name: &str, extra: Value) -> Value {
    let mut repo = json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": format!("{org}/{name}"),
        "owner": {"login": org, "id": 1, "type": "Organization", "site_admin": false},
        "private": false,
        "html_url": format!("https://github.com/{org}/{name}"),
        "description": "This your first repo!",
        "fork": false,
        "url": format!("https://api.github.com/repos/{org}/{name}"),
        "default_branch": "main",
        "archived": false,
        "disabled": false,
        "visibility": "public",
        "topics": ["backstage"],
        "pushed_at": "2011-01-26T19:06:43Z",
        "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:14:43Z",
    });
    if let (Some(r), Some(e)) = (repo.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    repo
}

/// A project object as GitLab's REST API lists it (`GET /groups/{id}/projects`).
pub fn gitlab_project(id: u64, path_with_namespace: &str, extra: Value) -> Value {
    let (namespace, path) = path_with_namespace.rsplit_once('/').unwrap();
    let mut p = json!({
        "id": id,
        "description": null,
        "name": path,
        "name_with_namespace": path_with_namespace.replace('/', " / "),
        "path": path,
        "path_with_namespace": path_with_namespace,
        "created_at": "2013-09-30T13:46:02Z",
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": format!("git@gitlab.example.com:{path_with_namespace}.git"),
        "http_url_to_repo": format!("https://gitlab.example.com/{path_with_namespace}.git"),
        "web_url": format!("https://gitlab.example.com/{path_with_namespace}"),
        "visibility": "internal",
        "archived": false,
        "empty_repo": false,
        "namespace": {"id": 3, "name": namespace, "path": namespace, "kind": "group", "full_path": namespace},
    });
    if let (Some(r), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    p
}
