//! Offerings' routes: the gateway's checks, offered APIs, subscriptions and keys.

use super::handlers as offerings;
use crate::auth::policy::Rule::*;
use crate::rows::{Body, OBJECT, Param, route_table};

/// The scope a service token needs to act on subscriptions and keys (`catalog:write` is not
/// enough).
pub const WRITE: &str = "offerings:write";
/// The scope of an API gateway's service token.
pub const CHECK: &str = "gateway:check";

pub const GATEWAY_API: Param =
    Param::text("api", "The API the gateway protects: an API ref, or the name of one in the default namespace");
pub const PLATFORM: Param = Param::text("platform", "A platform ref: only the APIs it offers");
pub const DOMAIN: Param = Param::text("domain", "A domain ref: only the APIs of platforms in it");
pub const Q: Param = Param::text(
    "q",
    "Case-insensitive text to look for in the API's ref, title and description, and the platform's ref",
);
pub const LIFECYCLE: Param = Param::text("lifecycle", "The API's lifecycle: production, experimental, deprecated, ...");
pub const API: Param = Param::text("api", "An API ref (a plain name means api:default/<name>)");
pub const CONSUMER: Param =
    Param::text("consumer", "The subscribing consumer's ref (a plain name means component:default/<name>)");
pub const TEAM: Param = Param::text("team", "A group ref: the consumers' owning team");
pub const STATUS: Param = Param::text("status", "pending, active, paused, rejected or closed");

// The gateway checks come first of all routes: actix tries patterns in order (dynamic ones with
// a regex), and these are the hottest routes by far.
route_table! {
    /// The gateway's checks of API keys.
    GATEWAY, configure_gateway;
    POST "/api/gateway/check" => offerings::check {
        tag: "gateway", rule: Scope(CHECK),
        summary: "May this key call this API now? Always 200 with allowed and a reason (gateway:check)",
        body: Body::Json(OBJECT), hot: true,
    }
    GET "/api/gateway/auth" => offerings::auth {
        tag: "gateway", rule: Scope(CHECK),
        summary: "nginx auth_request / Envoy ext_authz: X-Api-Key in; 204, 401, 403 or 429 out (gateway:check)",
        query: [GATEWAY_API], ok: 204, hot: true,
    }
}

// `{id}/keys` before `{id}/{action}`.
route_table! {
    /// Offered APIs, subscriptions and keys.
    ROUTES, configure;
    GET "/api/portal/offerings" => offerings::list_offerings {
        tag: "offerings", rule: Read,
        summary: "Offered APIs with their plans (every status) and live subscriber counts",
        query: [PLATFORM, DOMAIN, Q, LIFECYCLE],
    }
    GET "/api/portal/offerings/{namespace}/{api}" => offerings::get_offering {
        tag: "offerings", rule: Read,
        summary: "One offered API: its plans with live subscriptions per plan, and its consumers",
    }
    GET "/api/portal/subscriptions" => offerings::list_subscriptions {
        tag: "offerings", rule: Read, summary: "Subscriptions with their history; filters combine",
        query: [API, CONSUMER, TEAM, STATUS],
    }
    POST "/api/portal/subscriptions" => offerings::create_subscription {
        tag: "offerings", rule: Party(WRITE),
        summary: "Subscribes a consumer to a plan: active at once on an auto plan, else pending (the consumer's owner)",
        body: Body::Json(OBJECT), ok: 201,
    }
    GET "/api/portal/subscriptions/{id}" => offerings::get_subscription {
        tag: "offerings", rule: Read, summary: "One subscription with its history",
    }
    GET "/api/portal/subscriptions/{id}/keys" => offerings::list_keys {
        tag: "offerings", rule: Party(WRITE), summary: "The subscription's API keys, without secrets (either party)",
    }
    POST "/api/portal/subscriptions/{id}/keys" => offerings::create_key {
        tag: "offerings", rule: Party(WRITE), summary: "Issues an API key, shown this once (the consumer's owner)",
        body: Body::Json(OBJECT), ok: 201,
    }
    POST "/api/portal/subscriptions/{id}/{action}" => offerings::act_on_subscription {
        tag: "offerings", rule: Party(WRITE),
        summary: "approve, reject, pause, resume, transfer (the platform's owner) or close (the consumer's owner)",
        body: Body::Json(OBJECT),
    }
    POST "/api/portal/keys/{id}/rotate" => offerings::rotate_key {
        tag: "offerings", rule: Party(WRITE),
        summary: "Replaces a key; the old one stays valid for overlapHours (default 24)",
        body: Body::Json(OBJECT), ok: 201,
    }
    DELETE "/api/portal/keys/{id}" => offerings::revoke_key {
        tag: "offerings", rule: Party(WRITE), summary: "Revokes a key at once", ok: 204,
    }
}

/// Every table of this domain, in registration order (named in `startup`'s domain list): the
/// gateway's checks first, the hottest routes by far.
pub const TABLES: &[&[crate::rows::Route]] = &[GATEWAY, ROUTES];
