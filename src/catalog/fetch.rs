//! Reading descriptor targets: local files (globs allowed) and http(s) URLs, safely.
//!
//! URL reads go through one reqwest client with a timeout, a size cap and a redirect limit. A
//! host must be on the allowlist, and no private, loopback or link-local address is reached unless
//! its host is allowed explicitly: names are checked when they resolve (so a redirect or a DNS
//! answer cannot smuggle one in) and IP literals before every request and redirect.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::ingest::absolute;

/// One allowed host: `example.com`, `*.example.com` or `127.0.0.1:8080`, optionally limited to
/// path prefixes (Backstage's `reading.allow` shape).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    pub host: String,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

/// Limits and rules for reading.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub allow: Vec<AllowRule>,
    pub max_bytes: usize,
    pub timeout: Duration,
    pub max_redirects: usize,
    pub github_token: Option<String>,
    pub gitlab_token: Option<String>,
    /// Bearer tokens for further hosts, each limited by its rule (a provider's token for the
    /// raw files of its organisation).
    pub host_tokens: Vec<(AllowRule, crate::secret::Secret)>,
}

impl Default for ReadSettings {
    fn default() -> Self {
        Self {
            allow: default_allow(),
            max_bytes: super::descriptor::MAX_FILE_BYTES,
            timeout: Duration::from_secs(20),
            max_redirects: 5,
            github_token: None,
            gitlab_token: None,
            host_tokens: Vec::new(),
        }
    }
}

/// The hosts allowed when configuration names none: the public Git hosts.
pub fn default_allow() -> Vec<AllowRule> {
    ["github.com", "raw.githubusercontent.com", "gitlab.com"]
        .into_iter()
        .map(|h| AllowRule { host: h.into(), paths: None })
        .collect()
}

/// Something to read: a local file or a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Url(Url),
}

impl Target {
    /// The location string Backstage writes in annotations: `file:/abs/path`, `url:https://...`.
    pub fn source(&self) -> String {
        match self {
            Target::File(p) => format!("file:{}", p.display()),
            Target::Url(u) => format!("url:{u}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::File(_) => "file",
            Target::Url(_) => "url",
        }
    }

    /// The target as a location would name it: the absolute path or the URL.
    pub fn raw(&self) -> String {
        match self {
            Target::File(p) => p.display().to_string(),
            Target::Url(u) => u.to_string(),
        }
    }

    /// The file name, which decides between YAML and JSON.
    pub fn name(&self) -> String {
        match self {
            Target::File(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            Target::Url(u) => u.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_owned(),
        }
    }
}

/// The outcome of a conditional read.
#[derive(Debug)]
pub enum Read {
    /// The server answered 304 to our `If-None-Match`.
    NotModified,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
    },
}

/// Reads targets under the configured rules. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    settings: Arc<ReadSettings>,
    client: reqwest::Client,
}

