//! The one error type of the HTTP API: stable codes, one status mapping, one JSON shape.
//!
//! The body is Backstage's error shape, so Backstage clients surface the message, plus our
//! stable `code` and, for validation errors, `details` (JSON path and message per problem):
//!
//! ```json
//! {"error": {"name": "InputError", "message": "...", "code": "invalid_entity", "details": [...]},
//!  "request": {"method": "POST", "url": "/api/catalog/locations"},
//!  "response": {"statusCode": 400}}
//! ```
//! A 5xx body is opaque; its cause is logged once, here.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};

/// Every error code a client can rely on. Never rename one; add new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    InvalidEntity,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Unauthenticated,
    Forbidden,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    StorageFull,
    Internal,
    UnsupportedMediaType,
    MisdirectedRequest,
    /// An `Idempotency-Key` sent again with another body (409).
    IdempotencyConflict,
    QueryTimeout,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidInput,
        ErrorCode::InvalidEntity,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::Unavailable,
        ErrorCode::StorageFull,
        ErrorCode::Internal,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MisdirectedRequest,
        ErrorCode::IdempotencyConflict,
        ErrorCode::QueryTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidEntity => "invalid_entity",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::Internal => "internal",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MisdirectedRequest => "misdirected_request",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::QueryTimeout => "query_timeout",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidInput | ErrorCode::InvalidEntity => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::IdempotencyConflict => StatusCode::CONFLICT,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Unavailable | ErrorCode::QueryTimeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    /// Backstage's error class name for the status, which its clients switch on.
    fn backstage_name(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput | ErrorCode::InvalidEntity => "InputError",
            ErrorCode::NotFound => "NotFoundError",
            ErrorCode::MethodNotAllowed => "MethodNotAllowedError",
            ErrorCode::Conflict | ErrorCode::IdempotencyConflict => "ConflictError",
            ErrorCode::Unauthenticated => "AuthenticationError",
            ErrorCode::Forbidden => "NotAllowedError",
            ErrorCode::PayloadTooLarge => "PayloadTooLargeError",
            ErrorCode::RequestTimeout => "RequestTimeoutError",
            ErrorCode::Unavailable | ErrorCode::QueryTimeout => "ServiceUnavailableError",
            ErrorCode::StorageFull => "InsufficientStorageError",
            ErrorCode::Internal => "Error",
            ErrorCode::UnsupportedMediaType => "UnsupportedMediaTypeError",
            ErrorCode::MisdirectedRequest => "MisdirectedRequestError",
        }
    }
}

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Client { code: ErrorCode, message: String, details: Option<Value> },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn input(message: impl Into<String>) -> Self {
        Self::Client { code: ErrorCode::InvalidInput, message: message.into(), details: None }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Client { code: ErrorCode::NotFound, message: message.into(), details: None }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Client { code: ErrorCode::Conflict, message: message.into(), details: None }
    }
    pub fn invalid_entity(message: impl Into<String>, details: impl Serialize) -> Self {
        Self::Client {
            code: ErrorCode::InvalidEntity,
            message: message.into(),
            details: serde_json::to_value(details).ok(),
        }
    }
    pub fn with_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Client { code, message: message.into(), details: None }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Client { code, .. } => *code,
            ApiError::Internal(cause) if crate::db::read::read_timeout_of(cause).is_some() => ErrorCode::QueryTimeout,
            ApiError::Internal(cause) if is_connection_loss(cause) => ErrorCode::Unavailable,
            ApiError::Internal(cause) if is_storage_full(cause) => ErrorCode::StorageFull,
            ApiError::Internal(cause) if is_nul_in_text(cause) => ErrorCode::InvalidInput,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// Whether an error comes from losing the database (a restart, a failover, a pool that cannot
/// connect) rather than from a defect: such a request is answered 503 `unavailable`, never a
/// 500, because a write it made may well have committed before the connection went.
pub fn is_connection_loss(e: &anyhow::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    const SIGNS: [&str; 7] = [
        "terminating connection",
        "server closed the connection",
        "connection to server",
        "no connection to the server",
        "could not connect to server",
        "the database system is starting up",
        "the database system is shutting down",
    ];
    e.chain().any(|cause| {
        if cause.downcast_ref::<r2d2::Error>().is_some() || cause.downcast_ref::<diesel::ConnectionError>().is_some() {
            return true;
        }
        if let Some(DieselError::DatabaseError(kind, info)) = cause.downcast_ref::<DieselError>() {
            return matches!(kind, DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand)
                || SIGNS.iter().any(|s| info.message().contains(s));
        }
        let text = cause.to_string();
        SIGNS.iter().any(|s| text.contains(s))
    })
}

