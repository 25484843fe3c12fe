//! The access policy: one row per route of `crate::routes::ROUTES`, keyed by its method and
//! path pattern. Adding a route means adding one row here; a test fails until it is added.

/// What a caller needs to use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone (operations, schemas, the OpenAPI document).
    Open,
    /// The sign-in routes: open, they check their own state and cookies.
    SignIn,
    /// Signed-in users and service tokens; anonymous callers when `anonymous_read` is on.
    Read,
    /// Signed-in users (not reader-only) and service tokens with `catalog:write`.
    SignedIn,
    /// Like `SignedIn`, then the handler checks ownership with [`super::require_owner`].
    OwnerOrAdmin,
    /// Admins: configured users and groups, and service tokens with the `admin` scope.
    Admin,
    /// Webhooks check their own signature; no user auth.
    Webhook,
    /// Subscriptions and keys: signed-in users (not reader-only), admins, and service tokens
    /// with `offerings:write` (`catalog:write` is not enough). The handler then checks the owner
    /// of the subscription's party the action needs: the consumer's (request, close, keys) or the
    /// platform's (approve, reject, pause, resume, transfer), with [`super::require_owner`].
    PartyOrAdmin,
    /// API gateways: service tokens with the `gateway:check` scope, admins, and guest mode.
    Gateway,
    /// Usage intake: service tokens with the `usage:write` scope, admins, and guest mode.
    UsageWrite,
    /// `/metrics`: like `Read`, unless `server.metrics_public` opens it to anyone.
    Metrics,
    /// KPI values: service tokens with `kpi:write` (or admin), and signed-in users, whom the
    /// handler checks as the product's owner with [`super::require_owner`].
    KpiWrite,
}

use Rule::*;

