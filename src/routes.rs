//! The rows of every URL the server answers, and the edge's own rows.
//!
//! Each area declares its rows with [`route_table!`] in its own `routes.rs` (`catalog`,
//! `governance`, `offerings`, `usage`, `discovery`, `auth`); the edge's (operations, the OpenAPI
//! document, the web UI's pages) are here. A row names the method, the path, the handler, the
//! access rule ([`Rule`], applied by `auth::middleware` before routing), the body it takes, the
//! query parameters it reads and what the OpenAPI document says about it. [`config`] registers
//! every table with actix-web and the [`RouteIndex`] the middleware looks rules up in; the OpenAPI
//! document (`crate::openapi`) and docs/api.md are generated from the same rows.

use std::collections::HashMap;

use actix_web::web;

use crate::auth::policy::Rule;
use crate::auth::policy::Rule::*;
use crate::{openapi, ops, ui};

/// One served route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The actix-web path pattern (`{name}` segments; `{name:regex}` for a tail).
    pub path: &'static str,
    /// The handler's name, used as the operation id.
    pub handler: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Who may call it.
    pub rule: Rule,
    /// Query parameters the route reads.
    pub query: &'static [Param],
    /// The body it takes.
    pub body: Body,
    /// The media types of a successful answer (none for 204 and redirects).
    pub answers: &'static [&'static str],
    /// The status of a successful answer.
    pub ok: u16,
    /// Registers the route (its method, path and handler) with actix-web.
    pub register: fn(&mut web::ServiceConfig),
}

impl Route {
    /// Whether the OpenAPI document lists the route: the web UI's pages are not API.
    pub fn in_openapi(&self) -> bool {
        self.tag != "ui"
    }
}

/// The body a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// JSON (`application/json` only: 415 otherwise), of this JSON Schema.
    Json(&'static str),
    /// JSON or NDJSON (`application/x-ndjson`), of this JSON Schema (as JSON; NDJSON sends its
    /// items one a line). The OpenAPI document shows the JSON form.
    JsonOrNdjson(&'static str),
    /// An HTML form of the web UI (it carries the CSRF token).
    Form,
}

/// The JSON Schema of a JSON object body.
pub const OBJECT: &str = r#"{"type": "object"}"#;

/// A query parameter a route reads.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    /// What it means: the OpenAPI document and docs/api.md show it; never empty (a test checks).
    pub doc: &'static str,
    pub kind: ParamKind,
}

/// The type of a query parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Text,
    /// Repeatable text.
    Repeated,
    /// A count, 0 or more.
    Count,
    Flag,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

impl Param {
    pub const fn text(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc, kind: ParamKind::Text }
    }
    pub const fn repeated(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc, kind: ParamKind::Repeated }
    }
    pub const fn count(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc, kind: ParamKind::Count }
    }
    pub const fn flag(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc, kind: ParamKind::Flag }
    }
    pub const fn one_of(name: &'static str, doc: &'static str, values: &'static [&'static str]) -> Self {
        Self { name, doc, kind: ParamKind::OneOf(values) }
    }
}

/// `$value` when given, else `$default` (the optional fields of [`route_table!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __route_field {
    ([] $default:expr) => {
        $default
    };
    ([$value:expr] $default:expr) => {
        $value
    };
}

