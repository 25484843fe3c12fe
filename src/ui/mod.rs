//! The web UI: server-rendered HTML pages (maud) for people, served by the same binary.
//!
//! Pages get their data from the same domain functions the API's handlers call (never HTTP to
//! itself) and render the typed views those return (each domain's `views` module, the
//! catalog's [`crate::catalog::view`]). Assets (CSS, htmx, our own small script)
//! are embedded in the binary ([`assets`]). [`middleware`] gives every UI path its
//! Content-Security-Policy, the CSRF cookie and HTML error pages; `/api/*` keeps JSON errors.
//! Mutating UI routes are rows of the one route table and the one policy table, like the API's,
//! and every form carries the CSRF token ([`CsrfForm`]).

pub mod apis;
pub mod approvals;
pub mod assets;
pub mod catalog;
pub mod chart;
pub mod create;
pub mod create_form;
pub mod create_task;
pub mod dashboard;
pub mod delivery;
pub mod governance;
pub mod health;
pub mod highlight;
pub mod home;
pub mod layout;
pub mod middleware;
pub mod numbers;
pub mod products;
pub mod roadmap;
pub mod standards;
pub mod subscriptions;
pub mod teams;
pub mod timeline;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::auth::{Identity, Principal};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub use layout::Ctx;

/// The browser's random CSRF seed; the token forms carry is derived from it and the session.
pub const CSRF_COOKIE: &str = "portolan_csrf";
pub const CSRF_FIELD: &str = "csrf";

/// The CSRF seed of this request's browser (the cookie's, or the one the middleware just made).
#[derive(Debug, Clone)]
pub struct CsrfSeed(pub String);

/// Paths that are the UI's (HTML pages, CSP, HTML errors): everything but the API and the
/// operational endpoints.
pub fn is_ui_path(path: &str) -> bool {
    !["/api/", "/healthz", "/readyz", "/metrics", "/schemas/"]
        .iter()
        .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
}

/// A filter value from a query parameter: `None` when empty.
pub fn opt(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

/// Runs a domain's blocking view off the async workers.
pub async fn blocking<D: ?Sized + Send + Sync + 'static, T: Send + 'static>(
    domain: &web::Data<D>,
    state: &AppState,
    f: impl FnOnce(&D, &crate::db::Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (domain, pool) = (domain.clone().into_inner(), state.pool.clone());
    web::block(move || f(&domain, &pool)).await?
}

/// May this person act as the owner of these entities (admins and guests always may)?
pub async fn may_own(state: &AppState, identity: &Identity, keys: Vec<String>) -> bool {
    if !identity.can_write_catalog() {
        return false;
    }
    crate::auth::require_owner(&state.pool, identity, keys, "act").await.is_ok()
}

/// An HTML page answer.
pub fn html(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(markup.into_string())
}

/// After a form: back to a page (303, so a reload does not post again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", location)).finish()
}

/// The display name of a person.
pub fn who(identity: &Identity) -> String {
    match &identity.principal {
        Principal::Anonymous => "not signed in".into(),
        Principal::Guest => "guest".into(),
        Principal::User { sub, email } => email.clone().unwrap_or_else(|| sub.clone()),
        Principal::Service { name, .. } => format!("service {name}"),
    }
}

/// What the CSRF token of a browser's seed and a session authenticates: the token is its MAC
/// under the server's signing key. Another site can neither read a token nor make one (setting
/// the seed cookie, even to a seed it holds a token for, does not give it one for the visitor's
/// session), and signing in as someone else changes it.
fn csrf_message(seed: &str, req: &HttpRequest) -> Vec<u8> {
    let session = match req.extensions().get::<Identity>().map(|i| i.principal.clone()) {
        Some(Principal::User { sub, .. }) => format!("user {sub}"),
        Some(Principal::Service { name, .. }) => format!("service {name}"),
        Some(Principal::Guest) => "guest".to_owned(),
        Some(Principal::Anonymous) | None => "anonymous".to_owned(),
    };
    format!("portolan-csrf\n{seed}\n{session}").into_bytes()
}

/// A form body checked against the CSRF token: the `csrf` field must be the token of the
/// browser's seed cookie and of the session. Every UI POST handler takes one, so a form posted
/// from another site (which can neither read nor make the token) is refused.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let message = req.cookie(CSRF_COOKIE).map(|c| csrf_message(c.value(), req));
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            let refused = || {
                actix_web::Error::from(ApiError::with_code(
                    ErrorCode::Forbidden,
                    "This form was not sent from a page of this portal (its CSRF token is missing or stale): reload the page and try again.",
                ))
            };
            let pairs = form.await.map_err(|_| ApiError::input("The form could not be read."))?.into_inner();
            let sent = pairs.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.clone());
            match (message, sent, state) {
                (Some(m), Some(s), Some(state)) if state.auth.keys.mac_matches(&m, &s) => {}
                _ => return Err(refused()),
            }
            let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != CSRF_FIELD).collect();
            let text = serde_urlencoded::to_string(&rest).map_err(anyhow::Error::from).map_err(ApiError::from)?;
            let value = serde_urlencoded::from_str(&text).map_err(|e| {
                ApiError::input(format!("The form: {}", crate::error::plain_serde_message(&e.to_string())))
            })?;
            Ok(CsrfForm(value))
        })
    }
}

/// The CSRF token of this request's browser and session, for its forms.
pub fn csrf_of(req: &HttpRequest) -> String {
    let seed = req.extensions().get::<CsrfSeed>().map(|t| t.0.clone());
    match (seed, req.app_data::<web::Data<AppState>>()) {
        (Some(seed), Some(state)) => state.auth.keys.mac(&csrf_message(&seed, req)),
        _ => String::new(),
    }
}
