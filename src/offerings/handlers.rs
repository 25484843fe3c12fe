//! HTTP handlers: offerings, subscriptions and keys under `/api/portal`, and the gateway check.
//! Thin: parse, check who may (consumer's owner or platform's owner, see `model::Party`), run
//! the blocking work in `web::block`, shape JSON.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::Offerings;
use super::model::{Action, Party, Reason};
use super::store::{self, keys as key_store, subscriptions as subs};
use super::views::{
    self, IssuedKey, Items, KeyView, OfferingQuery, SubscriptionDetail, SubscriptionQuery, SubscriptionView,
};
use super::{keys, subscriptions};
use crate::auth::{Identity, Principal, require_owner_as, tokens::hash_token};
use crate::db::Pool;
use crate::error::{ApiError, Body, OptionalBody, Query};
use crate::state::AppState;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    web::block(f).await?
}

/// Runs blocking work with the pool off the async workers.
async fn with_pool<T: Send + 'static>(
    pool: &Pool,
    f: impl FnOnce(&Pool) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let pool = pool.clone();
    blocking(move || f(&pool)).await
}

/// `GET /api/portal/offerings?platform=&domain=&q=&lifecycle=`.
pub async fn list_offerings(state: web::Data<AppState>, query: Query<OfferingQuery>) -> Result<HttpResponse, ApiError> {
    let f = views::offering_filter(&query.into_inner())?;
    Ok(HttpResponse::Ok().json(with_pool(&state.pool, move |p| views::offerings(p, &f)).await?))
}

/// `GET /api/portal/offerings/{namespace}/{api}`: one offering, its plans with live counts, its consumers.
pub async fn get_offering(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(with_pool(&state.pool, move |p| views::offering(p, &namespace, &name)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    pub api: String,
    pub plan: String,
    pub consumer: String,
    pub reason: Option<String>,
}

/// Requests a subscription (the consumer's owner).
pub async fn subscribe(
    pool: &Pool,
    offerings: &Offerings,
    identity: &Identity,
    b: SubscribeBody,
) -> Result<SubscriptionView, ApiError> {
    let api = subscriptions::api_key(&b.api)?;
    let consumer = subscriptions::consumer_key(&b.consumer)?;
    require_owner_as(pool, identity, vec![consumer.clone()], "subscribe this consumer", OFFERINGS_SCOPE).await?;
    let by = identity.actor();
    let out = with_pool(pool, move |pool| {
        let row = subscriptions::request(pool, &api, &b.plan, &consumer, b.reason, &by)?;
        Ok(subscriptions::render_one(pool, &row)?)
    })
    .await?;
    offerings.gateway.invalidate();
    Ok(out)
}

/// `POST /api/portal/subscriptions` (the consumer's owner).
pub async fn create_subscription(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    body: Body<SubscribeBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(subscribe(&state.pool, &offerings, &identity, body.into_inner()).await?))
}

/// `GET /api/portal/subscriptions?api=&consumer=&team=&status=`.
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    query: Query<SubscriptionQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = views::subscription_filter(query.into_inner())?;
    Ok(HttpResponse::Ok().json(with_pool(&state.pool, move |p| views::subscription_list(p, &filter)).await?))
}

async fn load_subscription(pool: &Pool, id: String) -> Result<subs::SubscriptionRow, ApiError> {
    with_pool(pool, move |p| views::subscription_row(p, &id)).await
}

/// One subscription with its gateway usage.
pub async fn subscription(pool: &Pool, id: String) -> Result<SubscriptionDetail, ApiError> {
    let row = load_subscription(pool, id).await?;
    with_pool(pool, move |p| views::subscription(p, &row)).await
}

/// `GET /api/portal/subscriptions/{id}`.
pub async fn get_subscription(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(subscription(&state.pool, path.into_inner()).await?))
}

/// The platform offering a subscription's API (ref key), if it is still offered.
async fn platform_of(pool: &Pool, api: &str) -> Result<Option<String>, ApiError> {
    let api = api.to_owned();
    with_pool(pool, move |pool| Ok(store::get_offering(pool, &api)?.map(|o| o.platform))).await
}

/// A service token acting on subscriptions and keys needs `offerings:write` (or `admin`):
/// `catalog:write` is not enough.
const OFFERINGS_SCOPE: &str = "offerings:write";