/// Declares a table of rows, as `pub const $table: &[Route]`, and `pub fn $configure` that
/// registers them with actix-web in order (each row carries its own registration, so any list of
/// tables registers with [`register`]). A row:
///
/// ```text
/// METHOD "/path/{id}" => module::handler {
///     tag: "tag", rule: Rule, summary: "What it does",
///     query: [PARAM, ...],               // optional, default none
///     body: Body::Json(OBJECT),          // optional, default Body::None
///     answers: ["application/json"],     // optional, default application/json
///     ok: 201,                           // optional, default 200
/// }
/// ```
///
/// `rule` is not optional: a row cannot be written without its rule.
#[macro_export]
macro_rules! route_table {
    (
        $(#[$meta:meta])*
        $table:ident, $configure:ident;
        $(
            $method:ident $path:literal => $handler:path {
                tag: $tag:literal, rule: $rule:expr, summary: $summary:literal
                $(, query: [$($q:expr),* $(,)?])?
                $(, body: $body:expr)?
                $(, answers: [$($media:literal),* $(,)?])?
                $(, ok: $ok:literal)?
                $(,)?
            }
        )*
    ) => {
        $(#[$meta])*
        pub const $table: &[$crate::routes::Route] = &[$(
            $crate::routes::Route {
                method: stringify!($method),
                path: $path,
                handler: stringify!($handler),
                tag: $tag,
                summary: $summary,
                rule: $rule,
                query: $crate::__route_field!([$(&[$($q),*])?] &[]),
                body: $crate::__route_field!([$($body)?] $crate::routes::Body::None),
                answers: $crate::__route_field!([$(&[$($media),*])?] &["application/json"]),
                ok: $crate::__route_field!([$($ok)?] 200),
                register: |cfg: &mut ::actix_web::web::ServiceConfig| {
                    cfg.route($path, ::actix_web::web::method(::actix_web::http::Method::$method).to($handler));
                },
            },
        )*];

        /// Registers the rows of the table, in order.
        pub fn $configure(cfg: &mut ::actix_web::web::ServiceConfig) {
            for route in $table {
                (route.register)(cfg);
            }
        }
    };
}
pub use crate::route_table;

/// Every table, in registration order: every domain's (from the domain list in `startup`, in its
/// order; offerings puts the gateway's checks, the hottest routes by far, first of its own), then
/// the edge's operations, the catalog's, sign-in's and the UI's pages. Order matters where
/// patterns overlap (fixed segments such as `by-query` before `{id}`, which each table keeps), and
/// actix tries patterns in order.
pub fn tables() -> Vec<&'static [Route]> {
    let mut out: Vec<&'static [Route]> =
        crate::settings::DOMAIN_ROUTES.iter().flat_map(|d| d.iter().copied()).collect();
    out.extend([OPERATIONS, crate::catalog::routes::ROUTES, crate::auth::routes::ROUTES, PAGES]);
    out
}

/// Every row, in registration order.
pub fn all() -> impl Iterator<Item = &'static Route> {
    tables().into_iter().flat_map(|t| t.iter())
}

/// Registers [`tables`] (see [`register`]).
pub fn config(cfg: &mut web::ServiceConfig) {
    register(cfg, &tables());
}

/// Registers the rows of `tables` in order, the [`RouteIndex`] of them (app data the
/// authentication middleware reads), and the default service (404, or 405 for a served path
/// with another method).
pub fn register(cfg: &mut web::ServiceConfig, tables: &[&'static [Route]]) {
    cfg.app_data(web::Data::new(RouteIndex::new(tables)));
    for route in tables.iter().flat_map(|t| t.iter()) {
        (route.register)(cfg);
    }
    cfg.default_service(web::to(ops::not_found));
}

/// The served rows by path pattern, for the middleware that runs before routing: it finds the
/// row of `HttpRequest::match_pattern` and the method. Registered as app data by [`config`]
/// (`web::Data<RouteIndex>`).
pub struct RouteIndex {
    rows: Vec<&'static Route>,
    by_pattern: HashMap<&'static str, Vec<&'static Route>>,
}

impl RouteIndex {
    pub fn new(tables: &[&'static [Route]]) -> Self {
        let rows: Vec<&'static Route> = tables.iter().flat_map(|t| t.iter()).collect();
        let mut by_pattern: HashMap<&'static str, Vec<&'static Route>> = HashMap::new();
        for r in &rows {
            by_pattern.entry(r.path).or_default().push(r);
        }
        Self { rows, by_pattern }
    }

    /// The row of a method and a path pattern (as `HttpRequest::match_pattern` gives it).
    pub fn find(&self, method: &str, pattern: &str) -> Option<&'static Route> {
        self.by_pattern.get(pattern)?.iter().find(|r| r.method == method).copied()
    }

    /// Every row, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &'static Route> + '_ {
        self.rows.iter().copied()
    }
}

/// The generated part of docs/api.md: the rules, then every route grouped by tag.
pub fn markdown_table() -> String {
    let mut out = String::new();
    out.push_str("| rule | who may call |\n|---|---|\n");
    let mut rules: Vec<Rule> = Vec::new();
    for r in all() {
        if !rules.contains(&r.rule) {
            rules.push(r.rule);
        }
    }
    rules.sort_by_key(|r| (r.rank(), r.name()));
    for rule in &rules {
        out.push_str(&format!("| `{}` | {} |\n", rule.name(), cell(&rule.who())));
    }
    let mut tags: Vec<&str> = Vec::new();
    for r in all() {
        if !tags.contains(&r.tag) {
            tags.push(r.tag);
        }
    }
    for tag in tags {
        out.push_str(&format!("\n### {tag}\n\n| method | path | who may call (rule) | summary |\n|---|---|---|---|\n"));
        for r in all().filter(|r| r.tag == tag) {
            let mut summary = cell(r.summary);
            if !r.query.is_empty() {
                let names: Vec<String> = r.query.iter().map(|q| format!("`{}`", q.name)).collect();
                summary.push_str(&format!(" (query: {})", names.join(", ")));
            }
            out.push_str(&format!(
                "| {} | `{}` | {} (`{}`) | {summary} |\n",
                r.method,
                r.path,
                r.rule.short(),
                r.rule.name()
            ));
        }
    }
    out
}

