//! The HTTP client of the host APIs (GitHub, GitLab): tokens, retries with backoff and waits
//! for rate limits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

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

/// The pagination link a host API answered, when it stays on the API base's scheme, host and
/// port (compared as parsed URLs, not as text): the token goes with every request, so a link
/// anywhere else is an error, never followed.
pub fn same_origin_link(base: &str, link: &str) -> anyhow::Result<url::Url> {
    let base_url = url::Url::parse(base).with_context(|| format!("invalid base URL {base:?}"))?;
    let next = url::Url::parse(link)
        .map_err(|e| anyhow::anyhow!("the API answered a next-page link that is not a URL ({link:?}: {e})"))?;
    let origin = |u: &url::Url| (u.scheme().to_owned(), u.host_str().map(str::to_owned), u.port_or_known_default());
    if origin(&next) != origin(&base_url) || next.host_str().is_none() {
        bail!(
            "the API answered a next-page link to {}://{} outside the configured API base {base}; \
             not followed, so the token is sent nowhere else",
            next.scheme(),
            next.host_str()
                .map(|h| match next.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
                .unwrap_or_default()
        );
    }
    Ok(next)
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

    #[test]
    fn next_page_links_are_followed_only_on_the_api_bases_scheme_host_and_port() {
        let base = "https://api.github.com";
        assert!(same_origin_link(base, "https://api.github.com/organizations/1/repos?page=2").is_ok());
        assert!(same_origin_link(base, "https://api.github.com:443/x").is_ok());
        let local = "http://127.0.0.1:8080/api/v3";
        assert!(same_origin_link(local, "http://127.0.0.1:8080/api/v3/orgs/a/repos?page=2").is_ok());
        for bad in [
            "https://api.github.com.evil.example/x",
            "https://api.github.com@evil.example/x",
            "http://api.github.com/x",
            "https://api.github.com:8443/x",
            "https://evil.example/api.github.com",
            "/relative?page=2",
            "mailto:x@api.github.com",
        ] {
            let err = same_origin_link(base, bad).unwrap_err().to_string();
            assert!(err.contains("not followed") || err.contains("not a URL"), "{bad}: {err}");
        }
        for bad in ["http://127.0.0.1:8080@127.0.0.2:9/x", "http://127.0.0.1:80801/x", "http://127.0.0.1/x"] {
            assert!(same_origin_link(local, bad).is_err(), "{bad}");
        }
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