/// Whether PostgreSQL refused a text value for holding a NUL character (SQLSTATE 22021, "invalid
/// byte sequence for encoding \"UTF8\": 0x00"): the request's input, not a defect, so a 400.
pub fn is_nul_in_text(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.to_string().contains("invalid byte sequence for encoding \"UTF8\": 0x00"))
}

/// Whether an error comes from the database's disk being full (SQLite's `SQLITE_FULL`,
/// PostgreSQL's `53100 disk_full`): the transaction was rolled back, nothing changed, and the
/// request can succeed once space is freed.
pub fn is_storage_full(e: &anyhow::Error) -> bool {
    const SIGNS: [&str; 3] = ["database or disk is full", "No space left on device", "could not extend file"];
    e.chain().any(|cause| {
        let text = match cause.downcast_ref::<diesel::result::Error>() {
            Some(diesel::result::Error::DatabaseError(_, info)) => info.message().to_owned(),
            _ => cause.to_string(),
        };
        SIGNS.iter().any(|s| text.contains(s))
    })
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        match e {
            crate::catalog::CatalogError::Storage(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// The error part of a response, kept on the response so the middleware can add the request.
#[derive(Clone)]
struct ErrorParts(Value);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let code = self.code();
        let message = match self {
            ApiError::Client { message, .. } => message.clone(),
            ApiError::Internal(cause) if code == ErrorCode::Unavailable => {
                tracing::warn!(error.cause = format!("{cause:#}"), "Request failed: the database connection was lost.");
                "The database connection was lost while answering: a change this request made may have been \
                 saved. Check before retrying (a retried create may answer 409)."
                    .to_owned()
            }
            ApiError::Internal(cause) if code == ErrorCode::StorageFull => {
                tracing::error!(error.cause = format!("{cause:#}"), "Request failed: the database's disk is full.");
                "The database's disk is full: nothing this request would have changed was saved. Free space \
                 on the database's disk and retry."
                    .to_owned()
            }
            ApiError::Internal(cause) if code == ErrorCode::QueryTimeout => {
                let ms = crate::db::read::read_timeout_of(cause).map_or(0, |t| t.ms);
                tracing::warn!(timeout_ms = ms, "A reader's query ran past the read timeout and was cancelled.");
                format!(
                    "The query ran longer than the read timeout of {ms} ms (database.read_timeout_ms) and was \
                     cancelled: narrow it (fewer conditions or sort terms, a smaller page) or retry later."
                )
            }
            ApiError::Internal(_) if code == ErrorCode::InvalidInput => {
                "A value in this request (a query parameter or a body field) contains the NUL character \
                 (\\u0000 or %00), which text cannot hold here; remove it."
                    .to_owned()
            }
            ApiError::Internal(cause) => {
                tracing::error!(error.cause = format!("{cause:#}"), "Request failed with an internal error.");
                "Internal server error".to_owned()
            }
        };
        let mut error = json!({"name": code.backstage_name(), "message": message, "code": code.as_str()});
        if let ApiError::Client { details: Some(d), .. } = self {
            error["details"] = d.clone();
        }
        let mut body = json!({"error": error, "response": {"statusCode": code.status().as_u16()}});
        // A form's problems also go where Backstage's scaffolder clients read them (`errors`).
        if let ApiError::Client { details: Some(d), .. } = self
            && d["errors"].is_array()
        {
            body["errors"] = d["errors"].clone();
        }
        let mut res = HttpResponse::build(code.status());
        if matches!(code, ErrorCode::Unavailable | ErrorCode::QueryTimeout) {
            res.insert_header(("retry-after", "1"));
        }
        let mut res = res.content_type("application/json").body(body.to_string());
        res.extensions_mut().insert(ErrorParts(body));
        res
    }
}

/// The error body of a request actix refused before any handler ran (see `wire`): the same
/// shape, with `invalid_input`, for a 400 or 431.
pub fn early_error_body(status: u16, message: &str, method: &str, url: &str) -> String {
    let code = ErrorCode::InvalidInput;
    json!({
        "error": {"name": code.backstage_name(), "message": message, "code": code.as_str()},
        "request": {"method": method, "url": url},
        "response": {"statusCode": status},
    })
    .to_string()
}

/// Middleware: adds `request: {method, url}` to error bodies, as Backstage's bodies have.
pub async fn add_request_to_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Cheap clones (the URI shares its buffer); turned into text only for an error.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let res = next.call(req).await?.map_into_boxed_body();
    let parts = res.response().extensions().get::<ErrorParts>().cloned();
    let Some(ErrorParts(mut body)) = parts else {
        return Ok(res);
    };
    body["request"] = json!({"method": method.as_str(), "url": uri.to_string()});
    Ok(res.map_body(|head, _| {
        head.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        BoxBody::new(body.to_string())
    }))
}

