//! The `/api/auth` routes: sign-in start and callback, refresh, logout, `me`, service tokens.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::middleware::ACCESS_COOKIE;
use super::{AuthState, Identity, Principal, Resolved, store, tokens};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

const STATE_COOKIE: &str = "portolan_auth_state";
pub const REFRESH_COOKIE: &str = "portolan_refresh";
const STATE_TTL_SECS: u64 = 600;

/// The sign-in state kept in a signed, short-lived cookie between start and callback.
#[derive(Serialize, Deserialize)]
struct SignInState {
    typ: String,
    provider: String,
    csrf: String,
    verifier: String,
    nonce: String,
    redirect: String,
    iss: String,
    exp: u64,
}

fn cookie(name: &'static str, value: String, path: &'static str, max_age: u64) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(max_age as i64))
        .finish()
}

fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), path, 0);
    c.make_removal();
    c
}

fn provider<'a>(auth: &'a AuthState, name: &str) -> Result<&'a super::oidc::Provider, ApiError> {
    auth.providers
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("No sign-in provider named '{name}' is configured")))
}

/// The callback URL the provider sends the browser back to.
fn callback_url(req: &HttpRequest, auth: &AuthState, p: &super::oidc::Provider) -> String {
    let base = p.settings.redirect_base_url.clone().or_else(|| auth.base_url.clone()).unwrap_or_else(|| {
        let ci = req.connection_info();
        format!("{}://{}", ci.scheme(), ci.host())
    });
    format!("{}/api/auth/{}/handler/frame", base.trim_end_matches('/'), p.name)
}

#[derive(Deserialize)]
pub struct StartQuery {
    /// Where to send the browser after sign-in: a path on this server.
    redirect: Option<String>,
}

/// `GET /api/auth/{provider}/start`: redirects to the provider.
pub async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    query: crate::error::Query<StartQuery>,
) -> Result<HttpResponse, ApiError> {
    let auth = &state.auth;
    let p = provider(auth, &name)?;
    let redirect = query.into_inner().redirect.unwrap_or_else(|| "/api/auth/me".into());
    if !super::redirect::is_local(&redirect) {
        return Err(ApiError::input(super::redirect::RULE));
    }
    let nonce = tokens::random_token();
    let started = p.start(&callback_url(&req, auth, p), &nonce).await?;
    let sign_in = SignInState {
        typ: "state".into(),
        provider: p.name.clone(),
        csrf: started.csrf,
        verifier: started.verifier,
        nonce,
        redirect,
        iss: tokens::ISSUER.into(),
        exp: tokens::now_secs() + STATE_TTL_SECS,
    };
    let value = auth.keys.sign(&sign_in)?;
    Ok(HttpResponse::Found()
        .insert_header(("location", started.url))
        .cookie(cookie(STATE_COOKIE, value, "/api/auth", STATE_TTL_SECS))
        .finish())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn bad_state() -> ApiError {
    ApiError::with_code(
        ErrorCode::Unauthenticated,
        "The sign-in state is missing, expired or does not match; start the sign-in again.",
    )
}

/// Sets the access and refresh cookies for a resolved person, in the sign-in session `sid`.
fn signed_in(
    auth: &AuthState,
    who: &Resolved,
    sid: &str,
    res: &mut actix_web::HttpResponseBuilder,
) -> Result<String, ApiError> {
    let email = who.email.as_deref();
    let access = auth.keys.issue_in_session(&who.sub, &who.ownership, who.reader_only, email, false, sid)?;
    let refresh = auth.keys.issue_in_session(&who.sub, &who.ownership, who.reader_only, email, true, sid)?;
    res.cookie(cookie(ACCESS_COOKIE, access.clone(), "/", auth.keys.ttl_secs)).cookie(cookie(
        REFRESH_COOKIE,
        refresh,
        "/api/auth",
        auth.keys.refresh_ttl_secs,
    ));
    Ok(access)
}

/// `GET /api/auth/{provider}/handler/frame`: the provider's callback.
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    query: crate::error::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let auth = &state.auth;
    let p = provider(auth, &name)?;
    let q = query.into_inner();
    let saved: SignInState =
        req.cookie(STATE_COOKIE).and_then(|c| auth.keys.verify(c.value())).ok_or_else(bad_state)?;
    if saved.typ != "state" || saved.provider != p.name || q.state.as_deref() != Some(saved.csrf.as_str()) {
        return Err(bad_state());
    }
    if let Some(error) = q.error {
        let error: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        return Err(ApiError::with_code(
            ErrorCode::Unauthenticated,
            format!("The provider refused the sign-in ({error})."),
        ));
    }
    let code = q.code.ok_or_else(|| ApiError::input("the callback has no code"))?;
    let person = p.finish(&callback_url(&req, auth, p), &code, &saved.verifier, &saved.nonce).await?;
    let pool = state.pool.clone();
    let app = state.clone();
    let settings = p.settings.clone();
    let who = web::block(move || super::resolve(&pool, &app.auth, &settings, &person)).await??;
    tracing::info!(provider = %p.name, user = %who.sub, reader_only = who.reader_only, "Signed in.");
    // The start checked the redirect; a state signed before that check existed goes home instead.
    let location = if super::redirect::is_local(&saved.redirect) { saved.redirect } else { "/".to_owned() };
    let mut res = HttpResponse::Found();
    res.insert_header(("location", location)).cookie(removal(STATE_COOKIE, "/api/auth"));
    signed_in(auth, &who, &tokens::random_token(), &mut res)?;
    Ok(res.finish())
}

