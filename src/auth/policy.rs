//! The access rules. Each route's rule lives in its row (`crate::routes::Route::rule`), so a
//! route cannot be written without one; [`super::middleware::authenticate`] applies the rule of
//! the matched row. The rules name no domain: a route that needs a service token's scope names
//! the scope in its row.

/// What a caller needs to use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone (operations, schemas, the OpenAPI document).
    Open,
    /// The sign-in routes: open, they check their own state and cookies.
    SignIn,
    /// Signed-in users and service tokens; anonymous callers when `anonymous_read` is on.
    Read,
    /// Operations' own endpoint (`/metrics`): like `Read`, unless `server.metrics_public` opens
    /// it to anyone.
    Metrics,
    /// Signed-in users (not reader-only), guests, admins and service tokens with `catalog:write`.
    SignedIn,
    /// Like `SignedIn`, then the handler checks ownership with [`super::require_owner`].
    Owner,
    /// A party to an agreement between two owners: signed-in users (not reader-only), guests,
    /// admins, and service tokens with this scope (`catalog:write` is not enough). The handler
    /// then checks the owner of the party the action needs with [`super::require_owner_as`].
    Party(&'static str),
    /// Admins: configured users and groups, and service tokens with the `admin` scope.
    Admin,
    /// Machines: service tokens with this scope, admins, and guest mode.
    Scope(&'static str),
    /// Service tokens with this scope, admins, and signed-in users (not reader-only), whom the
    /// handler checks as the owner with [`super::require_owner`].
    OwnerOrScope(&'static str),
    /// Webhooks check their own signature; no user auth.
    Webhook,
}

impl Rule {
    /// The rule's name, as docs/api.md shows it.
    pub fn name(&self) -> String {
        match self {
            Rule::Party(s) => format!("Party({s})"),
            Rule::Scope(s) => format!("Scope({s})"),
            Rule::OwnerOrScope(s) => format!("OwnerOrScope({s})"),
            other => format!("{other:?}"),
        }
    }

    /// Who may call a route of this rule, in a few words (admins may call every route).
    pub fn short(&self) -> String {
        match self {
            Rule::Open => "anyone".into(),
            Rule::SignIn => "anyone (sign-in)".into(),
            Rule::Read => "readers".into(),
            Rule::Metrics => "readers (anyone when public)".into(),
            Rule::SignedIn => "writers".into(),
            Rule::Owner => "the owner".into(),
            Rule::Party(scope) => format!("the party's owner, `{scope}` tokens"),
            Rule::Admin => "admins".into(),
            Rule::Scope(scope) => format!("`{scope}` tokens"),
            Rule::OwnerOrScope(scope) => format!("the owner, `{scope}` tokens"),
            Rule::Webhook => "signed deliveries".into(),
        }
    }

    /// Where the rule sorts in docs/api.md: from the most open to the most closed.
    pub fn rank(&self) -> u8 {
        match self {
            Rule::Open => 0,
            Rule::Metrics => 1,
            Rule::SignIn => 2,
            Rule::Webhook => 3,
            Rule::Read => 4,
            Rule::SignedIn => 5,
            Rule::Owner => 6,
            Rule::Party(_) => 7,
            Rule::OwnerOrScope(_) => 8,
            Rule::Scope(_) => 9,
            Rule::Admin => 10,
        }
    }

    /// Who may call a route of this rule, in words.
    pub fn who(&self) -> String {
        match self {
            Rule::Open => "anyone".into(),
            Rule::SignIn => "anyone (the route checks its own state and cookies)".into(),
            Rule::Read => "signed-in users and service tokens; anonymous callers when `anonymous_read` is on".into(),
            Rule::Metrics => "as `Read`; anyone when `server.metrics_public = true`".into(),
            Rule::SignedIn => "signed-in users (not reader-only), admins, `catalog:write` tokens".into(),
            Rule::Owner => {
                "owners of every owned entity involved, admins, `catalog:write` tokens (the handler checks ownership)"
                    .into()
            }
            Rule::Party(scope) => format!(
                "the signed-in owner of the party the action needs, admins, `{scope}` tokens \
                 (a `catalog:write` token gets 403 \"This token lacks the {scope} scope.\")"
            ),
            Rule::Admin => "admins (configured users and groups), `admin` tokens".into(),
            Rule::Scope(scope) => format!("service tokens with the `{scope}` scope, admins, guest mode"),
            Rule::OwnerOrScope(scope) => {
                format!("`{scope}` tokens, admins, and the signed-in owner (the handler checks ownership)")
            }
            Rule::Webhook => "anyone; the route checks its own signature".into(),
        }
    }
}

/// Paths where, with anonymous access off, every call needs credentials, routed or not.
pub fn is_protected_prefix(path: &str) -> bool {
    ["/api/catalog", "/api/portal"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::all;

    fn rule_for(method: &str, path: &str) -> Option<Rule> {
        all().find(|r| r.method == method && r.path == path).map(|r| r.rule)
    }

    #[test]
    fn every_route_is_one_row() {
        let mut seen = std::collections::HashSet::new();
        for r in all() {
            assert!(seen.insert((r.method, r.path)), "{} {} has two rows", r.method, r.path);
        }
    }

    #[test]
    fn backstage_post_reads_are_reads_and_mutations_are_not() {
        for path in [
            "/api/catalog/entities/by-refs",
            "/api/catalog/entities/by-query",
            "/api/catalog/entity-facets",
            "/api/catalog/validate-entity",
            "/api/catalog/analyze-location",
            "/api/catalog/locations/by-query",
        ] {
            assert_eq!(rule_for("POST", path), Some(Rule::Read), "{path}");
        }
        assert_eq!(rule_for("POST", "/api/catalog/locations"), Some(Rule::SignedIn));
        assert_eq!(rule_for("DELETE", "/api/catalog/locations/{id}"), Some(Rule::Owner));
        assert_eq!(rule_for("POST", "/api/auth/tokens"), Some(Rule::Admin));
        for open in ["/healthz", "/readyz"] {
            assert_eq!(rule_for("GET", open), Some(Rule::Open));
        }
        assert_eq!(rule_for("GET", "/metrics"), Some(Rule::Metrics));
    }

    #[test]
    fn protected_prefixes_match_whole_segments() {
        assert!(is_protected_prefix("/api/catalog"));
        assert!(is_protected_prefix("/api/catalog/nothing-here"));
        assert!(is_protected_prefix("/api/portal/x"));
        assert!(!is_protected_prefix("/api/catalogue"));
        assert!(!is_protected_prefix("/healthz"));
    }
}
