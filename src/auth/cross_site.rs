//! What another site may not do through a visitor's browser, checked before authentication and
//! before any body is read:
//!
//! - guest mode answers only to loopback names and `server.allowed_hosts` (421 otherwise), so a
//!   DNS-rebinding name cannot reach a portal on someone's laptop;
//! - an API route that takes a JSON body (its row says so) takes it as JSON only (415 otherwise):
//!   HTML forms cannot send JSON, so a form on another site cannot call the API;
//! - a change (POST, PUT, PATCH, DELETE) sent with the session cookie must come from the
//!   portal's own pages: its `Origin` (or `Sec-Fetch-Site: same-origin`) says so (403 otherwise).
//!   A request with a Bearer token carries no ambient credential and is not checked.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use super::handlers::REFRESH_COOKIE;
use super::middleware::ACCESS_COOKIE;
use super::policy::Rule;
use crate::error::{ApiError, ErrorCode};
use crate::rows::{Body, Route, RouteIndex};
use crate::state::AppState;

/// The body types of the JSON API; some routes take NDJSON too.
const JSON: &[&str] = &["application/json"];
const JSON_OR_NDJSON: &[&str] = &["application/json", "application/x-ndjson"];

/// Middleware: the host, media type and origin checks above.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    if let Err(err) = check(&req, &state) {
        return Ok(req.into_response(err.error_response()));
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

fn check(req: &ServiceRequest, state: &AppState) -> Result<(), ApiError> {
    if state.auth.guest {
        check_host(req, &state.settings.server.allowed_hosts)?;
    }
    let method = req.method().as_str();
    if !matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
        return Ok(());
    }
    let index = req.app_data::<web::Data<RouteIndex>>();
    if let Some(route) = req.match_pattern().and_then(|p| index?.find(method, &p)) {
        // Webhooks check their own signature, and send no cookie.
        if route.rule == Rule::Webhook {
            return Ok(());
        }
        check_media_type(req, route)?;
    }
    check_origin(req, state)
}

/// Guest mode: the `Host` must be a loopback name or address, or one of `allowed`. Probes
/// (`/healthz`, `/readyz`) answer any name, as orchestrators call them by address.
fn check_host(req: &ServiceRequest, allowed: &[String]) -> Result<(), ApiError> {
    if matches!(req.path(), "/healthz" | "/readyz") {
        return Ok(());
    }
    let host = match req.headers().get(header::HOST) {
        Some(v) => v.to_str().unwrap_or_default(),
        None => req.uri().authority().map(|a| a.as_str()).unwrap_or_default(),
    };
    let name = host_name(host);
    if is_loopback(&name) || allowed.iter().any(|a| host_name(a) == name) {
        return Ok(());
    }
    Err(ApiError::with_code(
        ErrorCode::MisdirectedRequest,
        format!(
            "This portal runs in guest mode and answers only to loopback names (localhost, 127.0.0.1, [::1]) \
             and those listed in server.allowed_hosts; the Host \"{}\" is neither.",
            shown(host)
        ),
    ))
}