/// `POST /api/auth/refresh`: a new access token from the refresh cookie, with groups read again.
pub async fn refresh(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let auth = &state.auth;
    let claims: tokens::Claims = req
        .cookie(REFRESH_COOKIE)
        .and_then(|c| auth.keys.verify(c.value()))
        .filter(|c: &tokens::Claims| c.typ == "refresh")
        .ok_or_else(|| ApiError::with_code(ErrorCode::Unauthenticated, "No valid refresh cookie; sign in again."))?;
    // A session logged out (or one from before sessions were recorded) refreshes no more.
    let logged_out = || ApiError::with_code(ErrorCode::Unauthenticated, "This session was logged out; sign in again.");
    let sid = claims.sid.clone().ok_or_else(logged_out)?;
    let (pool, lookup) = (state.pool.clone(), sid.clone());
    if web::block(move || store::session_revoked(&pool, &lookup)).await?? {
        return Err(logged_out());
    }
    let who = if claims.ro {
        Resolved { sub: claims.sub, ownership: Vec::new(), reader_only: true, email: claims.email }
    } else {
        let pool = state.pool.clone();
        let app = state.clone();
        let sub = claims.sub.clone();
        let ownership = web::block(move || super::ownership_of(&pool, &app.auth, &sub)).await??.ok_or_else(|| {
            ApiError::with_code(ErrorCode::Forbidden, "The User entity is gone from the catalog; sign in again.")
        })?;
        Resolved { sub: claims.sub, ownership, reader_only: false, email: claims.email }
    };
    let mut res = HttpResponse::Ok();
    let token = signed_in(auth, &who, &sid, &mut res)?;
    Ok(res.json(json!({"token": token, "expiresInSeconds": auth.keys.ttl_secs})))
}

/// `POST /api/auth/logout`: ends the sign-in session server-side (its refresh tokens get 401
/// from now on) and drops the cookies.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    end_session(&state, &req).await?;
    Ok(HttpResponse::NoContent()
        .cookie(removal(ACCESS_COOKIE, "/"))
        .cookie(removal(REFRESH_COOKIE, "/api/auth"))
        .finish())
}

/// Records the sessions of the request's refresh and access cookies (the UI's sign-out only
/// sees the access cookie) as logged out, for as long as a refresh token of theirs could live.
async fn end_session(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let keys = &state.auth.keys;
    let mut sids: Vec<String> = [REFRESH_COOKIE, ACCESS_COOKIE]
        .iter()
        .filter_map(|name| req.cookie(name))
        .filter_map(|c| keys.verify::<tokens::Claims>(c.value()))
        .filter_map(|c| c.sid)
        .collect();
    sids.dedup();
    if sids.is_empty() {
        return Ok(());
    }
    let until = crate::db::now_ms() + (keys.refresh_ttl_secs as i64 + 60) * 1000;
    let pool = state.pool.clone();
    web::block(move || sids.iter().try_for_each(|sid| store::revoke_session(&pool, sid, until))).await??;
    Ok(())
}

