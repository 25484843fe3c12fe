//! The frame of every page: head (our CSS and scripts only), navigation, the guest banner,
//! sign in and out, and the HTML error page.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use maud::{DOCTYPE, Markup, html};

use crate::auth::{Identity, Principal};
use crate::state::AppState;

/// What every page needs to know about the request.
pub struct Ctx {
    pub identity: Identity,
    pub csrf: String,
    pub guest_mode: bool,
    /// Configured sign-in providers (ids).
    pub providers: Vec<String>,
    pub path: String,
    /// The main navigation: every domain's entries, in rank order.
    pub nav: Vec<crate::domain::NavEntry>,
}

impl Ctx {
    pub fn new(req: &HttpRequest, state: &AppState) -> Self {
        let identity = req.extensions().get::<Identity>().cloned().unwrap_or_else(Identity::anonymous);
        let mut providers: Vec<String> = state.auth.providers.keys().cloned().collect();
        providers.sort();
        Self {
            identity,
            csrf: super::csrf_of(req),
            guest_mode: state.auth.guest,
            providers,
            path: req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into()),
            nav: req.app_data::<web::Data<crate::domain::Navigation>>().map(|n| n.entries()).unwrap_or_default(),
        }
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(super::CSRF_FIELD) value=(self.csrf); }
    }

    pub fn signed_in(&self) -> bool {
        matches!(self.identity.principal, Principal::User { .. } | Principal::Service { .. })
    }
}

fn current(path: &str, href: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    if href == "/" { path == "/" } else { path == href || path.starts_with(&format!("{href}/")) }
}

/// A whole page around `body`.
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
                title { (title) " · portolan" }
                link rel="stylesheet" href=(super::assets::href("portolan.css"));
                link rel="icon" href=(super::assets::href("favicon.svg")) type="image/svg+xml";
                script src=(super::assets::href("htmx.min.js")) defer {}
                script src=(super::assets::href("portolan.js")) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "portolan" }
                    nav aria-label="Main" {
                        ul {
                            @for crate::domain::NavEntry { path: href, label, .. } in &ctx.nav {
                                li {
                                    @if current(&ctx.path, href) {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div class="who" { (account(ctx)) }
                }
                @if ctx.guest_mode {
                    div class="banner" role="status" {
                        strong { "Guest mode." }
                        " Anyone who can reach this portal may change everything. Configure [auth] before sharing it."
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer { "portolan " (env!("CARGO_PKG_VERSION")) " · " a href="/api/docs/" { "API" } }
            }
        }
    }
}

fn account(ctx: &Ctx) -> Markup {
    html! {
        @if ctx.signed_in() {
            span { (super::who(&ctx.identity)) }
            form method="post" action="/signout" class="inline" {
                (ctx.csrf_field())
                button type="submit" { "Sign out" }
            }
        } @else if ctx.guest_mode {
            span { "guest" }
        } @else {
            a href={ "/signin?redirect=" (urlencode(&ctx.path)) } { "Sign in" }
        }
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /signin`: the configured providers.
pub async fn signin(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, crate::error::ApiError> {
    let ctx = Ctx::new(&req, &state);
    let redirect = req
        .uri()
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "redirect").map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| "/".into());
    if !crate::auth::redirect::is_local(&redirect) {
        return Err(crate::error::ApiError::input(crate::auth::redirect::RULE));
    }
    let body = html! {
        @if ctx.providers.is_empty() {
            p { "No sign-in provider is configured." }
            @if ctx.guest_mode { p { "This portal runs in guest mode: you may use it without signing in." } }
        } @else {
            p { "Choose how to sign in:" }
            ul class="providers" {
                @for p in &ctx.providers {
                    li { a class="button" href={ "/api/auth/" (p) "/start?redirect=" (urlencode(&redirect)) } { "Sign in with " (p) } }
                }
            }
        }
    };
    Ok(super::html(page(&ctx, "Sign in", body)))
}

/// `POST /signout`: the API's logout (the session ends server-side, the cookies are dropped),
/// then home.
pub async fn signout(
    state: web::Data<AppState>,
    req: HttpRequest,
    _form: super::CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let dropped = crate::auth::handlers::logout(state, req).await?;
    let mut res = super::see_other("/");
    for cookie in dropped.cookies() {
        let _ = res.add_cookie(&cookie);
    }
    Ok(res)
}

/// The HTML error page for a status and message.
pub fn error_page(status: u16, message: &str, signed_in: bool) -> String {
    let title = match status {
        401 => "Sign in needed",
        403 => "Not allowed",
        404 => "Not found",
        400 | 422 => "That did not work",
        _ => "Something went wrong",
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · portolan" }
                link rel="stylesheet" href=(super::assets::href("portolan.css"));
            }
            body {
                header class="top" { a class="brand" href="/" { "portolan" } }
                main id="main" {
                    h1 { (title) }
                    p class="error" { (message) }
                    p {
                        a href="/" { "Home" }
                        @if status == 401 && !signed_in { " · " a href="/signin" { "Sign in" } }
                    }
                }
            }
        }
    }
    .into_string()
}