/// Allows the caller to act as this party of the subscription: its owner, an admin, or a
/// service token with `offerings:write`.
async fn require_party(
    pool: &Pool,
    identity: &Identity,
    sub: &subs::SubscriptionRow,
    party: Party,
    action: &str,
) -> Result<(), ApiError> {
    let keys = match party {
        Party::Consumer => vec![sub.consumer.clone()],
        Party::Platform => platform_of(pool, &sub.api).await?.into_iter().collect(),
    };
    require_owner_as(pool, identity, keys, action, OFFERINGS_SCOPE).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    pub reason: Option<String>,
    pub plan: Option<String>,
}

/// Approves, rejects, pauses, resumes, transfers or closes a subscription (its party's owner).
pub async fn act(
    pool: &Pool,
    offerings: &Offerings,
    identity: &Identity,
    id: String,
    action: &str,
    body: ActionBody,
) -> Result<SubscriptionView, ApiError> {
    let action = Action::parse(action).ok_or_else(|| {
        ApiError::not_found(format!("No action {action:?}: use approve, reject, pause, resume, transfer or close"))
    })?;
    let sub = load_subscription(pool, id).await?;
    let what = format!("{} this subscription", action.as_str());
    require_party(pool, identity, &sub, action.party(), &what).await?;
    let by = identity.actor();
    let out = with_pool(pool, move |pool| {
        let row = subscriptions::act(pool, &sub, action, body.plan.as_deref(), body.reason, &by)?;
        Ok(subscriptions::render_one(pool, &row)?)
    })
    .await?;
    offerings.gateway.invalidate();
    Ok(out)
}