/// Every route's rule, keyed exactly like `ROUTES` (method, path pattern).
pub const POLICY: &[(&str, &str, Rule)] = &[
    ("GET", "/healthz", Open),
    ("GET", "/readyz", Open),
    ("GET", "/metrics", Metrics),
    ("GET", "/schemas/{file}", Open),
    ("GET", "/api/openapi.json", Open),
    ("GET", "/api/docs", Open),
    ("GET", "/api/docs/{file:.*}", Open),
    // Swagger UI on an API entity's definition: the definition is catalog data.
    ("GET", "/api/docs/apis/{namespace}/{name}/{file:.*}", Read),
    ("GET", "/api/catalog/entities", Read),
    ("GET", "/api/catalog/entities/by-query", Read),
    ("POST", "/api/catalog/entities/by-query", Read),
    ("POST", "/api/catalog/entities/by-refs", Read),
    ("GET", "/api/catalog/entities/by-uid/{uid}", Read),
    ("DELETE", "/api/catalog/entities/by-uid/{uid}", OwnerOrAdmin),
    ("GET", "/api/catalog/entities/by-name/{kind}/{namespace}/{name}", Read),
    ("GET", "/api/catalog/entities/by-name/{kind}/{namespace}/{name}/ancestry", Read),
    ("GET", "/api/catalog/entity-facets", Read),
    ("POST", "/api/catalog/entity-facets", Read),
    ("POST", "/api/catalog/refresh", SignedIn),
    ("POST", "/api/catalog/validate-entity", Read),
    ("POST", "/api/catalog/analyze-location", Read),
    ("GET", "/api/catalog/events", Read),
    ("GET", "/api/catalog/locations", Read),
    ("POST", "/api/catalog/locations", SignedIn),
    ("POST", "/api/catalog/locations/by-query", Read),
    ("GET", "/api/catalog/locations/by-entity/{kind}/{namespace}/{name}", Read),
    ("GET", "/api/catalog/locations/{id}", Read),
    ("PUT", "/api/catalog/locations/{id}", OwnerOrAdmin),
    ("DELETE", "/api/catalog/locations/{id}", OwnerOrAdmin),
    ("GET", "/api/catalog/errors", Read),
    ("GET", "/api/catalog/conflicts", Read),
    ("GET", "/api/portal/products", Read),
    ("GET", "/api/portal/products/{namespace}/{name}", Read),
    ("GET", "/api/portal/platforms", Read),
    ("GET", "/api/portal/platforms/{namespace}/{name}", Read),
    ("GET", "/api/portal/teams/{namespace}/{name}", Read),
    ("GET", "/api/portal/graph", Read),
    ("GET", "/api/portal/findings", Read),
    ("GET", "/api/portal/scorecards", Read),
    ("GET", "/api/portal/offerings", Read),
    ("GET", "/api/portal/offerings/{namespace}/{api}", Read),
    ("GET", "/api/portal/subscriptions", Read),
    ("POST", "/api/portal/subscriptions", PartyOrAdmin),
    ("GET", "/api/portal/subscriptions/{id}", Read),
    ("GET", "/api/portal/subscriptions/{id}/keys", PartyOrAdmin),
    ("POST", "/api/portal/subscriptions/{id}/keys", PartyOrAdmin),
    ("POST", "/api/portal/subscriptions/{id}/{action}", PartyOrAdmin),
    ("POST", "/api/portal/keys/{id}/rotate", PartyOrAdmin),
    ("DELETE", "/api/portal/keys/{id}", PartyOrAdmin),
    ("POST", "/api/gateway/check", Gateway),
    ("GET", "/api/gateway/auth", Gateway),
    ("GET", "/api/providers", Read),
    ("GET", "/api/providers/{id}/runs", Read),
    ("POST", "/api/providers/{id}/run", Admin),
    ("POST", "/api/webhooks/github", Webhook),
    ("POST", "/api/webhooks/gitlab", Webhook),
    ("GET", "/api/auth/{provider}/start", SignIn),
    ("GET", "/api/auth/{provider}/handler/frame", SignIn),
    ("POST", "/api/auth/refresh", SignIn),
    ("POST", "/api/auth/logout", SignIn),
    ("GET", "/api/auth/me", SignIn),
    ("GET", "/api/auth/tokens", Admin),
    ("POST", "/api/auth/tokens", Admin),
    ("DELETE", "/api/auth/tokens/{id}", Admin),
    // Consumption (usage).
    ("POST", "/api/usage/events", UsageWrite),
    ("GET", "/api/portal/consumption", Read),
    ("GET", "/api/portal/adoption", Read),
    ("GET", "/api/portal/declared-vs-observed", Read),
    ("POST", "/api/portal/products/{namespace}/{name}/kpis", KpiWrite),
    // The web UI: pages read like the API; its forms act through the API's handlers, which
    // check ownership as they do for the API.
    ("GET", "/", Read),
    ("GET", "/ui/assets/{version}/{file}", Open),
    ("GET", "/signin", SignIn),
    ("POST", "/signout", SignIn),
    ("GET", "/catalog", Read),
    ("GET", "/catalog/{kind}/{namespace}/{name}", Read),
    ("GET", "/approvals", Read),
    ("POST", "/approvals/{id}", PartyOrAdmin),
    ("GET", "/products", Read),
    ("GET", "/products/{namespace}/{name}", Read),
    ("GET", "/platforms", Read),
    ("GET", "/platforms/{namespace}/{name}", Read),
    ("GET", "/apis", Read),
    ("GET", "/apis/{namespace}/{api}", Read),
    ("POST", "/apis/{namespace}/{api}/subscribe", PartyOrAdmin),
    ("GET", "/subscriptions", Read),
    ("GET", "/subscriptions/{id}", Read),
    ("POST", "/subscriptions/{id}/keys", PartyOrAdmin),
    ("POST", "/keys/{id}/rotate", PartyOrAdmin),
    ("POST", "/keys/{id}/revoke", PartyOrAdmin),
    ("GET", "/dashboard", Read),
    ("GET", "/governance", Read),
    ("GET", "/governance/graph", Read),
];

/// The rule of a route, by method and the route's path pattern.
pub fn rule_for(method: &str, pattern: &str) -> Option<Rule> {
    POLICY.iter().find(|(m, p, _)| *m == method && *p == pattern).map(|(_, _, r)| *r)
}

/// Paths where, with anonymous access off, every call needs credentials, routed or not.
pub fn is_protected_prefix(path: &str) -> bool {
    ["/api/catalog", "/api/portal"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_route_has_exactly_one_rule() {
        let missing: Vec<String> = ROUTES
            .iter()
            .filter(|r| POLICY.iter().filter(|(m, p, _)| *m == r.method && *p == r.path).count() != 1)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(missing.is_empty(), "routes without exactly one POLICY row: {missing:?}");
    }

    #[test]
    fn every_rule_names_a_served_route() {
        let stale: Vec<String> = POLICY
            .iter()
            .filter(|(m, p, _)| !ROUTES.iter().any(|r| r.method == *m && r.path == *p))
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect();
        assert!(stale.is_empty(), "POLICY rows for routes that do not exist: {stale:?}");
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
            assert_eq!(rule_for("POST", path), Some(Read), "{path}");
        }
        assert_eq!(rule_for("POST", "/api/catalog/locations"), Some(SignedIn));
        assert_eq!(rule_for("DELETE", "/api/catalog/locations/{id}"), Some(OwnerOrAdmin));
        assert_eq!(rule_for("POST", "/api/auth/tokens"), Some(Admin));
        for open in ["/healthz", "/readyz"] {
            assert_eq!(rule_for("GET", open), Some(Open));
        }
        assert_eq!(rule_for("GET", "/metrics"), Some(Metrics));
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
