//! Catalog rules (`[[catalog.rules]]`, after Backstage's `catalog.rules`): which kinds a location
//! may hold. Data that anyone may register never grants identity, membership or rights, so by
//! default locations registered through the API and locations found by discovery hold only
//! `Component, System, API, Resource, Location`; `User`, `Group`, `Domain`, `Product`,
//! `Platform`, `Template`, `Scorecard` and `Campaign` come from start-up paths and configured
//! locations (trusted by the operator), or from a location a rule allows them from.
//!
//! Pure: no I/O. Ingestion drops what a rule forbids, and sign-in trusts only Users and Groups
//! whose location may hold them.

use serde::Deserialize;

/// The kinds untrusted locations may hold when no `[[catalog.rules]]` is configured.
pub const DEFAULT_ALLOWED: &[&str] = &["Component", "System", "API", "Resource", "Location"];

/// `*` and `?` stay inside one path segment; `**` crosses segments.
const SEGMENTS: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// One `[[catalog.rules]]` entry as written in the configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting {
    /// Kinds this rule allows (case-insensitive).
    pub allow: Vec<String>,
    /// When given, the rule holds only for these locations; otherwise for every location.
    #[serde(default)]
    pub locations: Option<Vec<RuleLocation>>,
}

/// A location a rule is limited to: its type and target (a glob: `*` and `?` within one path
/// segment, `**` across segments, `[..]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleLocation {
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
}

#[derive(Debug, Clone)]
struct Rule {
    allow: Vec<String>,
    locations: Option<Vec<(String, glob::Pattern)>>,
}

/// Where an entity came from, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// The registered location's origin: `config`, `cli`, `api`, `provider:<type>:<id>`.
    pub origin: &'a str,
    /// The registered location (`file` or `url`, and its target).
    pub location: (&'a str, &'a str),
    /// The file the entity was read from (`file:/abs/path` or `url:https://...`).
    pub source: &'a str,
}

/// The configured rules, ready to check.
#[derive(Debug, Clone)]
pub struct CatalogRules {
    rules: Vec<Rule>,
    configured: bool,
}

impl Default for CatalogRules {
    fn default() -> Self {
        Self::new(&[]).expect("the default rules are valid")
    }
}

impl CatalogRules {
    /// Builds the rules from configuration; none configured means Backstage's default rule.
    /// Configured rules replace the default, as in Backstage.
    pub fn new(settings: &[RuleSetting]) -> anyhow::Result<Self> {
        if settings.is_empty() {
            let allow = DEFAULT_ALLOWED.iter().map(|k| k.to_ascii_lowercase()).collect();
            return Ok(Self { rules: vec![Rule { allow, locations: None }], configured: false });
        }
        let mut rules = Vec::new();
        for (i, s) in settings.iter().enumerate() {
            anyhow::ensure!(!s.allow.is_empty(), "catalog.rules[{i}]: allow lists no kind");
            let locations = match &s.locations {
                None => None,
                Some(list) => {
                    let mut out = Vec::new();
                    for (j, l) in list.iter().enumerate() {
                        let kind = l.kind.to_ascii_lowercase();
                        anyhow::ensure!(
                            kind == "file" || kind == "url",
                            "catalog.rules[{i}].locations[{j}]: type must be \"file\" or \"url\", not {:?}",
                            l.kind
                        );
                        let pattern = glob::Pattern::new(&l.target).map_err(|e| {
                            anyhow::anyhow!("catalog.rules[{i}].locations[{j}]: target is not a valid glob: {}", e.msg)
                        })?;
                        out.push((kind, pattern));
                    }
                    Some(out)
                }
            };
            rules.push(Rule { allow: s.allow.iter().map(|k| k.trim().to_ascii_lowercase()).collect(), locations });
        }
        Ok(Self { rules, configured: true })
    }

    /// Whether an origin is trusted by the operator: start-up paths and `[[catalog.locations]]`
    /// (`config`), and `portolan import` run against the database (`cli`).
    pub fn trusted_origin(origin: &str) -> bool {
        origin == "config" || origin == "cli"
    }

