//! The catalog's settings: `[catalog]`, `[reading]` (where locations may be read from) and
//! `[integrations]` (tokens for reading from GitHub and GitLab).

use std::path::PathBuf;

use serde::Deserialize;

use super::fetch::{AllowRule, default_allow};
use super::store::OrphanStrategy;

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
    pub rules: Vec<super::rules::RuleSetting>,
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