/// Turns extractor failures (bad JSON, bad query, bad path) into our error shape.
pub fn json_error_handler(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { length, limit } => ApiError::with_code(
            ErrorCode::PayloadTooLarge,
            format!("request body is too large: {length} bytes, more than the limit of {limit} bytes"),
        ),
        J::Overflow { limit } => ApiError::with_code(
            ErrorCode::PayloadTooLarge,
            format!("request body is too large: more than the limit of {limit} bytes"),
        ),
        J::ContentType => ApiError::with_code(
            ErrorCode::UnsupportedMediaType,
            "this route takes a JSON body: send it with Content-Type: application/json",
        ),
        // serde_json's guard against deep recursion; the JSON itself may be valid.
        J::Deserialize(e) if e.to_string().starts_with("recursion limit exceeded") => ApiError::input(
            "request body is nested too deeply: more than 128 levels of arrays and objects (a query predicate \
             may nest at most 8 levels)",
        ),
        J::Deserialize(e) if e.is_syntax() || e.is_eof() => ApiError::input(format!(
            "malformed request body: not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
        J::Deserialize(e) => ApiError::input(format!("invalid request body: {}", plain_serde_message(&e.to_string()))),
        _ => ApiError::input("malformed request body: it could not be read"),
    };
    api.into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let message = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => plain_serde_message(&e.to_string()),
        _ => "it could not be read".to_owned(),
    };
    ApiError::input(format!("invalid query string: {message}")).into()
}

/// A JSON request body deserialized into `T`, whose errors name the field and what was expected
/// in the user's words (`invalid request body at entityRefs[0]: expected a string, got the
/// number 1`). The body is read under the app's `JsonConfig` (size limit, content type).
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let json = actix_web::web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            // serde reads a struct from a JSON array too (field by field); a body documented as
            // an object must be one. Only list bodies (`Vec<_>`, or a `Value` its handler
            // reads as one event or a list of them) take an array.
            let name = std::any::type_name::<T>();
            if value.is_array() && !name.starts_with("alloc::vec::Vec<") && name != "serde_json::value::Value" {
                return Err(ApiError::input("invalid request body: expected an object, got a list").into());
            }
            serde_path_to_error::deserialize(value).map(Body).map_err(|e| {
                let at = e.path().to_string();
                let message = plain_serde_message(&e.inner().to_string());
                let place = if at == "." { String::new() } else { format!(" at {at}") };
                ApiError::input(format!("invalid request body{place}: {message}")).into()
            })
        })
    }
}

/// Whether a request carries a body: a `Content-Length` other than 0, or a `Transfer-Encoding`.
pub fn has_body(headers: &actix_web::http::header::HeaderMap) -> bool {
    use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|n| n.trim().parse::<u64>().ok()) != Some(0))
}

/// A JSON body a route may go without (`None` when the request has none). A body that is
/// present is read exactly as a [`Body`]: wrong types, bad JSON or a body too large are errors,
/// never a silent default.
pub struct OptionalBody<T>(pub Option<T>);

impl<T> OptionalBody<T> {
    pub fn into_inner(self) -> Option<T> {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalBody<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        if !has_body(req.headers()) {
            return Box::pin(std::future::ready(Ok(OptionalBody(None))));
        }
        let body = <Body<T> as actix_web::FromRequest>::from_request(req, payload);
        Box::pin(async move { Ok(OptionalBody(Some(body.await?.into_inner()))) })
    }
}

/// A query string deserialized into `T`, whose errors name the parameter and what was expected
/// (`invalid query string at dryRun: expected true or false`).
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let pairs = url::form_urlencoded::parse(req.query_string().as_bytes());
        let de = serde_urlencoded::Deserializer::new(pairs);
        std::future::ready(serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let at = e.path().to_string();
            let place = if at == "." { String::new() } else { format!(" at {at}") };
            let message = match e.inner().to_string() {
                m if m.starts_with("provided string was not `true` or `false`") => "expected true or false".to_owned(),
                m => plain_serde_message(&m),
            };
            ApiError::input(format!("invalid query string{place}: {message}")).into()
        }))
    }
}

