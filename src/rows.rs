//! A route row: the types every area declares its rows with ([`route_table!`]), apart from the
//! tables themselves (`crate::routes` assembles those from the domain list). The catalog and
//! every domain name this module, never `routes`, which names the root.

use std::collections::HashMap;

use actix_web::web;

use crate::auth::policy::Rule;

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
    /// A hot path (the gateway's key checks): its table is registered before every other, since
    /// actix tries patterns in order and each dynamic one costs a regex match per request.
    pub hot: bool,
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
///     hot: true,                         // optional, default false: its table goes first
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
                $(, hot: $hot:literal)?
                $(,)?
            }
        )*
    ) => {
        $(#[$meta])*
        pub const $table: &[$crate::rows::Route] = &[$(
            $crate::rows::Route {
                method: stringify!($method),
                path: $path,
                handler: stringify!($handler),
                tag: $tag,
                summary: $summary,
                rule: $rule,
                query: $crate::__route_field!([$(&[$($q),*])?] &[]),
                body: $crate::__route_field!([$($body)?] $crate::rows::Body::None),
                answers: $crate::__route_field!([$(&[$($media),*])?] &["application/json"]),
                ok: $crate::__route_field!([$($ok)?] 200),
                hot: $crate::__route_field!([$($hot)?] false),
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

/// The served rows by path pattern, for the middleware that runs before routing: it finds the
/// row of `HttpRequest::match_pattern` and the method. Registered as app data by `crate::routes::register`
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
