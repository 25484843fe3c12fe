//! For UI paths only: the Content-Security-Policy header, the CSRF seed cookie (`Secure` over
//! https, never on assets), and HTML error pages (a JSON error from a handler, the policy check
//! or the fallback becomes a page). `/api/*` and the operational endpoints pass through untouched.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};

use crate::state::AppState;

use super::{CSRF_COOKIE, CsrfSeed};

/// Everything from this server, nothing inline, no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

pub async fn ui_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !super::is_ui_path(req.path()) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    // Assets are the same for everyone and cached: they never set the cookie.
    let asset = req.path().starts_with("/ui/assets/");
    let existing = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()).filter(|v| v.len() >= 32);
    let fresh = existing.is_none() && !asset;
    let seed = existing.unwrap_or_else(crate::auth::tokens::random_token);
    // Only a fresh cookie needs to know whether the portal is served over https.
    let https = fresh
        && (req.connection_info().scheme() == "https"
            || req
                .app_data::<web::Data<AppState>>()
                .and_then(|s| s.auth.base_url.as_deref())
                .is_some_and(|u| u.starts_with("https://")));
    if !asset {
        req.extensions_mut().insert(CsrfSeed(seed.clone()));
    }
    let res = next.call(req).await?.map_into_boxed_body();
    let res = if res.status().as_u16() >= 400 && is_json(&res) { html_error(res).await } else { res };
    let mut res = res;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if fresh {
        let cookie = Cookie::build(CSRF_COOKIE, seed)
            .path("/")
            .http_only(true)
            .secure(https)
            .same_site(SameSite::Strict)
            .finish();
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

fn is_json(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The part of the JSON error (Backstage's shape) the HTML error page shows.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorMessage,
}

#[derive(serde::Deserialize)]
struct ErrorMessage {
    message: String,
}

/// The JSON error (Backstage's shape) as the HTML error page, same status.
async fn html_error(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let signed_in = res.request().extensions().get::<crate::auth::Identity>().is_some_and(|i| !i.is_anonymous());
    let (req, res) = res.into_parts();
    let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .ok()
        .map(|b| b.error.message)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let page = super::layout::error_page(status.as_u16(), &message, signed_in);
    let res = HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page);
    ServiceResponse::new(req, res)
}