/// `GET /api/auth/me`: the identity, its User entity, groups and ownership refs.
pub async fn me(
    state: web::Data<AppState>,
    catalog: web::Data<crate::catalog::Catalog>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let (kind, sub, email) = match &identity.principal {
        Principal::Anonymous => {
            return Err(ApiError::with_code(ErrorCode::Unauthenticated, "Not signed in."));
        }
        Principal::Guest => ("guest", None, None),
        Principal::User { sub, email } => ("user", Some(sub.clone()), email.clone()),
        Principal::Service { name, .. } => ("service", Some(format!("service:{name}")), None),
    };
    let user: Value = match sub.clone().filter(|s| s.starts_with("user:")) {
        Some(key) => {
            let pool = state.pool.clone();
            let seam = catalog.ingestor.seam.clone();
            match web::block(move || crate::catalog::read::get_entity(&pool, &seam, &key)).await?? {
                Some(text) => serde_json::from_str(&text).map_err(anyhow::Error::from)?,
                None => Value::Null,
            }
        }
        None => Value::Null,
    };
    let groups: Vec<&String> = identity.ownership.iter().filter(|r| r.starts_with("group:")).collect();
    Ok(HttpResponse::Ok().json(json!({
        "type": kind,
        "userEntityRef": sub,
        "email": email,
        "user": user,
        "groups": groups,
        "ownershipEntityRefs": identity.ownership,
        "admin": identity.admin,
        "readerOnly": identity.reader_only,
        "scopes": identity.scopes,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    scopes: Vec<String>,
    /// Lifetime in days; none: no expiry.
    #[serde(default, rename = "expiresInDays")]
    expires_in_days: Option<u32>,
}

fn token_json(row: &store::TokenRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "scopes": row.scopes.split_whitespace().collect::<Vec<_>>(),
        "createdBy": row.created_by,
        "createdAt": crate::db::rfc3339(row.created_at),
        "expiresAt": row.expires_at.map(crate::db::rfc3339),
        "revokedAt": row.revoked_at.map(crate::db::rfc3339),
    })
}

/// `POST /api/auth/tokens`: a new service token, shown once.
pub async fn create_token(
    state: web::Data<AppState>,
    identity: Identity,
    body: crate::error::Body<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::input("name must be 1 to 200 characters"));
    }
    if body.scopes.is_empty() {
        return Err(ApiError::input(format!("scopes must name at least one of {}", tokens::SCOPES.join(", "))));
    }
    if let Some(s) = body.scopes.iter().find(|s| !tokens::SCOPES.contains(&s.as_str())) {
        return Err(ApiError::input(format!("unknown scope '{s}'; known: {}", tokens::SCOPES.join(", "))));
    }
    let max_days = state.auth.max_token_days;
    if body.expires_in_days.is_some_and(|d| !(1..=max_days).contains(&d)) {
        return Err(ApiError::input(format!(
            "expiresInDays must be from 1 to {max_days} (auth.tokens.max_days); leave it out for a token that does not expire"
        )));
    }
    let now = crate::db::now_ms();
    let created_by = match &identity.principal {
        Principal::User { sub, .. } => sub.clone(),
        Principal::Service { name, .. } => format!("service:{name}"),
        Principal::Guest => "guest".into(),
        Principal::Anonymous => "anonymous".into(),
    };
    let mut scopes = body.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let row = store::TokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        scopes: scopes.join(" "),
        created_by,
        created_at: now,
        expires_at: body.expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
        revoked_at: None,
    };
    let (value, hash) = tokens::new_service_token();
    let pool = state.pool.clone();
    let stored = row.clone();
    web::block(move || store::insert_token(&pool, &stored, &hash)).await??;
    tracing::info!(token.id = %row.id, token.name = %row.name, "Created a service token.");
    let mut out = token_json(&row);
    out["token"] = Value::String(value);
    Ok(HttpResponse::Created().json(out))
}

/// `GET /api/auth/tokens`: every service token, without secrets.
pub async fn list_tokens(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || store::list_tokens(&pool)).await??;
    Ok(HttpResponse::Ok().json(rows.iter().map(token_json).collect::<Vec<_>>()))
}

/// `DELETE /api/auth/tokens/{id}`: revokes a token.
pub async fn revoke_token(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let pool = state.pool.clone();
    let lookup = id.clone();
    if web::block(move || store::revoke_token(&pool, &lookup)).await?? {
        tracing::info!(token.id = %id, "Revoked a service token.");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("No service token with id {id}")))
    }
}