/// Text as a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Markers around the generated part of docs/api.md.
pub const DOCS_BEGIN: &str = "<!-- BEGIN generated by routes::markdown_table(); regenerate: PORTOLAN_WRITE_DOCS=1 cargo test --lib docs_api_md -->\n";
pub const DOCS_END: &str = "<!-- END generated -->\n";

// The operations' rows: probes, metrics, schemas, this document and Swagger UI.
route_table! {
    OPERATIONS, configure_operations;
    GET "/healthz" => ops::healthz {
        tag: "operations", rule: Open, summary: "Liveness: the process answers",
    }
    GET "/readyz" => ops::readyz {
        tag: "operations", rule: Open, summary: "Readiness: the database answers",
    }
    GET "/metrics" => ops::metrics {
        tag: "operations", rule: Metrics, summary: "Prometheus metrics", answers: ["text/plain"],
    }
    GET "/schemas/{file}" => ops::get_schema {
        tag: "operations", rule: Open, summary: "One of the JSON Schemas descriptors are validated against",
        answers: ["application/schema+json"],
    }
    GET "/api/openapi.json" => openapi::document {
        tag: "operations", rule: Open, summary: "This OpenAPI 3.1 document",
    }
    GET "/api/docs" => openapi::swagger_ui_root {
        tag: "operations", rule: Open, summary: "Swagger UI", answers: ["*/*"],
    }
    // Swagger UI on an API entity's definition: the definition is catalog data.
    GET "/api/docs/apis/{namespace}/{name}/{file:.*}" => openapi::api_swagger_ui {
        tag: "operations", rule: Read,
        summary: "Swagger UI on one API entity's definition (file `definition`: the document itself)",
        answers: ["*/*"],
    }
    GET "/api/docs/{file:.*}" => openapi::swagger_ui {
        tag: "operations", rule: Open, summary: "Swagger UI's files", answers: ["*/*"],
    }
}