impl Reader {
    pub fn new(settings: ReadSettings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let for_redirects = settings.clone();
        let max_redirects = settings.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            match check_url(&for_redirects, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(format!("redirect refused: {e}")),
            }
        });
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(policy)
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { settings: settings.clone() }))
            .user_agent(concat!("portolan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { settings, client })
    }

    /// Resolves a target string of a location type, relative to the file that names it.
    pub fn target(&self, kind: &str, raw: &str, base: Option<&Target>) -> Result<Target, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("empty target".into());
        }
        if raw.starts_with("http://") || raw.starts_with("https://") {
            let url = Url::parse(raw).map_err(|e| format!("invalid URL {raw}: {e}"))?;
            return Ok(Target::Url(rewrite_git_url(url)));
        }
        match (kind, base) {
            ("url", None) => Err(format!("invalid URL {raw}: a url location needs an absolute http(s) URL")),
            (_, Some(Target::Url(base))) => {
                let url = base.join(raw).map_err(|e| format!("invalid URL {raw} relative to {base}: {e}"))?;
                Ok(Target::Url(url))
            }
            ("file", Some(Target::File(base))) | ("url", Some(Target::File(base))) => {
                let raw_path = raw.strip_prefix("file:").unwrap_or(raw);
                let dir = base.parent().unwrap_or(Path::new("/"));
                Ok(Target::File(absolute(&dir.join(raw_path))))
            }
            ("file", None) => Ok(Target::File(absolute(Path::new(raw.strip_prefix("file:").unwrap_or(raw))))),
            (other, _) => Err(format!("unsupported location type \"{other}\": use \"file\" or \"url\"")),
        }
    }

    /// Expands a glob into the files it matches; other targets stand for themselves.
    pub fn expand(&self, target: &Target) -> Result<Vec<Target>, String> {
        match target {
            Target::File(p) => {
                let s = p.to_string_lossy();
                if !s.contains(['*', '?', '[']) {
                    return Ok(vec![target.clone()]);
                }
                let mut files: Vec<PathBuf> = glob::glob(&s)
                    .map_err(|e| format!("invalid glob {s}: {e}"))?
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                Ok(files.into_iter().map(Target::File).collect())
            }
            Target::Url(_) => Ok(vec![target.clone()]),
        }
    }

    /// Reads a target whole, within the size cap.
    pub async fn read(&self, target: &Target) -> Result<Vec<u8>, String> {
        match target {
            Target::File(p) => read_file(p, self.settings.max_bytes),
            Target::Url(u) => self.read_url(u).await,
        }
    }

    async fn read_url(&self, url: &Url) -> Result<Vec<u8>, String> {
        match self.get(url, None).await? {
            Read::Body { bytes, .. } => Ok(bytes),
            Read::NotModified => Err(format!("GET {url} answered 304 to an unconditional request")),
        }
    }

    /// Reads a target, sending `If-None-Match` for URLs when an ETag is known.
    pub async fn read_conditional(&self, target: &Target, etag: Option<&str>) -> Result<Read, String> {
        match target {
            Target::File(p) => Ok(Read::Body { bytes: read_file(p, self.settings.max_bytes)?, etag: None }),
            Target::Url(u) => self.get(u, etag).await,
        }
    }

    async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Read, String> {
        check_url(&self.settings, url)?;
        let mut req = self.client.get(url.clone());
        if let Some(token) = self.token_for(url) {
            req = req.bearer_auth(token);
        }
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let resp = req.send().await.map_err(describe_reqwest)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Read::NotModified);
        }
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        let etag = resp.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Read::Body { bytes: self.body(resp).await?, etag })
    }

    async fn body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
        let max = self.settings.max_bytes;
        if resp.content_length().is_some_and(|n| n as usize > max) {
            return Err(format!("response is larger than the limit of {max} bytes"));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest)? {
            if out.len() + chunk.len() > max {
                return Err(format!("response is larger than the limit of {max} bytes"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn token_for(&self, url: &Url) -> Option<&str> {
        if let Some((_, token)) = self.settings.host_tokens.iter().find(|(rule, _)| rule_matches(rule, url)) {
            return Some(token.expose());
        }
        match url.host_str()? {
            "raw.githubusercontent.com" | "api.github.com" | "github.com" => self.settings.github_token.as_deref(),
            "gitlab.com" => self.settings.gitlab_token.as_deref(),
            _ => None,
        }
    }

    pub fn settings(&self) -> &ReadSettings {
        &self.settings
    }

    /// Checks a URL against the allowlist and the private-address rule, as every read does (for
    /// other outgoing requests made with [`Reader::client`]).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        check_url(&self.settings, url)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

fn read_file(p: &Path, max: usize) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a directory, not a file", p.display()));
    }
    if meta.len() as usize > max {
        return Err(format!("{} is {} bytes, more than the limit of {max}", p.display(), meta.len()));
    }
    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

pub fn describe_reqwest(e: reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        msg = format!("timed out: {msg}");
    }
    msg
}

/// GitHub and GitLab blob/tree page URLs become raw file reads.
pub fn rewrite_git_url(url: Url) -> Url {
    let host = url.host_str().unwrap_or_default().to_owned();
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    if host == "github.com" && segments.len() > 4 && (segments[2] == "blob" || segments[2] == "tree") {
        let raw =
            format!("https://raw.githubusercontent.com/{}/{}/{}", segments[0], segments[1], segments[3..].join("/"));
        return Url::parse(&raw).unwrap_or(url);
    }
    if let Some(i) = segments.iter().position(|s| *s == "-")
        && segments.get(i + 1).is_some_and(|s| *s == "blob" || *s == "tree")
        && host.contains("gitlab")
    {
        let mut raw = url.clone();
        let mut parts: Vec<&str> = segments.clone();
        parts[i + 1] = "raw";
        raw.set_path(&parts.join("/"));
        return raw;
    }
    url
}

/// A rule's host pattern, parsed: the host (lower case; an IPv6 address without brackets, in
/// its canonical form), the port when one is named, and whether it is a wildcard.
struct HostPattern {
    host: String,
    port: Option<u16>,
    wildcard: bool,
    /// A port was written but is not one (`host:99999`): the rule matches nothing.
    broken: bool,
}

impl HostPattern {
    fn parse(pattern: &str) -> Self {
        let p = pattern.trim().to_ascii_lowercase();
        let (host, port_text) = match p.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((h, tail)) => (h.to_owned(), tail.strip_prefix(':').map(str::to_owned)),
                None => (rest.to_owned(), None),
            },
            None => match p.rsplit_once(':') {
                Some((h, port)) if !h.contains(':') => (h.to_owned(), Some(port.to_owned())),
                _ => (p.clone(), None),
            },
        };
        let port = port_text.as_deref().map(str::parse::<u16>);
        let host = match host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => v6.to_string(),
            Err(_) => host,
        };
        Self {
            wildcard: host == "*" || host.starts_with("*."),
            broken: matches!(port, Some(Err(_))),
            port: port.and_then(Result::ok),
            host,
        }
    }

    /// Does the pattern's host (and port) match this host and port?
    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => self.host == "*" || self.host == host,
        };
        !self.broken && host_ok && self.port.is_none_or(|p| Some(p) == port)
    }
}

