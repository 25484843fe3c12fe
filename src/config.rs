//! The settings of the server itself: `[server]`, `[database]` and `[auth]` (sign-in, tokens,
//! who may do what). Each domain owns its own section's settings in its folder, and the combined
//! file is read by `crate::settings`; this module names no domain.
//!
//! Every key is documented in docs/configuration.md and shown in `portolan.example.toml`.

use std::path::PathBuf;

use serde::Deserialize;

pub use crate::secret::Secret;

/// The read cache's default size, in MiB.
pub const DEFAULT_READ_CACHE_MIB: usize = 32;

/// Guest mode: on without an `[auth]` section, else only when written.
pub fn guest(auth: Option<&AuthSettings>) -> bool {
    auth.is_none_or(|a| a.guest.unwrap_or(false))
}

/// Anonymous reads: on without an `[auth]` section (or in guest mode), else only when written.
pub fn anonymous_read(auth: Option<&AuthSettings>) -> bool {
    guest(auth) || auth.is_none_or(|a| a.anonymous_read.unwrap_or(false))
}

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

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:7007".into(),
            log_format: "text".into(),
            workers: 0,
            max_body_bytes: 4 * 1024 * 1024,
            read_cache: true,
            read_cache_mib: DEFAULT_READ_CACHE_MIB,
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