/// `POST /api/portal/subscriptions/{id}/{action}`: approve, reject, pause, resume, transfer, close.
pub async fn act_on_subscription(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    path: web::Path<(String, String)>,
    body: OptionalBody<ActionBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let body = body.into_inner().unwrap_or_default();
    Ok(HttpResponse::Ok().json(act(&state.pool, &offerings, &identity, id, &action, body).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyBody {
    pub name: Option<String>,
    pub expires_in_days: Option<f64>,
}

/// Issues a key for a subscription (the consumer's owner): the key, shown once.
pub async fn issue_key(pool: &Pool, identity: &Identity, id: String, body: KeyBody) -> Result<IssuedKey, ApiError> {
    let sub = load_subscription(pool, id).await?;
    require_party(pool, identity, &sub, Party::Consumer, "issue keys for this subscription").await?;
    let by = identity.actor();
    with_pool(pool, move |pool| keys::create(pool, &sub, body.name, body.expires_in_days, &by)).await
}

/// `POST /api/portal/subscriptions/{id}/keys` (the consumer's owner): the key, shown once.
pub async fn create_key(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
    body: OptionalBody<KeyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().unwrap_or_default();
    let out = issue_key(&state.pool, &identity, path.into_inner(), body).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(out))
}

/// The keys of a subscription (either party): no secrets.
pub async fn keys_of(pool: &Pool, identity: &Identity, id: String) -> Result<Items<KeyView>, ApiError> {
    let sub = load_subscription(pool, id).await?;
    if require_party(pool, identity, &sub, Party::Consumer, "list the keys of this subscription").await.is_err() {
        require_party(pool, identity, &sub, Party::Platform, "list the keys of this subscription").await?;
    }
    with_pool(pool, move |pool| views::keys_of(pool, &sub.id)).await
}

/// `GET /api/portal/subscriptions/{id}/keys` (either party): no secrets.
pub async fn list_keys(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(keys_of(&state.pool, &identity, path.into_inner()).await?))
}

async fn load_key(pool: &Pool, id: String) -> Result<(key_store::KeyRow, subs::SubscriptionRow), ApiError> {
    with_pool(pool, move |pool| {
        let key = key_store::get(pool, &id)?.ok_or_else(|| ApiError::not_found(format!("No key {id}")))?;
        let sub = subs::get(pool, &key.subscription_id)?
            .ok_or_else(|| ApiError::not_found("The key's subscription is gone"))?;
        Ok((key, sub))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateBody {
    pub overlap_hours: Option<f64>,
}

/// Replaces a key (the consumer's owner): a new key; the old one stays valid for the overlap.
pub async fn rotate(
    pool: &Pool,
    offerings: &Offerings,
    identity: &Identity,
    id: String,
    overlap_hours: f64,
) -> Result<IssuedKey, ApiError> {
    let (key, sub) = load_key(pool, id).await?;
    require_party(pool, identity, &sub, Party::Consumer, "rotate this key").await?;
    let by = identity.actor();
    let out = with_pool(pool, move |pool| keys::rotate(pool, &key, &sub, overlap_hours, &by)).await?;
    offerings.gateway.invalidate();
    Ok(out)
}

/// `POST /api/portal/keys/{id}/rotate` (the consumer's owner): a new key; the old one stays
/// valid for the overlap (24 hours by default).
pub async fn rotate_key(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    path: web::Path<String>,
    body: OptionalBody<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    let overlap = body.into_inner().and_then(|b| b.overlap_hours).unwrap_or(24.0);
    let out = rotate(&state.pool, &offerings, &identity, path.into_inner(), overlap).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(out))
}

/// Revokes a key at once (the consumer's owner).
pub async fn revoke(pool: &Pool, offerings: &Offerings, identity: &Identity, id: String) -> Result<(), ApiError> {
    let (key, sub) = load_key(pool, id).await?;
    require_party(pool, identity, &sub, Party::Consumer, "revoke this key").await?;
    let by = identity.actor();
    with_pool(pool, move |pool| Ok(keys::revoke(pool, &key, &by)?)).await?;
    offerings.gateway.invalidate();
    Ok(())
}

/// `DELETE /api/portal/keys/{id}` (the consumer's owner): revoked at once.
pub async fn revoke_key(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    revoke(&state.pool, &offerings, &identity, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct CheckBody {
    key: String,
    api: String,
    #[allow(dead_code)]
    method: Option<String>,
    #[allow(dead_code)]
    path: Option<String>,
}

async fn decide(
    state: &AppState,
    offerings: &Offerings,
    key: &str,
    api: &str,
) -> Result<super::gateway::Decision, ApiError> {
    let hash = hash_token(key);
    let gw = offerings.gateway.clone();
    if let Some(d) = gw.check(None, &hash, api)? {
        return Ok(d);
    }
    let pool = state.pool.clone();
    let api = api.to_owned();
    blocking(move || {
        gw.check(Some(&pool), &hash, &api)?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the gateway check needed the database twice")))
    })
    .await
}

/// `POST /api/gateway/check` `{key, api, method?, path?}`: always 200 with the decision.
pub async fn check(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    body: Body<CheckBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let api = subscriptions::api_key(&b.api)?;
    let d = decide(&state, &offerings, &b.key, &api).await?;
    Ok(HttpResponse::Ok().json(d.answer()))
}

/// `GET /api/gateway/auth?api=<name>`: nginx `auth_request` (and Envoy ext_authz, HTTP mode).
/// The key comes in `X-Api-Key`, or as `Authorization: Bearer ptl_...` when the gateway needs
/// no token of its own (guest mode). 204 allowed, 401 no or bad key, 403 refused, 429 over a limit.
pub async fn auth(
    state: web::Data<AppState>,
    offerings: web::Data<Offerings>,
    identity: Identity,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let api =
        query.get("api").ok_or_else(|| ApiError::input("api: give the API the gateway protects (?api=<name>)"))?;
    let api = subscriptions::api_key(api)?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let key = header("x-api-key").filter(|k| !k.is_empty()).map(str::to_owned).or_else(|| {
        (identity.principal == Principal::Guest)
            .then(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::trim))
            .flatten()
            .filter(|k| k.starts_with(keys::KEY_PREFIX))
            .map(str::to_owned)
    });
    let Some(key) = key else {
        return Ok(HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "ApiKey header=\"X-Api-Key\""))
            .insert_header(("X-Portolan-Reason", "no_key"))
            .json(json!({"allowed": false, "reason": "no_key"})));
    };
    let d = decide(&state, &offerings, &key, &api).await?;
    let status =
        actix_web::http::StatusCode::from_u16(d.reason.auth_status()).unwrap_or(actix_web::http::StatusCode::FORBIDDEN);
    let mut res = HttpResponse::build(status);
    let reason = serde_json::to_value(d.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    res.insert_header(("X-Portolan-Reason", reason));
    if let Some(i) = d.info.as_deref().filter(|_| d.reason == Reason::Ok) {
        res.insert_header(("X-Portolan-Consumer", i.consumer.as_str()));
        res.insert_header(("X-Portolan-Plan", i.plan_name.as_str()));
        res.insert_header(("X-Portolan-Subscription", i.subscription.as_str()));
        if let Some(team) = &i.team {
            res.insert_header(("X-Portolan-Team", team.as_str()));
        }
    }
    if let Some((_, remaining)) = d.rate {
        res.insert_header(("X-RateLimit-Remaining", remaining.to_string()));
    }
    if let Some((_, remaining, _)) = d.quota {
        res.insert_header(("X-Quota-Remaining", remaining.to_string()));
    }
    if d.reason == Reason::Ok {
        return Ok(res.finish());
    }
    if status.as_u16() == 401 {
        res.insert_header(("WWW-Authenticate", "ApiKey header=\"X-Api-Key\""));
    }
    Ok(res.json(d.answer()))
}
