//! The combined settings: every section of the TOML file, each owned by its part (the server,
//! database and sign-in sections by `crate::config`, the catalog's by `crate::catalog::settings`,
//! each domain's by its folder), and the wiring between sections. This is the composition root's
//! view of configuration; `crate::config` names no domain.
//!
//! Every key is documented in docs/configuration.md and shown in `portolan.example.toml`.

use std::path::Path;

use anyhow::Context;

use crate::catalog::fetch::ReadSettings;
pub use crate::startup::{DOMAINS, Settings};

/// Declares the domain list: for each domain, its name, its front door and the TOML sections it
/// owns (`field: Type`, one or more). It generates the combined [`Settings`] (the server's own
/// sections and every domain's) and `DOMAINS`, whose entry hands each front door its sections
/// (one section by reference, several as a tuple of references). `crate::startup` invokes it
/// once: adding a domain is one line there.
macro_rules! domain_list {
    ($( $name:literal => $build:path { $($field:ident : $ty:ty),+ $(,)? } ),* $(,)?) => {
        /// All settings, as read from the file with defaults filled in: the server's own sections
        /// and each domain's (the TOML file's shape; every key in docs/configuration.md).
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Settings {
            pub server: crate::config::ServerSettings,
            pub database: crate::config::DatabaseSettings,
            pub catalog: crate::catalog::settings::CatalogSettings,
            pub reading: crate::catalog::settings::ReadingSettings,
            pub integrations: crate::catalog::settings::IntegrationSettings,
            /// `None` when the file has no `[auth]` section: guest mode.
            pub auth: Option<crate::config::AuthSettings>,
            $( $( pub $field: $ty, )+ )*
        }

        /// The one list of domains built on the catalog, in the order they are built, their
        /// routes registered and their hooks asked: `(name, front door)`.
        pub const DOMAINS: &[(&str, DomainFn)] = &[
            $( ($name, |s: &Settings, shared: &crate::domain::Shared| $build(( $(&s.$field),+ ), shared)), )*
        ];
    };
}
pub(crate) use domain_list;

impl Settings {
    /// Guest mode: on without an `[auth]` section, else only when written.
    pub fn guest(&self) -> bool {
        crate::config::guest(self.auth.as_ref())
    }

    /// Anonymous reads: on without an `[auth]` section (or in guest mode), else only when written.
    pub fn anonymous_read(&self) -> bool {
        crate::config::anonymous_read(self.auth.as_ref())
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
    use crate::catalog::store::OrphanStrategy;

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
