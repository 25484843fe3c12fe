//! Authentication and the policy check, before routing and before any body is read.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};

use super::policy::{self, Rule};
use super::{AuthState, Identity, Principal, store, tokens};
use crate::error::{ApiError, ErrorCode};
use crate::rows::RouteIndex;
use crate::state::AppState;

pub const ACCESS_COOKIE: &str = "portolan_token";

/// What the request's credentials say: none, a valid identity, or something invalid.
enum Credentials {
    None,
    Valid(Identity),
    Invalid,
}

async fn credentials(req: &ServiceRequest, state: &AppState) -> Result<Credentials, ApiError> {
    let auth: &AuthState = &state.auth;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|v| v.trim().to_owned());
    let token = match bearer {
        // An API key (for the gateway routes) is never a portal credential.
        Some(t) if t.starts_with(super::API_KEY_PREFIX) => return Ok(Credentials::None),
        Some(t) => t,
        None => match req.cookie(ACCESS_COOKIE) {
            Some(c) => c.value().to_owned(),
            None => return Ok(Credentials::None),
        },
    };
    if token.starts_with(tokens::SERVICE_PREFIX) {
        let hash = tokens::hash_token(&token);
        let now = crate::db::now_ms();
        if let Some(t) = auth.config_tokens.iter().find(|t| t.hash == hash) {
            if t.expires_at_ms.is_some_and(|e| e <= now) {
                return Ok(Credentials::Invalid);
            }
            return Ok(Credentials::Valid(auth.service_identity(
                format!("config:{}", t.name),
                t.name.clone(),
                t.scopes.clone(),
            )));
        }
        let pool = state.pool.clone();
        return Ok(match web::block(move || store::find_live_token(&pool, &hash)).await?? {
            Some(row) => Credentials::Valid(auth.service_identity(
                row.id,
                row.name,
                row.scopes.split_whitespace().map(str::to_owned).collect(),
            )),
            None => Credentials::Invalid,
        });
    }
    Ok(match auth.keys.verify::<tokens::Claims>(&token) {
        Some(c) if c.typ == "access" => Credentials::Valid(auth.identity_from_claims(c)),
        _ => Credentials::Invalid,
    })
}

fn reject(req: ServiceRequest, err: ApiError) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = err.error_response();
    Ok(req.into_response(res))
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::with_code(ErrorCode::Unauthenticated, message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::with_code(ErrorCode::Forbidden, message)
}

/// Middleware: finds the caller, applies the rule of the matched route's row (from the
/// [`RouteIndex`] that `routes::config` registers), and leaves the [`Identity`] in the request
/// for handlers.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let auth = &state.auth;
    // A path that matches a route pattern but not with this method gets the strictest rule:
    // routing may still pick another route for it, so no check is skipped.
    let rule = req.match_pattern().map(|p| {
        req.app_data::<web::Data<RouteIndex>>()
            .and_then(|index| index.find(req.method().as_str(), &p))
            .map_or(Rule::Admin, |r| r.rule)
    });
    let creds = match credentials(&req, &state).await {
        Ok(c) => c,
        Err(e) => return reject(req, e),
    };
    let identity = match creds {
        Credentials::Valid(identity) => identity,
        Credentials::Invalid => {
            // Open and sign-in routes still work with a stale cookie (to sign in again).
            if matches!(rule, Some(Rule::Open | Rule::SignIn | Rule::Webhook)) {
                Identity::anonymous()
            } else {
                return reject(req, unauthenticated("The token is invalid or expired; sign in again."));
            }
        }
        Credentials::None if auth.guest => Identity::guest(),
        Credentials::None => Identity::anonymous(),
    };
    let anonymous = identity.is_anonymous();
    if anonymous && !auth.anonymous_read && policy::is_protected_prefix(req.path()) {
        return reject(req, unauthenticated("Sign in or send a token: anonymous access is off."));
    }
    let denied = match rule {
        None => None,
        Some(rule) => denial(rule, &identity, auth),
    };
    if let Some(err) = denied {
        return reject(req, err);
    }
    req.extensions_mut().insert(identity);
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

/// Why `identity` may not use a route of `rule`, if it may not.
fn denial(rule: Rule, identity: &Identity, auth: &AuthState) -> Option<ApiError> {
    let anonymous = identity.is_anonymous();
    let service = matches!(identity.principal, Principal::Service { .. });
    match rule {
        Rule::Open | Rule::SignIn | Rule::Webhook => None,
        Rule::Read => (anonymous && !auth.anonymous_read).then(|| unauthenticated("Sign in to read.")),
        Rule::Metrics => (anonymous && !auth.anonymous_read && !auth.metrics_public)
            .then(|| unauthenticated("Send credentials for /metrics, or set server.metrics_public.")),
        Rule::SignedIn | Rule::Owner => {
            if anonymous {
                Some(unauthenticated("Sign in to change the catalog."))
            } else if !identity.can_write_catalog() {
                Some(if service {
                    forbidden("This token lacks the catalog:write scope.")
                } else {
                    forbidden("This identity may only read.")
                })
            } else {
                None
            }
        }
        Rule::Party(scope) => {
            if anonymous {
                Some(unauthenticated(format!("Sign in, or send a token with the {scope} scope.")))
            } else if service && !identity.admin && !identity.has_scope(scope) {
                Some(forbidden(format!("This token lacks the {scope} scope.")))
            } else if !service && !identity.can_write_catalog() {
                Some(forbidden("This identity may only read."))
            } else {
                None
            }
        }
        Rule::Scope(scope) => {
            if anonymous {
                Some(unauthenticated(format!("Send a service token with the {scope} scope.")))
            } else if !identity.admin && !identity.has_scope(scope) {
                Some(forbidden(format!("Only service tokens with the {scope} scope (or admins) may do this.")))
            } else {
                None
            }
        }
        Rule::OwnerOrScope(scope) => {
            if anonymous {
                Some(unauthenticated(format!("Sign in as the owner, or send a token with the {scope} scope.")))
            } else if service && !identity.admin && !identity.has_scope(scope) {
                Some(forbidden(format!("This token lacks the {scope} scope.")))
            } else if identity.reader_only && !service {
                Some(forbidden("This identity may only read."))
            } else {
                None
            }
        }
        Rule::Admin => {
            if anonymous {
                Some(unauthenticated("Sign in as an admin."))
            } else if !identity.admin {
                Some(forbidden("Only admins may do this."))
            } else {
                None
            }
        }
    }
}
