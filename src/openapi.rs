//! The OpenAPI 3.1 document, generated from the route table, and Swagger UI (embedded, so it
//! works offline).

use std::sync::{Arc, LazyLock};

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::routes::{ROUTES, Route};

/// What each query parameter means, wherever a route reads it.
fn parameter_doc(name: &str) -> (&'static str, Value) {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let integer = json!({"type": "integer", "minimum": 0});
    match name {
        "filter" => (
            "Repeatable; one set of comma-separated key=value conditions (AND); sets are OR-ed; a bare key means it exists",
            strings,
        ),
        "fields" => ("Comma-separated dot paths to return, such as kind,metadata.name", string),
        "order" => ("Repeatable; asc:<field> or desc:<field>", strings),
        "orderField" => ("Repeatable; <field>,asc or <field>,desc", strings),
        "offset" => ("Entities to skip", integer),
        "limit" => ("At most this many items", integer),
        "after" => ("Cursor from the previous page (GET /entities: from its Link header; events: nextCursor)", string),
        "cursor" => ("nextCursor or prevCursor of an earlier page; carries the whole query", string),
        "fullTextFilterTerm" => ("Case-insensitive substring to look for", string),
        "fullTextFilterFields" => {
            ("Comma-separated fields the term is looked for in (default: all string fields)", string)
        }
        "totalItems" => {
            ("include (default) or exclude", json!({"type": "string", "enum": ["include", "exclude", "true", "false"]}))
        }
        "facet" => ("Repeatable; a field to count values of", strings),
        "owner" => ("An owner ref, such as group:default/team-a", string),
        "domain" => ("A domain ref", string),
        "lifecycle" => ("production, experimental, deprecated, ...", string),
        "text" => ("Case-insensitive text to look for", string),
        "entity" => ("An entity ref", string),
        "depth" => ("How many edges to follow", integer),
        "relations" => ("Comma-separated relation types to follow", string),
        "direction" => ("out, in or both", string),
        "format" => ("json, dot or mermaid", string),
        "rule" => ("A rule id, such as platform-depends-on-product", string),
        "severity" => ("error, warning or info", string),
        "dryRun" => ("true: read the location and answer what it holds, storing nothing", json!({"type": "boolean"})),
        "onConflict" => (
            "reject (default) or refresh when the location exists",
            json!({"type": "string", "enum": ["reject", "refresh"]}),
        ),
        "redirect" => ("Where to send the browser after sign-in: a path on this server (default /api/auth/me)", string),
        "code" => ("The provider's authorization code", string),
        "state" => ("The CSRF state sent at start", string),
        "error" => ("The provider's error code, when sign-in failed", string),
        _ => ("", string),
    }
}

/// `{kind}` and `{file:.*}` segments of an actix path, and the OpenAPI form of the path.
fn path_parameters(path: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or(rest.len() - 1);
        let inner = &rest[start + 1..end];
        let name = inner.split(':').next().unwrap_or(inner);
        out.push_str(&format!("{{{name}}}"));
        names.push(name.to_owned());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (out, names)
}

fn operation(route: &Route) -> Value {
    let (_, path_params) = path_parameters(route.path);
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for q in route.query {
        let (description, schema) = parameter_doc(q);
        let mut p = json!({"name": q, "in": "query", "required": false, "schema": schema, "description": description});
        if schema_is_array(&p["schema"]) {
            p["style"] = json!("form");
            p["explode"] = json!(true);
        }
        parameters.push(p);
    }
    let ok = route.ok.to_string();
    let mut responses = Map::new();
    let success = if route.ok == 204 {
        json!({"description": "Done"})
    } else if route.ok == 302 {
        json!({"description": "Redirect (Location header)"})
    } else {
        json!({"description": "Success", "content": success_content(route)})
    };
    responses.insert(ok, success);
    responses.insert("default".into(), json!({"$ref": "#/components/responses/Error"}));
    let id = route.handler.replace("::", "_");
    let mut op = json!({
        "operationId": format!("{}_{}", route.method.to_lowercase(), id),
        "tags": [route.tag],
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if route.body {
        // Usage events are checked row by row (a bad row is rejected in the 200 answer, with its
        // index), so their items are not constrained here.
        let schema = if route.handler == "usage::post_events" {
            json!({"type": "array", "items": {}})
        } else if route.handler == "usage::post_kpis" {
            json!({"type": "array", "items": {"type": "object"}})
        } else {
            json!({"type": "object"})
        };
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    op
}

/// The media types a successful answer of the route may have.
fn success_content(route: &Route) -> Value {
    let any = json!({"schema": {}});
    let text = json!({"schema": {"type": "string"}});
    match route.path {
        "/metrics" => json!({"text/plain": text}),
        "/api/docs" | "/api/docs/{file:.*}" | "/api/docs/apis/{namespace}/{name}/{file:.*}" => json!({"*/*": any}),
        "/schemas/{file}" => json!({"application/schema+json": any}),
        "/api/catalog/events" => json!({"application/json": any, "text/event-stream": text}),
        "/api/portal/consumption" => json!({"application/json": any, "text/csv": text}),
        "/api/portal/graph" => json!({"application/json": any, "text/vnd.graphviz": text, "text/plain": text}),
        _ => json!({"application/json": any}),
    }
}

fn schema_is_array(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("array")
}

/// The whole document.
pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in ROUTES.iter().filter(|r| r.tag != "ui") {
        let (path, _) = path_parameters(route.path);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method.to_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "portolan",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An internal developer portal backend and software catalog. `/api/catalog` is Backstage's catalog API.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "entities", "description": "Backstage's entity routes"},
            {"name": "locations", "description": "Where entities are read from"},
            {"name": "events", "description": "The change feed"},
            {"name": "portal", "description": "Products, platforms, teams, the dependency graph, governance findings and scorecards"},
            {"name": "providers", "description": "GitHub and GitLab repository discovery"},
            {"name": "webhooks", "description": "Push webhooks from GitHub and GitLab"},
            {"name": "operations", "description": "Health, metrics, schemas and this document"},
            {"name": "auth", "description": "Sign-in, the caller's identity and service tokens"},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "response"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["name", "message"],
                            "properties": {
                                "name": {"type": "string", "description": "InputError, NotFoundError, ConflictError, NotAllowedError, AuthenticationError, ..."},
                                "message": {"type": "string"},
                                "code": {"type": "string", "description": "portolan's stable error code"}
                            }
                        },
                        "request": {"type": "object", "properties": {"method": {"type": "string"}, "url": {"type": "string"}}},
                        "response": {"type": "object", "properties": {"statusCode": {"type": "integer"}}}
                    }
                }
            },
            "responses": {
                "Error": {
                    "description": "An error, in Backstage's error shape",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        }
    })
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| build().to_string());

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));