/// The URL's host as rules name it: lower case, an IPv6 address without brackets.
fn url_host(url: &Url) -> Option<String> {
    Some(url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

/// Is this host (and port) allowed, and by which rule? A host that a rule names exactly (not
/// through a wildcard) is allowed only by such rules: on the ports they name, so a wildcard
/// rule never opens other ports of a host that was allowed for one.
fn allowed_rule<'a>(settings: &'a ReadSettings, url: &Url) -> Option<&'a AllowRule> {
    let named = url_host(url).is_some_and(|h| names_host(settings, &h));
    settings.allow.iter().find(|rule| rule_matches(rule, url) && !(named && HostPattern::parse(&rule.host).wildcard))
}

/// Does the rule's host (and port, and path prefixes) match the URL?
fn rule_matches(rule: &AllowRule, url: &Url) -> bool {
    let Some(host) = url_host(url) else { return false };
    let path_ok = rule.paths.as_ref().is_none_or(|paths| {
        let path = decoded_path(url);
        paths.iter().any(|p| path.starts_with(p.as_str()))
    });
    HostPattern::parse(&rule.host).matches(&host, url.port_or_known_default()) && path_ok
}

/// The URL's path as a server may understand it: percent-decoded, then with its `.` and `..`
/// segments resolved, so `/catalog/..%2Fsecret.yaml` is checked as `/secret.yaml`.
fn decoded_path(url: &Url) -> String {
    let raw = url.path().as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                bytes.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&bytes).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = decoded.split('/').skip(1).collect();
    for (n, segment) in parts.iter().enumerate() {
        match *segment {
            "." | "" if n + 1 < parts.len() => {}
            ".." => {
                segments.pop();
            }
            "." => segments.push(""),
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Refuses URLs whose scheme, host or literal address is not allowed.
fn check_url(settings: &ReadSettings, url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https URLs can be read"));
    }
    let Some(host) = url.host() else {
        return Err(format!("{url}: no host"));
    };
    if allowed_rule(settings, url).is_none() {
        return Err(format!(
            "{url}: host {} is not in the reading allowlist (configure [[reading.allow]])",
            url.host_str().unwrap_or_default()
        ));
    }
    let literal: Option<IpAddr> = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    // The rule that allowed a private literal names it exactly, port included (see
    // `allowed_rule`); a wildcard never reaches one.
    if let Some(ip) = literal
        && is_private(ip)
        && !names_host(settings, &ip.to_string())
    {
        return Err(format!("{url}: address {ip} is private, loopback or link-local"));
    }
    Ok(())
}

/// True when an allow rule names this exact host (not through a wildcard), on any port. Such a
/// host may resolve to a private address; `allowed_rule` holds it to the named ports.
fn names_host(settings: &ReadSettings, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    settings.allow.iter().any(|r| {
        let p = HostPattern::parse(&r.host);
        !p.wildcard && !p.broken && p.host == host
    })
}

/// Addresses a catalog reader must not reach unless told to: loopback, private, link-local,
/// unspecified, broadcast, multicast, shared (CGNAT), benchmarking (198.18.0.0/15), reserved
/// (240.0.0.0/4), documentation and unique-local ranges. An IPv6 address that carries an IPv4
/// one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) is judged by that IPv4 address; local-use NAT64 (`64:ff9b:1::/48`) always counts.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] & 0xf0) == 240
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        }
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible
/// (`::/96`, which also holds `::` and `::1`, judged as 0.0.0.0 and 0.0.0.1), NAT64's
/// well-known prefix (`64:ff9b::/96`) and 6to4 (`2002::/16`, the address in bits 16 to 48).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let last = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(last);
    }
    (s[0] == 0x2002).then(|| std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]))
}

