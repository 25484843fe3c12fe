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
    Conflict,
    Unauthenticated,
    Forbidden,
    PayloadTooLarge,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidInput,
        ErrorCode::InvalidEntity,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidEntity => "invalid_entity",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidInput | ErrorCode::InvalidEntity => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Backstage's error class name for the status, which its clients switch on.
    fn backstage_name(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput | ErrorCode::InvalidEntity => "InputError",
            ErrorCode::NotFound => "NotFoundError",
            ErrorCode::Conflict => "ConflictError",
            ErrorCode::Unauthenticated => "AuthenticationError",
            ErrorCode::Forbidden => "NotAllowedError",
            ErrorCode::PayloadTooLarge => "PayloadTooLargeError",
            ErrorCode::Unavailable => "ServiceUnavailableError",
            ErrorCode::Internal => "Error",
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
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
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
            ApiError::Internal(cause) => {
                tracing::error!(error.cause = format!("{cause:#}"), "Request failed with an internal error.");
                "Internal server error".to_owned()
            }
        };
        let mut error = json!({"name": code.backstage_name(), "message": message, "code": code.as_str()});
        if let ApiError::Client { details: Some(d), .. } = self {
            error["details"] = d.clone();
        }
        let body = json!({"error": error, "response": {"statusCode": code.status().as_u16()}});
        let mut res = HttpResponse::build(code.status()).content_type("application/json").body(body.to_string());
        res.extensions_mut().insert(ErrorParts(body));
        res
    }
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
        J::OverflowKnownLength { .. } | J::Overflow { .. } => {
            ApiError::with_code(ErrorCode::PayloadTooLarge, format!("request body is too large: {err}"))
        }
        J::ContentType => ApiError::input("request body must be JSON (Content-Type: application/json)"),
        _ => ApiError::input(format!("malformed request body: {err}")),
    };
    api.into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::input(format!("malformed query: {err}")).into()
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
    fn an_internal_error_body_hides_its_cause() {
        let res = ApiError::Internal(anyhow::anyhow!("password=hunter2")).error_response();
        assert_eq!(res.status(), 500);
        let ErrorParts(body) = res.extensions().get::<ErrorParts>().cloned().unwrap();
        assert_eq!(body["error"]["message"], "Internal server error");
        assert!(!body.to_string().contains("hunter2"));
    }
}