static API_SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("definition")));

/// Swagger UI's pages: scripts and styles from this server only (its bundle sets inline styles),
/// requests to this server and, for "Try it out", to an API's own https servers; framed only by
/// this server's own pages (an API entity's page embeds it).
pub const SWAGGER_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self' https:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// A definition as the descriptor wrote it: data, never a page.
const DEFINITION_CSP: &str = "default-src 'none'; frame-ancestors 'self'; sandbox";

/// Sets the headers every Swagger UI answer carries: the policy, and no content sniffing.
fn with_headers(mut res: HttpResponse, csp: &'static str) -> HttpResponse {
    use actix_web::http::header::{self, HeaderValue};
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    res
}

/// `GET /api/docs`: Swagger UI needs the trailing slash for its relative file names.
pub async fn swagger_ui_root() -> HttpResponse {
    with_headers(HttpResponse::Found().insert_header(("Location", "/api/docs/")).finish(), SWAGGER_CSP)
}

/// `GET /api/docs/{file}`: Swagger UI's files, from the binary.
pub async fn swagger_ui(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    swagger_file(&file.into_inner(), SWAGGER_CONFIG.clone())
}

fn swagger_file(file: &str, config: Arc<utoipa_swagger_ui::Config<'static>>) -> Result<HttpResponse, ApiError> {
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(f)) => {
            Ok(with_headers(HttpResponse::Ok().content_type(f.content_type).body(f.bytes.into_owned()), SWAGGER_CSP))
        }
        Ok(None) => Err(ApiError::not_found(format!("no Swagger UI file named {file}"))),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!("Swagger UI: {e}"))),
    }
}

/// `GET /api/docs/apis/{namespace}/{name}/{file}`: Swagger UI on one API entity's own
/// definition. `definition` is the document as the descriptor wrote it (`spec.definition`,
/// placeholders resolved); every other file is Swagger UI's, pointed at it. The page of an
/// OpenAPI entity in the UI embeds it.
pub async fn api_swagger_ui(
    state: web::Data<crate::state::AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, name, file) = path.into_inner();
    if file != "definition" {
        // Relative to the page (`.../{name}/`), so no name needs encoding.
        return swagger_file(&file, API_SWAGGER_CONFIG.clone());
    }
    let key = crate::catalog::model::EntityRef::new("api", &namespace, &name).key();
    let Some(body) = state.cache.entity(&state.pool, &key).await? else {
        return Err(ApiError::not_found(format!("No entity named '{key}' found")));
    };
    let entity: Value = serde_json::from_slice(&body).map_err(anyhow::Error::from)?;
    let (text, json) = match entity.pointer("/spec/definition") {
        Some(Value::String(t)) => (t.clone(), t.trim_start().starts_with('{')),
        Some(Value::Null) | None => {
            return Err(ApiError::not_found(format!("The API '{key}' has no definition")));
        }
        Some(other) => (other.to_string(), true),
    };
    let content_type = if json { "application/json" } else { "application/yaml" };
    Ok(with_headers(HttpResponse::Ok().content_type(content_type).body(text), DEFINITION_CSP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_drop_patterns() {
        assert_eq!(
            path_parameters("/a/{kind}/b/{file:.*}"),
            ("/a/{kind}/b/{file}".into(), vec!["kind".into(), "file".into()])
        );
    }

    #[test]
    fn every_route_is_in_the_document() {
        let doc = build();
        for r in ROUTES.iter().filter(|r| r.tag != "ui") {
            let (path, _) = path_parameters(r.path);
            assert!(doc["paths"][&path][r.method.to_lowercase()].is_object(), "{} {} missing", r.method, r.path);
        }
    }
}
