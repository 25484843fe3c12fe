//! Configuration: a TOML file (`--config` / `PORTOLAN_CONFIG`), then environment variables and
//! command-line flags on top, with working defaults for everything.
//!
//! Every key is documented in README.md and shown in `portolan.example.toml`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::catalog::facade::OrphanStrategy;
use crate::catalog::fetch::{AllowRule, ReadSettings, default_allow};

/// All settings, as read from the file with defaults filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub catalog: CatalogSettings,
    pub reading: ReadingSettings,
    pub integrations: IntegrationSettings,
    /// `[[providers.github]]`, `[[providers.gitlab]]`: organisations and groups to discover.
    pub providers: crate::discovery::DiscoverySettings,
    /// `[webhooks]`: the shared secrets of push webhooks.
    pub webhooks: crate::discovery::PushSettings,
    pub governance: GovernanceSettings,
    /// `None` when the file has no `[auth]` section: guest mode.
    pub auth: Option<AuthSettings>,
    /// `[offerings]`: descriptor grace period, gateway batching.
    pub offerings: crate::offerings::OfferingSettings,
    /// `[[notifications.webhooks]]`: where subscription and key events are posted.
    pub notifications: crate::offerings::NotificationSettings,
    /// `[usage]`: consumption intake and retention.
    pub usage: crate::usage::UsageSettings,
}

/// Governance rules: `[governance.rules.<rule-id>] enabled = bool, severity = "error"|"warning"|"info"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernanceSettings {
    pub rules: std::collections::BTreeMap<String, crate::governance::rules::RuleSetting>,
}

pub use crate::secret::Secret;

/// `[auth]`: sign-in, tokens and who may do what.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// A request without credentials acts as a guest who may do everything. Unset: false.
    pub guest: Option<bool>,
    /// Anonymous callers may read. Unset: false.
    pub anonymous_read: Option<bool>,
    /// Refs of admin users and groups (`user:default/jane`, `group:default/platform`).
    pub admins: Vec<String>,
    /// A signed-in person with no User entity: `deny` (a 403 at sign-in) or `reader`.
    pub unmapped: UnmappedPolicy,
    /// Count the parents of the user's groups (`spec.parent`, transitively) as ownership refs.
    pub parent_groups: bool,
    /// The address browsers reach portolan at, for the callback URL (default: from the request).
    pub base_url: Option<String>,
    pub providers: std::collections::BTreeMap<String, SignInProviderSettings>,
    pub tokens: TokenSettings,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnmappedPolicy {
    #[default]
    Deny,
    Reader,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    Oidc,
    Github,
}

/// `[auth.providers.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInProviderSettings {
    #[serde(rename = "type")]
    pub kind: ProviderType,
    /// OIDC: the issuer; its discovery document is read on first sign-in.
    #[serde(default)]
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    /// Default: `openid email profile` (OIDC), `read:user user:email` (GitHub).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A User annotation whose value is the person's login (e.g. `github.com/user-login`).
    #[serde(default)]
    pub user_annotation: Option<String>,
    /// Overrides `auth.base_url` for this provider's callback.
    #[serde(default)]
    pub redirect_base_url: Option<String>,
    /// GitHub: the web and API addresses (GitHub Enterprise). Default github.com.
    #[serde(default)]
    pub github_url: Option<String>,
    #[serde(default)]
    pub github_api_url: Option<String>,
    /// How a signed-in person is matched to a catalog User.
    #[serde(default)]
    pub sign_in: SignInSettings,
}

/// `[auth.providers.<name>.sign_in]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInSettings {
    /// Backstage's resolver names, tried in order. Empty: `userAnnotation` (when
    /// `user_annotation` is set), then `emailMatchingUserEntityProfileEmail`.
    pub resolvers: Vec<SignInResolver>,
}

/// One way of matching a person to a User entity (named as Backstage names its resolvers).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SignInResolver {
    /// The person's verified email equals the User's `spec.profile.email` (case-insensitive).
    EmailMatchingUserEntityProfileEmail,
    /// `user:default/<local part of the email>`.
    EmailLocalPartMatchingUserEntityName,
    /// `user:default/<login>` (OIDC `preferred_username`, GitHub login).
    UsernameMatchingUserEntityName,
    /// The User whose `user_annotation` annotation equals the login.
    UserAnnotation,
}