/// A serde message in the user's words: no Rust type names, no backticks, "expected X, got Y".
pub fn plain_serde_message(msg: &str) -> String {
    use std::sync::LazyLock;
    static POSITION: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r" at line \d+ column \d+$").unwrap());
    static INVALID: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^invalid (?:type|value): (.*), expected (.*)$").unwrap());
    let msg = POSITION.replace(msg.trim(), "");
    let msg = msg.strip_prefix("Json deserialize error: ").unwrap_or(&msg);
    static LENGTH: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^invalid length (\d+), expected (.*)$").unwrap());
    let msg = match (INVALID.captures(msg), LENGTH.captures(msg)) {
        (Some(c), _) => format!("expected {}, got {}", expected_words(&c[2]), got_words(&c[1])),
        (None, Some(c)) if c[2].starts_with("struct ") => "expected an object, got a list".to_owned(),
        (None, Some(c)) => format!("expected {}, got {} item(s)", expected_words(&c[2]), &c[1]),
        (None, None) => msg.to_owned(),
    };
    let msg = match msg.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        Some(field) => format!("\"{field}\" is required"),
        None => msg,
    };
    let msg = msg.replace("unknown variant", "unknown value").replace(", expected", "; expected");
    msg.replace('`', "\"")
}

/// What serde expected, in words: `struct ByRefs` is an object, a sequence a list.
fn expected_words(expected: &str) -> String {
    static TYPES: &[(&str, &str)] = &[
        ("a sequence", "a list"),
        ("a map", "an object"),
        ("a boolean", "true or false"),
        ("usize", "a whole number, zero or greater"),
        ("u64", "a whole number, zero or greater"),
        ("u32", "a whole number, zero or greater"),
        ("u16", "a whole number, zero or greater"),
        ("u8", "a whole number, zero or greater"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
    ];
    if expected.starts_with("struct ") || expected.starts_with("map ") {
        return "an object".into();
    }
    if expected.starts_with("enum ") {
        return "one of the allowed values".into();
    }
    TYPES.iter().find(|(k, _)| *k == expected).map_or_else(|| expected.replace('`', "\""), |(_, v)| (*v).to_owned())
}

/// What serde got, in words: `map` is an object, `integer \`1\`` the number 1.
fn got_words(got: &str) -> String {
    let got = got.trim();
    match got {
        "map" => return "an object".into(),
        "sequence" => return "a list".into(),
        "null" | "unit value" | "unit" | "Option value" => return "null".into(),
        _ => {}
    }
    for prefix in ["integer ", "floating point ", "boolean "] {
        if let Some(v) = got.strip_prefix(prefix) {
            let v = v.trim_matches('`');
            return if prefix == "boolean " { v.to_owned() } else { format!("the number {v}") };
        }
    }
    if let Some(s) = got.strip_prefix("string ") {
        return format!("the string {s}");
    }
    got.replace('`', "\"")
}

pub fn path_error_handler(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::input(format!("malformed path: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case_and_unique() {
        let names: std::collections::HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    #[test]
    fn serde_messages_are_said_in_the_users_words() {
        for (serde, ours) in [
            ("invalid type: string \"x\", expected a sequence", "expected a list, got the string \"x\""),
            ("invalid type: integer `1`, expected a string at line 1 column 9", "expected a string, got the number 1"),
            ("invalid type: boolean `true`, expected usize", "expected a whole number, zero or greater, got true"),
            ("missing field `entityRefs`", "\"entityRefs\" is required"),
            ("invalid digit found in string", "invalid digit found in string"),
            ("invalid length 1, expected struct AnalyzeTarget with 2 elements", "expected an object, got a list"),
            ("unknown field `x`, expected `a` or `b`", "unknown field \"x\"; expected \"a\" or \"b\""),
            (
                "unknown variant `x`, expected `reject` or `refresh`",
                "unknown value \"x\"; expected \"reject\" or \"refresh\"",
            ),
            (
                "Json deserialize error: invalid type: sequence, expected struct NewLocation",
                "expected an object, got a list",
            ),
        ] {
            assert_eq!(plain_serde_message(serde), ours, "{serde}");
        }
    }

    #[test]
    fn a_read_timeout_is_a_503_query_timeout_naming_the_limit_with_retry_after() {
        let cause = anyhow::Error::from(crate::db::read::ReadTimeout { ms: 1234 }).context("loading a page");
        let res = ApiError::Internal(cause).error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get("retry-after").unwrap(), "1");
        let ErrorParts(body) = res.extensions().get::<ErrorParts>().cloned().unwrap();
        assert_eq!(body["error"]["code"], "query_timeout");
        assert_eq!(body["error"]["name"], "ServiceUnavailableError");
        assert!(body["error"]["message"].as_str().unwrap().contains("read timeout of 1234 ms"), "{body}");
    }

    #[test]
    fn an_internal_error_body_hides_its_cause() {
        let res = ApiError::Internal(anyhow::anyhow!("password=hunter2")).error_response();
        assert_eq!(res.status(), 500);
        let ErrorParts(body) = res.extensions().get::<ErrorParts>().cloned().unwrap();
        assert_eq!(body["error"]["message"], "Internal server error");
        assert!(!body.to_string().contains("hunter2"));
    }
}
