//! The OpenAPI 3.1 document, generated from the route rows alone, and Swagger UI (embedded, so it
//! works offline).

use std::sync::{Arc, LazyLock};

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::routes::{Body, OBJECT, ParamKind, Route};

/// The JSON Schema of a query parameter's value.
fn parameter_schema(kind: ParamKind) -> Value {
    match kind {
        ParamKind::Text => json!({"type": "string"}),
        ParamKind::Repeated => json!({"type": "array", "items": {"type": "string"}}),
        ParamKind::Count => json!({"type": "integer", "minimum": 0}),
        ParamKind::Flag => json!({"type": "boolean"}),
        ParamKind::OneOf(values) => json!({"type": "string", "enum": values}),
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
        let mut p = json!({"name": q.name, "in": "query", "required": false, "schema": parameter_schema(q.kind), "description": q.doc});
        if q.kind == ParamKind::Repeated {
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
    let body = match route.body {
        Body::None => None,
        // NDJSON is the same rows one a line; the document shows the JSON form.
        Body::Json(schema) | Body::JsonOrNdjson(schema) => Some(("application/json", schema)),
        Body::Form => Some(("application/x-www-form-urlencoded", OBJECT)),
    };
    if let Some((media, schema)) = body {
        let schema: Value = serde_json::from_str(schema).unwrap_or_else(|_| json!({}));
        op["requestBody"] = json!({"required": true, "content": {media: {"schema": schema}}});
    }
    op
}

/// The media types a successful answer of the route may have: text is a string, anything else
/// any JSON value.
fn success_content(route: &Route) -> Value {
    let mut content = Map::new();
    for media in route.answers {
        let schema = if media.starts_with("text/") { json!({"type": "string"}) } else { json!({}) };
        content.insert((*media).to_owned(), json!({"schema": schema}));
    }
    Value::Object(content)
}

/// The whole document.
pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in crate::routes::all().filter(|r| r.in_openapi()) {
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
        for r in crate::routes::all().filter(|r| r.in_openapi()) {
            let (path, _) = path_parameters(r.path);
            assert!(doc["paths"][&path][r.method.to_lowercase()].is_object(), "{} {} missing", r.method, r.path);
        }
    }
}