/// `[auth.tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// HS256 keys: the first signs, all verify (rotation). Empty: a temporary key.
    pub signing_keys: Vec<Secret>,
    /// Lifetime of the access token, in seconds.
    pub ttl_secs: u64,
    /// Lifetime of the refresh cookie, in seconds.
    pub refresh_ttl_secs: u64,
    /// Service tokens from config (hashed at load).
    pub service: Vec<ConfigServiceToken>,
    /// The longest lifetime a service token made through the API may ask for (`expiresInDays`).
    pub max_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigServiceToken {
    pub name: String,
    pub token: Secret,
    pub scopes: Vec<String>,
    /// RFC 3339; none: no expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            signing_keys: Vec::new(),
            ttl_secs: 900,
            refresh_ttl_secs: 7 * 24 * 3600,
            service: Vec::new(),
            max_days: 365,
        }
    }
}

impl Settings {
    /// Guest mode: on without an `[auth]` section, else only when written.
    pub fn guest(&self) -> bool {
        self.auth.as_ref().is_none_or(|a| a.guest.unwrap_or(false))
    }

    /// Anonymous reads: on without an `[auth]` section (or in guest mode), else only when written.
    pub fn anonymous_read(&self) -> bool {
        self.guest() || self.auth.as_ref().is_none_or(|a| a.anonymous_read.unwrap_or(false))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// `text` or `json`.
    pub log_format: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve repeated reads from memory (dropped on every change; other instances' changes are
    /// seen within 250 ms).
    pub read_cache: bool,
    /// The most memory the read cache holds, in MiB; past it, it starts over.
    pub read_cache_mib: usize,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish before their
    /// connections are closed.
    pub shutdown_timeout_secs: u64,
    /// Guest mode: host names (or addresses) besides loopback ones a request's `Host` may name;
    /// any other is refused (421), so a DNS-rebinding name cannot reach the portal.
    pub allowed_hosts: Vec<String>,
    /// `/metrics` answers anyone. Off: it needs credentials when anonymous reads are off.
    pub metrics_public: bool,
    /// The longest a request body may take to arrive, in seconds; a slower one is cut off with 408.
    pub body_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://...`, `sqlite://path` or a path. Empty: `<data_dir>/portolan.db`.
    pub url: String,
    /// Holds the default SQLite file.
    pub data_dir: PathBuf,
    pub pool_size: u32,
    /// SQLite's page cache per pooled connection, in MiB.
    pub sqlite_cache_mib: u32,
    /// A reader's query (a page, a count, facets) is cancelled after this many milliseconds
    /// and answered 503 `query_timeout`; 0: never.
    pub read_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StaticLocation {
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSettings {
    /// Descriptor files or folders loaded at start (every `.yaml`, `.yml`, `.json` inside).
    pub paths: Vec<PathBuf>,
    /// Further locations registered at start.
    pub locations: Vec<StaticLocation>,
    /// How often every location is re-read, in seconds (with up to 10% jitter).
    pub refresh_interval_secs: u64,
    /// How long an instance's claim on a location lasts; a crashed instance's claim is taken
    /// over after this.
    pub lease_secs: u64,
    /// `delete` (default) or `keep` (marks `backstage.io/orphan: "true"`).
    pub orphan_strategy: OrphanStrategy,
    /// Kinds accepted beyond the built-in ones, checked against the envelope only.
    pub extra_kinds: Vec<String>,
    /// How long change-feed events are kept, in days (0 keeps them forever).
    pub events_retention_days: u64,
    /// `$text`, `$json` and `$yaml` placeholders of start-up files (`paths`, `--catalog`,
    /// `[[catalog.locations]]`) may read local files anywhere; by default only inside the folder
    /// the file was loaded from.
    pub placeholders_anywhere: bool,
    /// A start-up load into an empty catalog builds the search and relation indexes once at
    /// the end instead of row by row.
    pub defer_indexes: bool,
    /// Which kinds locations registered through the API or by discovery may hold
    /// (`[[catalog.rules]]`); empty: Component, System, API, Resource and Location.
    pub rules: Vec<crate::catalog::rules::RuleSetting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingSettings {
    /// Hosts URL locations may be read from. Default: github.com, raw.githubusercontent.com, gitlab.com.
    pub allow: Vec<AllowRule>,
    /// Folders that `file` locations registered through the API must resolve into.
    pub file_roots: Vec<PathBuf>,
    pub max_bytes: usize,
    pub timeout_secs: u64,
    pub max_redirects: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrationSettings {
    pub github_token: Option<String>,
    pub gitlab_token: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:7007".into(),
            log_format: "text".into(),
            workers: 0,
            max_body_bytes: 4 * 1024 * 1024,
            read_cache: true,
            read_cache_mib: crate::catalog::cache::DEFAULT_MIB,
            shutdown_timeout_secs: 30,
            allowed_hosts: Vec::new(),
            metrics_public: false,
            body_timeout_secs: 30,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            data_dir: PathBuf::from("./data"),
            pool_size: 8,
            sqlite_cache_mib: crate::db::DEFAULT_SQLITE_CACHE_MIB,
            read_timeout_ms: crate::db::read::DEFAULT_READ_TIMEOUT_MS,
        }
    }
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            paths: vec![PathBuf::from("catalog-info")],
            locations: Vec::new(),
            refresh_interval_secs: 300,
            lease_secs: 120,
            orphan_strategy: OrphanStrategy::Delete,
            extra_kinds: Vec::new(),
            events_retention_days: 30,
            placeholders_anywhere: false,
            defer_indexes: true,
            rules: Vec::new(),
        }
    }
}

impl Default for ReadingSettings {
    fn default() -> Self {
        Self {
            allow: default_allow(),
            file_roots: Vec::new(),
            max_bytes: crate::catalog::descriptor::MAX_FILE_BYTES,
            timeout_secs: 20,
            max_redirects: 5,
        }
    }
}

impl Settings {
    /// Reads the file if one is named; defaults otherwise.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::default()),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("in config file {}", p.display()))
            }
        }
    }

    /// The database URL to use: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.database.data_dir.join("portolan.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn read_settings(&self) -> ReadSettings {
        // Provider-discovered files are readable without listing their hosts by hand.
        let mut allow = self.reading.allow.clone();
        allow.extend(crate::discovery::reading_rules(&self.providers));
        ReadSettings {
            allow,
            max_bytes: self.reading.max_bytes,
            timeout: std::time::Duration::from_secs(self.reading.timeout_secs.max(1)),
            max_redirects: self.reading.max_redirects,
            github_token: self.integrations.github_token.clone(),
            gitlab_token: self.integrations.gitlab_token.clone(),
            host_tokens: crate::discovery::reading_tokens(&self.providers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let s: Settings = toml::from_str("").unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:7007");
        assert!(s.database_url().ends_with("data/portolan.db"));
    }

    #[test]
    fn no_auth_section_means_guest_mode_and_a_section_means_closed() {
        let s: Settings = toml::from_str("").unwrap();
        assert!(s.guest() && s.anonymous_read());
        let s: Settings = toml::from_str("[auth]\nadmins = [\"user:default/a\"]").unwrap();
        assert!(!s.guest() && !s.anonymous_read());
        let s: Settings = toml::from_str("[auth]\nanonymous_read = true").unwrap();
        assert!(!s.guest() && s.anonymous_read());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s: Settings = toml::from_str(
            "[auth.providers.corp]\ntype = \"oidc\"\nissuer = \"https://id\"\nclient_id = \"c\"\nclient_secret = \"s3cr3t-value\"\n\
             [auth.tokens]\nsigning_keys = [\"k3y-value\"]\n",
        )
        .unwrap();
        let text = format!("{s:?}");
        assert!(!text.contains("s3cr3t-value") && !text.contains("k3y-value"), "{text}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Settings>("[server]\nbnid = \"x\"").is_err());
    }

    #[test]
    fn locations_and_allow_rules_read_as_documented() {
        let s: Settings = toml::from_str(
            "[catalog]\norphan_strategy = \"keep\"\n[[catalog.locations]]\ntype = \"url\"\ntarget = \"https://x/y.yaml\"\n\
             [[reading.allow]]\nhost = \"*.example.com\"\npaths = [\"/org/\"]\n",
        )
        .unwrap();
        assert_eq!(s.catalog.orphan_strategy, OrphanStrategy::Keep);
        assert_eq!(s.catalog.locations[0].kind, "url");
        assert_eq!(s.reading.allow[0].paths.as_deref(), Some(&["/org/".to_string()][..]));
    }

    #[test]
    fn governance_rules_read_as_documented() {
        let s: Settings = toml::from_str(
            "[governance.rules.owner-unknown]\nseverity = \"error\"\n[governance.rules.dangling-reference]\nenabled = false\n",
        )
        .unwrap();
        let cfg = crate::governance::rules::RuleConfig::new(&s.governance.rules).unwrap();
        assert!(!cfg.enabled("dangling-reference"));
        assert_eq!(cfg.severity("owner-unknown"), crate::governance::rules::Severity::Error);
        assert!(toml::from_str::<Settings>("[governance.rules.x]\nlevel = 1\n").is_err());
    }
}
