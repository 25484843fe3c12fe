//! Auth's routes: sign-in, the caller's identity and service tokens.

use super::handlers as auth;
use super::policy::Rule::*;
use crate::rows::{Body, OBJECT, Param, route_table};

pub const REDIRECT: Param =
    Param::text("redirect", "Where to send the browser after sign-in: a path on this server (default /api/auth/me)");
pub const CODE: Param = Param::text("code", "The provider's authorization code");
pub const STATE: Param = Param::text("state", "The CSRF state sent at start");
pub const ERROR: Param = Param::text("error", "The provider's error code, when sign-in failed");

route_table! {
    /// Sign-in, the caller and service tokens.
    ROUTES, configure;
    GET "/api/auth/{provider}/start" => auth::start {
        tag: "auth", rule: SignIn, summary: "Starts sign-in: redirects to the provider (PKCE, CSRF state, nonce)",
        query: [REDIRECT], ok: 302,
    }
    GET "/api/auth/{provider}/handler/frame" => auth::callback {
        tag: "auth", rule: SignIn,
        summary: "The provider's callback: checks the state, exchanges the code, sets the session cookies",
        query: [CODE, STATE, ERROR], ok: 302,
    }
    POST "/api/auth/refresh" => auth::refresh {
        tag: "auth", rule: SignIn, summary: "A new access token (cookie and body) from the refresh cookie",
    }
    POST "/api/auth/logout" => auth::logout {
        tag: "auth", rule: SignIn, summary: "Signs out: drops the session cookies", ok: 204,
    }
    GET "/api/auth/me" => auth::me {
        tag: "auth", rule: SignIn, summary: "The caller: identity, User entity, groups and ownership refs",
    }
    GET "/api/auth/tokens" => auth::list_tokens {
        tag: "auth", rule: Admin, summary: "Every service token, without secrets (admins)",
    }
    POST "/api/auth/tokens" => auth::create_token {
        tag: "auth", rule: Admin, summary: "Creates a service token; its value is shown once (admins)",
        body: Body::Json(OBJECT), ok: 201,
    }
    DELETE "/api/auth/tokens/{id}" => auth::revoke_token {
        tag: "auth", rule: Admin, summary: "Revokes a service token (admins)", ok: 204,
    }
}
