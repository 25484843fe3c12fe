//! The one table of every URL the server answers.
//!
//! Each row names the method, the path, the handler, and what the OpenAPI document says about
//! it (tag, summary, query parameters, success status). [`config`] registers the rows with
//! actix-web and [`ROUTES`] lists them, so the OpenAPI document (`crate::openapi`) is generated
//! from exactly the routes that are served; a test compares the two.

use actix_web::http::Method;
use actix_web::web;

use crate::auth::handlers as auth;
use crate::catalog::{entity_api as entities, feed, handlers as catalog};
use crate::discovery::{handlers as discovery, push};
use crate::governance::handlers as governance;
use crate::offerings::handlers as offerings;
use crate::usage::handlers as usage;
use crate::{openapi, ops, ui};

/// One served route, as the OpenAPI document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The actix-web path pattern (`{name}` segments; `{name:regex}` for a tail).
    pub path: &'static str,
    /// The handler's name, used as the operation id.
    pub handler: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Query parameters the route reads.
    pub query: &'static [&'static str],
    /// Whether the route reads a JSON body.
    pub body: bool,
    /// The status of a successful answer.
    pub ok: u16,
}

macro_rules! route_table {
    ($(
        $method:ident $path:literal => $handler:path,
        $tag:literal, $summary:literal, query: [$($q:literal),*], body: $body:literal, ok: $ok:literal;
    )*) => {
        /// Every route, in registration order.
        pub const ROUTES: &[Route] = &[$(
            Route {
                method: stringify!($method),
                path: $path,
                handler: stringify!($handler),
                tag: $tag,
                summary: $summary,
                query: &[$($q),*],
                body: $body,
                ok: $ok,
            },
        )*];

        /// Registers every route of the table.
        pub fn config(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::method(Method::$method).to($handler)); )*
            cfg.default_service(web::to(ops::not_found));
        }
    };
}

/// The route of a method and a path pattern (as `HttpRequest::match_pattern` gives it).
pub fn find(method: &str, pattern: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == pattern)
}

