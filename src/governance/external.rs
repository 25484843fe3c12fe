//! What governance takes from other domains, without naming them: findings sources and view
//! extensions (`crate::domain::hooks`), registered by any domain in its `Domain` and read here
//! from the hook lists.
//!
//! A source's findings are stored in the findings table beside governance's own, under the
//! rules it owns ([`crate::domain::FindingsSource::rules`]): governance's recomputations never
//! touch those rows, and each source's findings replace only its own rules' rows, with the
//! governance generation moved so served entities and the read cache follow.

/// Rules whose findings come from a findings source and that governance documents and lets
/// `[governance.rules]` configure (consumption's). A source may bring further rule ids.
pub const EXTERNAL_RULES: &[&str] = &[super::rules::UNDECLARED_CONSUMPTION, super::rules::UNUSED_DECLARED_DEPENDENCY];