/// A DNS resolver that drops private answers unless the name is explicitly allowed, so neither a
/// DNS answer nor a redirect reaches an internal address.
struct CheckedResolver {
    settings: Arc<ReadSettings>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let settings = self.settings.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = names_host(&settings, &host);
            let good: Vec<SocketAddr> = addrs.into_iter().filter(|a| allowed || !is_private(a.ip())).collect();
            if good.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves only to private, loopback or link-local addresses").into();
                return Err(err);
            }
            let iter: reqwest::dns::Addrs = Box::new(good.into_iter());
            Ok(iter)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hosts: &[&str]) -> ReadSettings {
        ReadSettings {
            allow: hosts.iter().map(|h| AllowRule { host: (*h).into(), paths: None }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_private("140.82.112.3".parse().unwrap()));
    }

    #[test]
    fn reserved_ranges_and_ipv6_forms_of_private_ipv4_addresses_are_private() {
        for ip in [
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.254",
            // NAT64 (well-known prefix), 6to4 and IPv4-compatible forms of private addresses.
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::",
            "::127.0.0.1",
            "::169.254.169.254",
            "::10.0.0.1",
            "64:ff9b:1::8.8.8.8",
            "2001:db8::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in
            ["198.17.255.255", "198.20.0.1", "239.255.255.250", "64:ff9b::8.8.8.8", "2002:808:808::", "2606:4700::1"]
        {
            let private = is_private(ip.parse().unwrap());
            // 239.255.255.250 is multicast: private; the rest are public.
            assert_eq!(private, ip == "239.255.255.250", "{ip}");
        }
    }

    #[test]
    fn an_allow_rule_for_a_host_holds_only_on_its_port_even_beside_a_wildcard() {
        let s = settings(&["*", "127.0.0.1:8080", "internal.corp:8443", "[::1]:9000"]);
        let check = |u: &str| check_url(&s, &Url::parse(u).unwrap());
        assert!(check("http://127.0.0.1:8080/x.yaml").is_ok());
        assert!(check("http://127.0.0.1:9090/x.yaml").is_err());
        assert!(check("http://127.0.0.1/x.yaml").is_err());
        assert!(check("https://internal.corp:8443/x.yaml").is_ok());
        assert!(check("https://internal.corp/x.yaml").is_err());
        assert!(check("http://[::1]:9000/x.yaml").is_ok());
        assert!(check("http://[::1]:9001/x.yaml").is_err());
        // Other private literals are reached by no rule: the wildcard does not.
        for u in
            ["http://10.0.0.1/", "http://[64:ff9b::7f00:1]/", "http://[::ffff:127.0.0.1]:8080/", "http://0.0.0.0:8080/"]
        {
            assert!(check(u).is_err(), "{u}");
        }
        assert!(check("https://example.org/x.yaml").is_ok());
        // A port that is no port makes the rule match nothing.
        assert!(check_url(&settings(&["127.0.0.1:99999"]), &Url::parse("http://127.0.0.1/").unwrap()).is_err());
    }

    #[tokio::test]
    async fn names_allowed_only_by_a_wildcard_never_resolve_to_private_addresses() {
        use reqwest::dns::Resolve;
        let resolve = |hosts: &[&str]| {
            let r = CheckedResolver { settings: Arc::new(settings(hosts)) };
            r.resolve("localhost".parse().unwrap())
        };
        let err = resolve(&["*", "*.localhost"]).await.err().expect("a wildcard never reaches loopback");
        assert!(err.to_string().contains("private"), "{err}");
        assert!(resolve(&["localhost:8080"]).await.is_ok(), "a rule naming the host lets it resolve");
    }

    #[test]
    fn a_literal_private_address_is_refused_unless_explicitly_allowed() {
        let url = Url::parse("http://127.0.0.1:8080/x.yaml").unwrap();
        assert!(check_url(&settings(&["*.example.com"]), &url).is_err());
        assert!(check_url(&settings(&["127.0.0.1:8080"]), &url).is_ok());
        assert!(check_url(&settings(&["127.0.0.1:9090"]), &url).is_err());
    }

    #[test]
    fn wildcard_hosts_match_subdomains_only() {
        let s = settings(&["*.example.com"]);
        assert!(check_url(&s, &Url::parse("https://git.example.com/a").unwrap()).is_ok());
        assert!(check_url(&s, &Url::parse("https://example.com/a").unwrap()).is_err());
        assert!(check_url(&s, &Url::parse("https://evil.com/a").unwrap()).is_err());
    }

    #[test]
    fn allowed_paths_are_checked_after_decoding_dot_segments() {
        let s = ReadSettings {
            allow: vec![AllowRule { host: "git.example.com".into(), paths: Some(vec!["/catalog/".into()]) }],
            ..Default::default()
        };
        let check = |u: &str| check_url(&s, &Url::parse(u).unwrap());
        assert!(check("https://git.example.com/catalog/a.yaml").is_ok());
        assert!(check("https://git.example.com/catalog/sub/..%2Fb.yaml").is_ok());
        for bad in [
            "https://git.example.com/catalog/..%2Fsecret.yaml",
            "https://git.example.com/catalog/%2E%2E%2Fsecret.yaml",
            "https://git.example.com/catalog/..%5Csecret.yaml",
            "https://git.example.com/catalog/%2e%2e/secret.yaml",
            "https://git.example.com/catalog/a/..%2F..%2F..%2Fsecret.yaml",
            "https://git.example.com/secret.yaml",
        ] {
            assert!(check(bad).unwrap_err().contains("not in the reading allowlist"), "{bad}");
        }
        assert_eq!(decoded_path(&Url::parse("https://h/a/./b/../c/").unwrap()), "/a/c/");
    }

    #[test]
    fn github_blob_urls_become_raw_reads() {
        let u = rewrite_git_url(Url::parse("https://github.com/acme/svc/blob/main/catalog-info.yaml").unwrap());
        assert_eq!(u.as_str(), "https://raw.githubusercontent.com/acme/svc/main/catalog-info.yaml");
        let g = rewrite_git_url(Url::parse("https://gitlab.com/acme/svc/-/blob/main/catalog-info.yaml").unwrap());
        assert_eq!(g.as_str(), "https://gitlab.com/acme/svc/-/raw/main/catalog-info.yaml");
    }
}