// Order matters where patterns overlap: fixed segments (`by-query`) come before `{id}`.
route_table! {
    // The gateway checks first: actix tries patterns in order (dynamic ones with a regex), and
    // these are the hottest routes by far.
    POST "/api/gateway/check" => offerings::check, "gateway",
        "May this key call this API now? Always 200 with allowed and a reason (gateway:check)", query: [], body: true, ok: 200;
    GET "/api/gateway/auth" => offerings::auth, "gateway",
        "nginx auth_request / Envoy ext_authz: X-Api-Key in; 204, 401, 403 or 429 out (gateway:check)", query: ["api"], body: false, ok: 204;

    GET "/healthz" => ops::healthz, "operations", "Liveness: the process answers", query: [], body: false, ok: 200;
    GET "/readyz" => ops::readyz, "operations", "Readiness: the database answers", query: [], body: false, ok: 200;
    GET "/metrics" => ops::metrics, "operations", "Prometheus metrics", query: [], body: false, ok: 200;
    GET "/schemas/{file}" => ops::get_schema, "operations", "One of the JSON Schemas descriptors are validated against", query: [], body: false, ok: 200;
    GET "/api/openapi.json" => openapi::document, "operations", "This OpenAPI 3.1 document", query: [], body: false, ok: 200;
    GET "/api/docs" => openapi::swagger_ui_root, "operations", "Swagger UI", query: [], body: false, ok: 200;
    GET "/api/docs/apis/{namespace}/{name}/{file:.*}" => openapi::api_swagger_ui, "operations", "Swagger UI on one API entity's definition (file `definition`: the document itself)", query: [], body: false, ok: 200;
    GET "/api/docs/{file:.*}" => openapi::swagger_ui, "operations", "Swagger UI's files", query: [], body: false, ok: 200;

    GET "/api/catalog/entities" => entities::list_entities, "entities",
        "Entities matching filters, as a bare array; a Link header points at the next page",
        query: ["filter", "fields", "order", "offset", "limit", "after"], body: false, ok: 200;
    GET "/api/catalog/entities/by-query" => entities::query_entities_get, "entities",
        "A page of entities with totalItems and cursors",
        query: ["filter", "fields", "orderField", "cursor", "limit", "offset", "fullTextFilterTerm", "fullTextFilterFields", "totalItems"],
        body: false, ok: 200;
    POST "/api/catalog/entities/by-query" => entities::query_entities_post, "entities",
        "A page of entities for a predicate query ($all, $any, $not, $exists, $in, $hasPrefix)",
        query: [], body: true, ok: 200;
    POST "/api/catalog/entities/by-refs" => entities::get_by_refs, "entities",
        "Entities by ref, in request order, null where none exists", query: ["filter"], body: true, ok: 200;
    GET "/api/catalog/entities/by-uid/{uid}" => entities::get_by_uid, "entities", "One entity by uid", query: [], body: false, ok: 200;
    DELETE "/api/catalog/entities/by-uid/{uid}" => entities::delete_by_uid, "entities",
        "Deletes one entity (its location may emit it again)", query: [], body: false, ok: 204;
    GET "/api/catalog/entities/by-name/{kind}/{namespace}/{name}" => entities::get_by_name, "entities",
        "One entity by kind, namespace and name", query: [], body: false, ok: 200;
    GET "/api/catalog/entities/by-name/{kind}/{namespace}/{name}/ancestry" => entities::get_ancestry, "entities",
        "The entity and the entities that emitted it, up to its Location", query: [], body: false, ok: 200;
    GET "/api/catalog/entity-facets" => entities::get_facets, "entities",
        "Value counts of fields over the entities matching a filter", query: ["facet", "filter"], body: false, ok: 200;
    POST "/api/catalog/entity-facets" => entities::post_facets, "entities",
        "Value counts of fields over the entities matching a predicate", query: ["filter"], body: true, ok: 200;
    POST "/api/catalog/refresh" => catalog::refresh_entity, "entities",
        "Re-reads the location of an entity now", query: [], body: true, ok: 200;
    POST "/api/catalog/validate-entity" => entities::validate_entity, "entities",
        "Validates an entity without storing it", query: [], body: true, ok: 200;
    POST "/api/catalog/analyze-location" => entities::analyze_location, "locations",
        "What exists at a location and what registering it would add", query: [], body: true, ok: 200;
    GET "/api/catalog/events" => feed::list_events, "events",
        "The change feed: entity.added, entity.updated and entity.removed, oldest first; streams with Accept: text/event-stream",
        query: ["after", "limit"], body: false, ok: 200;

    GET "/api/catalog/locations" => catalog::list_locations, "locations", "Every registered location", query: [], body: false, ok: 200;
    POST "/api/catalog/locations" => catalog::create_location, "locations",
        "Registers a location and reads it", query: ["dryRun", "onConflict"], body: true, ok: 201;
    POST "/api/catalog/locations/by-query" => catalog::query_locations, "locations",
        "Locations matching a query", query: [], body: true, ok: 200;
    GET "/api/catalog/locations/by-entity/{kind}/{namespace}/{name}" => catalog::get_location_by_entity, "locations",
        "The location an entity came from", query: [], body: false, ok: 200;
    GET "/api/catalog/locations/{id}" => catalog::get_location, "locations", "One location", query: [], body: false, ok: 200;
    PUT "/api/catalog/locations/{id}" => catalog::update_location, "locations",
        "Points a location elsewhere and re-reads it", query: [], body: true, ok: 200;
    DELETE "/api/catalog/locations/{id}" => catalog::delete_location, "locations",
        "Removes a location and its entities", query: [], body: false, ok: 204;
    GET "/api/catalog/errors" => catalog::list_errors, "locations", "Current processing errors of every location", query: [], body: false, ok: 200;
    GET "/api/catalog/conflicts" => catalog::list_conflicts, "locations",
        "Refs a location emitted while another location owned them", query: [], body: false, ok: 200;

    GET "/api/portal/products" => governance::list_products, "portal",
        "Products with summaries: owner, domain, lifecycle, parts, APIs, dependencies, findings, scorecard level",
        query: ["owner", "domain", "lifecycle", "text"], body: false, ok: 200;
    GET "/api/portal/products/{namespace}/{name}" => governance::get_product, "portal",
        "One product in full: parts, APIs, KPIs, and what it depends on, resolved down to platforms", query: [], body: false, ok: 200;
    GET "/api/portal/platforms" => governance::list_platforms, "portal",
        "Platforms with summaries: owner, domain, lifecycle, parts, APIs, consumers, findings, scorecard level",
        query: ["owner", "domain", "lifecycle", "text"], body: false, ok: 200;
    GET "/api/portal/platforms/{namespace}/{name}" => governance::get_platform, "portal",
        "One platform in full: parts, offerings, targets, and each API's consumers with their product and team", query: [], body: false, ok: 200;
    GET "/api/portal/teams/{namespace}/{name}" => governance::get_team, "portal",
        "What a group owns, and whom it depends on", query: [], body: false, ok: 200;
    GET "/api/portal/graph" => governance::get_graph, "portal",
        "The dependency graph as JSON, Graphviz dot or Mermaid", query: ["entity", "depth", "relations", "direction", "format"], body: false, ok: 200;
    GET "/api/portal/findings" => governance::list_findings, "portal",
        "Governance findings", query: ["rule", "severity", "owner", "entity"], body: false, ok: 200;
    GET "/api/portal/scorecards" => governance::list_scorecards, "portal",
        "Scorecard level and checks of every product and platform", query: [], body: false, ok: 200;

    GET "/api/portal/offerings" => offerings::list_offerings, "offerings",
        "Offered APIs with their plans (every status) and live subscriber counts", query: ["platform", "domain", "q", "lifecycle"], body: false, ok: 200;
    GET "/api/portal/offerings/{namespace}/{api}" => offerings::get_offering, "offerings",
        "One offered API: its plans with live subscriptions per plan, and its consumers", query: [], body: false, ok: 200;
    GET "/api/portal/subscriptions" => offerings::list_subscriptions, "offerings",
        "Subscriptions with their history; filters combine", query: ["api", "consumer", "team", "status"], body: false, ok: 200;
    POST "/api/portal/subscriptions" => offerings::create_subscription, "offerings",
        "Subscribes a consumer to a plan: active at once on an auto plan, else pending (the consumer's owner)", query: [], body: true, ok: 201;
    GET "/api/portal/subscriptions/{id}" => offerings::get_subscription, "offerings", "One subscription with its history", query: [], body: false, ok: 200;
    GET "/api/portal/subscriptions/{id}/keys" => offerings::list_keys, "offerings",
        "The subscription's API keys, without secrets (either party)", query: [], body: false, ok: 200;
    POST "/api/portal/subscriptions/{id}/keys" => offerings::create_key, "offerings",
        "Issues an API key, shown this once (the consumer's owner)", query: [], body: true, ok: 201;
    POST "/api/portal/subscriptions/{id}/{action}" => offerings::act_on_subscription, "offerings",
        "approve, reject, pause, resume, transfer (the platform's owner) or close (the consumer's owner)", query: [], body: true, ok: 200;
    POST "/api/portal/keys/{id}/rotate" => offerings::rotate_key, "offerings",
        "Replaces a key; the old one stays valid for overlapHours (default 24)", query: [], body: true, ok: 201;
    DELETE "/api/portal/keys/{id}" => offerings::revoke_key, "offerings", "Revokes a key at once", query: [], body: false, ok: 204;

    POST "/api/usage/events" => usage::post_events, "usage",
        "Usage events (JSON array or NDJSON): per-row rejections, Idempotency-Key, ?backfill=true for admins (usage:write)", query: ["backfill"], body: true, ok: 200;
    GET "/api/portal/consumption" => usage::consumption, "usage",
        "Calls, errors and latency percentiles over time, totals and top consumers; filters combine; format=csv for the series",
        query: ["api", "platform", "consumer", "team", "from", "to", "bucket", "format"], body: false, ok: 200;
    GET "/api/portal/adoption" => usage::adoption, "usage",
        "Weekly active, new, retained and churned consumers; median hours to first call; approved subscriptions never called",
        query: ["api", "platform", "weeks"], body: false, ok: 200;
    GET "/api/portal/declared-vs-observed" => usage::declared_vs_observed, "usage",
        "consumesApis declared but not called in 28 days, and calls in 28 days not declared", query: ["api", "platform"], body: false, ok: 200;
    POST "/api/portal/products/{namespace}/{name}/kpis" => usage::post_kpis, "usage",
        "Records values of the product's declared KPIs, [{kpi, time, value}] (kpi:write or the product's owner)", query: [], body: true, ok: 200;

    GET "/api/providers" => discovery::list_providers, "providers",
        "Configured GitHub and GitLab discovery providers, with their last run", query: [], body: false, ok: 200;
    GET "/api/providers/{id}/runs" => discovery::list_provider_runs, "providers",
        "Recent runs of a provider: repositories seen, locations added and removed, errors", query: [], body: false, ok: 200;
    POST "/api/providers/{id}/run" => discovery::run_provider, "providers",
        "Runs a provider now and answers its outcome", query: [], body: false, ok: 200;
    POST "/api/webhooks/github" => push::receive_github, "webhooks",
        "GitHub webhook deliveries (X-Hub-Signature-256 checked before parsing)", query: [], body: true, ok: 200;
    POST "/api/webhooks/gitlab" => push::receive_gitlab, "webhooks",
        "GitLab webhook deliveries (X-Gitlab-Token checked before parsing)", query: [], body: true, ok: 200;

    GET "/api/auth/{provider}/start" => auth::start, "auth",
        "Starts sign-in: redirects to the provider (PKCE, CSRF state, nonce)", query: ["redirect"], body: false, ok: 302;
    GET "/api/auth/{provider}/handler/frame" => auth::callback, "auth",
        "The provider's callback: checks the state, exchanges the code, sets the session cookies", query: ["code", "state", "error"], body: false, ok: 302;
    POST "/api/auth/refresh" => auth::refresh, "auth",
        "A new access token (cookie and body) from the refresh cookie", query: [], body: false, ok: 200;
    POST "/api/auth/logout" => auth::logout, "auth", "Signs out: drops the session cookies", query: [], body: false, ok: 204;
    GET "/api/auth/me" => auth::me, "auth",
        "The caller: identity, User entity, groups and ownership refs", query: [], body: false, ok: 200;
    GET "/api/auth/tokens" => auth::list_tokens, "auth", "Every service token, without secrets (admins)", query: [], body: false, ok: 200;
    POST "/api/auth/tokens" => auth::create_token, "auth",
        "Creates a service token; its value is shown once (admins)", query: [], body: true, ok: 201;
    DELETE "/api/auth/tokens/{id}" => auth::revoke_token, "auth", "Revokes a service token (admins)", query: [], body: false, ok: 204;

    // The web UI (tag "ui": HTML pages, left out of the OpenAPI document). Pages render what
    // the API's handlers answer; every POST carries the CSRF token (ui::CsrfForm).
    GET "/" => ui::home::page_home, "ui", "Home: search, what you own, what needs you", query: [], body: false, ok: 200;
    GET "/ui/assets/{version}/{file}" => ui::assets::serve, "ui", "The UI's embedded CSS and scripts", query: [], body: false, ok: 200;
    GET "/signin" => ui::layout::signin, "ui", "Sign-in providers", query: ["redirect"], body: false, ok: 200;
    POST "/signout" => ui::layout::signout, "ui", "Signs out", query: [], body: true, ok: 303;
    GET "/catalog" => ui::catalog::list, "ui", "The catalog with facets, paged", query: [], body: false, ok: 200;
    GET "/catalog/{kind}/{namespace}/{name}" => ui::catalog::entity, "ui", "One entity", query: [], body: false, ok: 200;
    GET "/approvals" => ui::approvals::list, "ui", "Pending subscription requests", query: [], body: false, ok: 200;
    POST "/approvals/{id}" => ui::approvals::decide, "ui", "Approves or rejects a request", query: [], body: true, ok: 303;
    GET "/products" => ui::products::list_products, "ui", "Products", query: [], body: false, ok: 200;
    GET "/products/{namespace}/{name}" => ui::products::product, "ui", "One product", query: [], body: false, ok: 200;
    GET "/platforms" => ui::products::list_platforms, "ui", "Platforms", query: [], body: false, ok: 200;
    GET "/platforms/{namespace}/{name}" => ui::products::platform, "ui", "One platform", query: [], body: false, ok: 200;
    GET "/apis" => ui::apis::marketplace, "ui", "The API marketplace", query: [], body: false, ok: 200;
    GET "/apis/{namespace}/{api}" => ui::apis::api_page, "ui", "One offered API with its plans", query: [], body: false, ok: 200;
    POST "/apis/{namespace}/{api}/subscribe" => ui::apis::subscribe, "ui", "Subscribes a consumer", query: [], body: true, ok: 303;
    GET "/subscriptions" => ui::subscriptions::list, "ui", "Your subscriptions", query: [], body: false, ok: 200;
    GET "/subscriptions/{id}" => ui::subscriptions::one, "ui", "One subscription and its keys", query: [], body: false, ok: 200;
    POST "/subscriptions/{id}/keys" => ui::subscriptions::create_key, "ui", "Creates a key, shown once", query: [], body: true, ok: 200;
    POST "/keys/{id}/rotate" => ui::subscriptions::rotate_key, "ui", "Rotates a key", query: [], body: true, ok: 200;
    POST "/keys/{id}/revoke" => ui::subscriptions::revoke_key, "ui", "Revokes a key", query: [], body: true, ok: 303;
    GET "/dashboard" => ui::dashboard::dashboard, "ui", "The consumption dashboard", query: [], body: false, ok: 200;
    GET "/governance" => ui::governance::findings, "ui", "Governance findings", query: [], body: false, ok: 200;
    GET "/governance/graph" => ui::governance::graph, "ui", "An entity's dependency graph", query: [], body: false, ok: 200;
}