// The web UI (tag "ui": HTML pages, left out of the OpenAPI document). Pages render what the
// API's handlers answer and read like the API; every POST carries the CSRF token (ui::CsrfForm)
// and acts through the API's handlers, which check ownership as they do for the API.
route_table! {
    /// The web UI's pages and forms.
    PAGES, configure_pages;
    GET "/" => ui::home::page_home {
        tag: "ui", rule: Read, summary: "Home: search, what you own, what needs you", answers: ["text/html"],
    }
    GET "/ui/assets/{version}/{file}" => ui::assets::serve {
        tag: "ui", rule: Open, summary: "The UI's embedded CSS and scripts", answers: ["text/css", "text/javascript"],
    }
    GET "/signin" => ui::layout::signin {
        tag: "ui", rule: SignIn, summary: "Sign-in providers", query: [crate::auth::routes::REDIRECT],
        answers: ["text/html"],
    }
    POST "/signout" => ui::layout::signout {
        tag: "ui", rule: SignIn, summary: "Signs out", body: Body::Form, ok: 303,
    }
    GET "/catalog" => ui::catalog::list {
        tag: "ui", rule: Read, summary: "The catalog with facets, paged", answers: ["text/html"],
    }
    GET "/catalog/{kind}/{namespace}/{name}" => ui::catalog::entity {
        tag: "ui", rule: Read, summary: "One entity", answers: ["text/html"],
    }
    GET "/approvals" => ui::approvals::list {
        tag: "ui", rule: Read, summary: "Pending subscription requests", answers: ["text/html"],
    }
    POST "/approvals/{id}" => ui::approvals::decide {
        tag: "ui", rule: Party(crate::offerings::routes::WRITE), summary: "Approves or rejects a request",
        body: Body::Form, ok: 303,
    }
    GET "/products" => ui::products::list_products {
        tag: "ui", rule: Read, summary: "Products", answers: ["text/html"],
    }
    GET "/products/{namespace}/{name}" => ui::products::product {
        tag: "ui", rule: Read, summary: "One product", answers: ["text/html"],
    }
    GET "/platforms" => ui::products::list_platforms {
        tag: "ui", rule: Read, summary: "Platforms", answers: ["text/html"],
    }
    GET "/platforms/{namespace}/{name}" => ui::products::platform {
        tag: "ui", rule: Read, summary: "One platform", answers: ["text/html"],
    }
    GET "/apis" => ui::apis::marketplace {
        tag: "ui", rule: Read, summary: "The API marketplace", answers: ["text/html"],
    }
    GET "/apis/{namespace}/{api}" => ui::apis::api_page {
        tag: "ui", rule: Read, summary: "One offered API with its plans", answers: ["text/html"],
    }
    POST "/apis/{namespace}/{api}/subscribe" => ui::apis::subscribe {
        tag: "ui", rule: Party(crate::offerings::routes::WRITE), summary: "Subscribes a consumer",
        body: Body::Form, ok: 303,
    }
    GET "/subscriptions" => ui::subscriptions::list {
        tag: "ui", rule: Read, summary: "Your subscriptions", answers: ["text/html"],
    }
    GET "/subscriptions/{id}" => ui::subscriptions::one {
        tag: "ui", rule: Read, summary: "One subscription and its keys", answers: ["text/html"],
    }
    POST "/subscriptions/{id}/keys" => ui::subscriptions::create_key {
        tag: "ui", rule: Party(crate::offerings::routes::WRITE), summary: "Creates a key, shown once",
        body: Body::Form, answers: ["text/html"],
    }
    POST "/keys/{id}/rotate" => ui::subscriptions::rotate_key {
        tag: "ui", rule: Party(crate::offerings::routes::WRITE), summary: "Rotates a key",
        body: Body::Form, answers: ["text/html"],
    }
    POST "/keys/{id}/revoke" => ui::subscriptions::revoke_key {
        tag: "ui", rule: Party(crate::offerings::routes::WRITE), summary: "Revokes a key", body: Body::Form, ok: 303,
    }
    GET "/dashboard" => ui::dashboard::dashboard {
        tag: "ui", rule: Read, summary: "The consumption dashboard", answers: ["text/html"],
    }
    GET "/governance" => ui::governance::findings {
        tag: "ui", rule: Read, summary: "Governance findings", answers: ["text/html"],
    }
    GET "/governance/graph" => ui::governance::graph {
        tag: "ui", rule: Read, summary: "An entity's dependency graph", answers: ["text/html"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_parameter_is_documented() {
        let undocumented: Vec<String> = all()
            .flat_map(|r| r.query.iter().map(move |q| (r, q)))
            .filter(|(_, q)| q.doc.trim().is_empty())
            .map(|(r, q)| format!("{} {} ?{}", r.method, r.path, q.name))
            .collect();
        assert!(undocumented.is_empty(), "query parameters without a description: {undocumented:?}");
    }

    #[test]
    fn every_json_body_schema_parses() {
        for r in all() {
            if let Body::Json(s) | Body::JsonOrNdjson(s) = r.body {
                assert!(serde_json::from_str::<serde_json::Value>(s).is_ok(), "{} {}: {s}", r.method, r.path);
            }
        }
    }

    #[test]
    fn the_index_finds_every_row_by_method_and_pattern() {
        let index = RouteIndex::new(&tables());
        for r in all() {
            assert!(std::ptr::eq(index.find(r.method, r.path).unwrap(), r), "{} {}", r.method, r.path);
        }
        assert!(index.find("PATCH", "/api/catalog/locations/{id}").is_none());
        assert_eq!(index.iter().count(), all().count());
    }

    /// docs/api.md's table is what the rows say. `PORTOLAN_WRITE_DOCS=1` rewrites it.
    #[test]
    fn docs_api_md_matches_the_rows() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let (before, after) = match (text.find(DOCS_BEGIN), text.find(DOCS_END)) {
            (Some(b), Some(e)) if b < e => (text[..b].to_owned(), text[e + DOCS_END.len()..].to_owned()),
            _ => (text.clone(), String::new()),
        };
        let want = format!("{before}{DOCS_BEGIN}{}{DOCS_END}{after}", markdown_table());
        if std::env::var_os("PORTOLAN_WRITE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
            return;
        }
        assert!(
            text == want,
            "docs/api.md's route table differs from the rows (src/**/routes.rs): regenerate it with \
             `PORTOLAN_WRITE_DOCS=1 cargo test --lib docs_api_md`"
        );
    }
}