    /// May an entity of `kind` come from there? `Err` says why not, for the location's errors.
    pub fn check(&self, kind: &str, from: Provenance<'_>) -> Result<(), String> {
        if Self::trusted_origin(from.origin) || self.allows(kind, from) {
            return Ok(());
        }
        let whence = if from.origin == "api" {
            "locations registered through the API".to_owned()
        } else if let Some(provider) = from.origin.strip_prefix("provider:") {
            format!("locations found by discovery ({provider})")
        } else {
            format!("locations of origin {}", from.origin)
        };
        let default = if self.configured {
            ""
        } else {
            " (the default allows only Component, System, API, Resource and Location)"
        };
        Err(format!("kind {kind} is not allowed from {whence}{default}; see catalog.rules"))
    }

    fn allows(&self, kind: &str, from: Provenance<'_>) -> bool {
        let kind = kind.to_ascii_lowercase();
        let (source_kind, source_target) = from.source.split_once(':').unwrap_or(("", from.source));
        self.rules.iter().filter(|r| r.allow.contains(&kind)).any(|r| match &r.locations {
            None => true,
            Some(list) => list.iter().any(|(t, pattern)| {
                let hit = |k: &str, target: &str| k.eq_ignore_ascii_case(t) && pattern.matches_with(target, SEGMENTS);
                hit(from.location.0, from.location.1) || hit(source_kind, source_target)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(source: &str) -> Provenance<'_> {
        Provenance { origin: "api", location: ("url", "https://github.com/acme/people/blob/main/all.yaml"), source }
    }

    #[test]
    fn the_default_lets_untrusted_locations_hold_only_software_kinds() {
        let rules = CatalogRules::default();
        let from = api("url:https://github.com/acme/people/blob/main/all.yaml");
        for kind in ["Component", "system", "API", "Resource", "Location"] {
            assert!(rules.check(kind, from).is_ok(), "{kind}");
        }
        for kind in ["User", "Group", "Domain", "Product", "Platform", "Template"] {
            let err = rules.check(kind, from).unwrap_err();
            assert!(err.starts_with(&format!("kind {kind} is not allowed from locations registered through the API")));
            assert!(err.ends_with("see catalog.rules"), "{err}");
        }
        let discovered = Provenance { origin: "provider:github:acme", ..from };
        assert!(rules.check("Group", discovered).unwrap_err().contains("found by discovery (github:acme)"));
        for origin in ["config", "cli"] {
            assert!(rules.check("User", Provenance { origin, ..from }).is_ok());
        }
    }

    #[test]
    fn configured_rules_replace_the_default_and_may_be_limited_to_locations() {
        let rules = CatalogRules::new(&[
            RuleSetting { allow: vec!["Component".into()], locations: None },
            RuleSetting {
                allow: vec!["User".into(), "Group".into()],
                locations: Some(vec![RuleLocation {
                    kind: "url".into(),
                    target: "https://github.com/acme/people/blob/main/*".into(),
                }]),
            },
        ])
        .unwrap();
        assert!(rules.check("User", api("url:https://github.com/acme/people/blob/main/all.yaml")).is_ok());
        // `*` stays inside its segment.
        let deeper = Provenance {
            origin: "api",
            location: ("url", "https://github.com/acme/people/blob/main/x/all.yaml"),
            source: "url:https://github.com/acme/people/blob/main/x/all.yaml",
        };
        assert!(rules.check("User", deeper).is_err());
        let elsewhere = Provenance {
            origin: "api",
            location: ("url", "https://github.com/evil/people/blob/main/all.yaml"),
            source: "url:https://github.com/evil/people/blob/main/all.yaml",
        };
        assert!(rules.check("User", elsewhere).is_err());
        // The default rule is gone: API is no longer allowed anywhere.
        assert!(rules.check("API", elsewhere).unwrap_err().ends_with("; see catalog.rules"));
        assert!(rules.check("component", elsewhere).is_ok());
    }

    #[test]
    fn bad_rules_are_refused_with_their_place() {
        let err = CatalogRules::new(&[RuleSetting {
            allow: vec!["User".into()],
            locations: Some(vec![RuleLocation { kind: "git".into(), target: "x".into() }]),
        }])
        .unwrap_err();
        assert!(err.to_string().starts_with("catalog.rules[0].locations[0]: type"), "{err}");
        let err = CatalogRules::new(&[RuleSetting { allow: vec![], locations: None }]).unwrap_err();
        assert_eq!(err.to_string(), "catalog.rules[0]: allow lists no kind");
    }
}