/// The name of a `Host` value (or of an `allowed_hosts` entry): lower-cased, without port,
/// IPv6 brackets or a trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        // A bare IPv6 address (an allowed_hosts entry) has several colons and no port.
        None if host.matches(':').count() > 1 => host,
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `localhost`, `*.localhost`, 127.0.0.0/8 and ::1.
fn is_loopback(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A route that takes a JSON body (its row's `body`): its `Content-Type` must be JSON (NDJSON
/// too where the row says so). A request without a body and without a type passes: the route
/// says whether it needs one. The web UI's form routes are not JSON routes.
fn check_media_type(req: &ServiceRequest, route: &Route) -> Result<(), ApiError> {
    let accepted = match route.body {
        Body::None | Body::Form => return Ok(()),
        Body::Json(_) => JSON,
        Body::JsonOrNdjson(_) => JSON_OR_NDJSON,
    };
    let sent = req.headers().get(header::CONTENT_TYPE);
    let essence =
        sent.and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let ok = match &essence {
        Some(e) => accepted.contains(&e.as_str()),
        None => sent.is_none() && !crate::error::has_body(req.headers()),
    };
    if ok {
        return Ok(());
    }
    let got = match sent {
        Some(v) => format!("Content-Type {}", shown(v.to_str().unwrap_or("(not text)"))),
        None => "no Content-Type".to_owned(),
    };
    Err(ApiError::with_code(
        ErrorCode::UnsupportedMediaType,
        format!(
            "{} {} takes its body as {}: send Content-Type: {} (this request has {got})",
            route.method,
            route.path,
            accepted.join(" or "),
            accepted.join(" or Content-Type: "),
        ),
    ))
}

/// A change sent with the session (or refresh) cookie must name this portal as its `Origin`, or
/// carry `Sec-Fetch-Site: same-origin`; without the cookie, an `Origin` that is present must
/// still be this portal's (guest mode has no cookie to check).
fn check_origin(req: &ServiceRequest, state: &AppState) -> Result<(), ApiError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")));
    if bearer {
        return Ok(());
    }
    let same_origin_fetch =
        req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"));
    if same_origin_fetch {
        return Ok(());
    }
    let cookie = req.cookie(ACCESS_COOKIE).is_some() || req.cookie(REFRESH_COOKIE).is_some();
    match req.headers().get(header::ORIGIN) {
        Some(origin) if is_portal(req, state, origin) => Ok(()),
        Some(origin) => Err(ApiError::with_code(
            ErrorCode::Forbidden,
            format!(
                "This change comes from another site (Origin {}), which may not act on this portal: \
                 send it from the portal's own pages, or with a Bearer token.",
                shown(origin.to_str().unwrap_or("(not text)"))
            ),
        )),
        None if cookie => Err(ApiError::with_code(
            ErrorCode::Forbidden,
            "A change sent with the session cookie must come from this portal's own pages: it needs an Origin \
             header naming this portal (browsers send one), or use a Bearer token instead of the cookie.",
        )),
        None => Ok(()),
    }
}

/// Whether `origin` is this portal: the scheme and host the request reached it at (as the
/// `Host` header, or a proxy's `Forwarded`/`X-Forwarded-*` headers, say), or `auth.base_url`.
fn is_portal(req: &ServiceRequest, state: &AppState, origin: &HeaderValue) -> bool {
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()).map(|u| u.origin()) else {
        return false;
    };
    if !origin.is_tuple() {
        return false;
    }
    let own = {
        let ci = req.connection_info();
        format!("{}://{}", ci.scheme(), ci.host())
    };
    [Some(own.as_str()), state.auth.base_url.as_deref()]
        .into_iter()
        .flatten()
        .any(|u| url::Url::parse(u).is_ok_and(|u| u.origin() == origin))
}

/// A header value as an error message may show it: printable ASCII, at most 200 characters.
fn shown(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_are_told_apart() {
        for (host, name) in [
            ("localhost:7007", "localhost"),
            ("LocalHost.", "localhost"),
            ("app.localhost:80", "app.localhost"),
            ("127.0.0.1:7007", "127.0.0.1"),
            ("127.9.8.7", "127.9.8.7"),
            ("[::1]:7007", "::1"),
        ] {
            assert_eq!(host_name(host), name, "{host}");
            assert!(is_loopback(&host_name(host)), "{host}");
        }
        for host in ["evil.example:7007", "localhost.evil.example", "10.0.0.1", "[::2]:80", "0.0.0.0:7007", ""] {
            assert!(!is_loopback(&host_name(host)), "{host}");
        }
        assert_eq!(host_name("fd00::1"), "fd00::1");
        assert_eq!(host_name("[FD00::1]"), "fd00::1");
        assert_eq!(host_name("Portal.Example:443"), "portal.example");
    }
}
