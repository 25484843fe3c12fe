//! HTTP handlers: offerings, subscriptions and keys under `/api/portal`, and the gateway check.
//! Thin: parse, check who may (consumer's owner or platform's owner, see `model::Party`), run
//! the blocking work in `web::block`, shape JSON.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Action, Party, Reason, request_ref};
use super::store::{self, keys as key_store, subscriptions as subs};
use super::{keys, subscriptions};
use crate::auth::{Identity, Principal, require_owner_as, tokens::hash_token};
use crate::catalog::facade as catalog;
use crate::db::Pool;
use crate::error::{ApiError, Body, OptionalBody, Query};
use crate::state::AppState;

/// Who the audit trail names for a caller.
fn actor(identity: &Identity) -> String {
    match &identity.principal {
        Principal::User { sub, .. } => sub.clone(),
        Principal::Service { name, .. } => format!("service:{name}"),
        Principal::Guest => "guest".into(),
        Principal::Anonymous => "anonymous".into(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    web::block(f).await?
}

#[derive(Debug, Deserialize)]
pub struct OfferingQuery {
    platform: Option<String>,
    domain: Option<String>,
    q: Option<String>,
    lifecycle: Option<String>,
}

fn body_of(bodies: &HashMap<String, Value>, key: &str, pointer: &str) -> Option<String> {
    bodies.get(key).and_then(|b| b.pointer(pointer)).and_then(Value::as_str).map(str::to_owned)
}

/// The offerings with what the catalog says about their APIs and platforms.
fn offering_items(pool: &Pool) -> anyhow::Result<Vec<(Value, super::model::Offering)>> {
    let offerings = store::list_offerings(pool)?;
    let mut keys: Vec<String> = offerings.iter().flat_map(|o| [o.api.clone(), o.platform.clone()]).collect();
    keys.sort();
    keys.dedup();
    let bodies: HashMap<String, Value> = catalog::bodies_by_keys(pool, &keys)?
        .into_iter()
        .filter_map(|(k, b)| Some((k, serde_json::from_str(&b).ok()?)))
        .collect();
    let platforms: Vec<String> = offerings.iter().map(|o| o.platform.clone()).collect();
    let owners: HashMap<String, String> = catalog::relation_targets(pool, &platforms, "ownedBy")?.into_iter().collect();
    let mut live: HashMap<(String, String), i64> = HashMap::new();
    for (api, plan, n) in subs::live_counts(pool)? {
        live.insert((api, plan), n);
    }
    let mut out = Vec::new();
    for o in offerings {
        let namespace = body_of(&bodies, &o.platform, "/metadata/namespace").unwrap_or_else(|| "default".into());
        let domain = body_of(&bodies, &o.platform, "/spec/domain").and_then(|d| {
            crate::catalog::model::EntityRef::parse(&d, Some("domain"), &namespace).ok().map(|r| r.key())
        });
        let definition = bodies.get(&o.api).and_then(|b| b.pointer("/spec/definition"));
        // Only an API entity in the catalog has a definition to show.
        let plans: Vec<Value> = o
            .plans
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
                v["subscriptions"] = json!(live.get(&(o.api.clone(), p.name.clone())).copied().unwrap_or(0));
                v
            })
            .collect();
        let subscribers: i64 =
            o.plans.iter().map(|p| live.get(&(o.api.clone(), p.name.clone())).copied().unwrap_or(0)).sum();
        let item = json!({
            "api": o.api,
            "platform": o.platform,
            "owner": owners.get(&o.platform),
            "domain": domain,
            "title": body_of(&bodies, &o.api, "/metadata/title"),
            "description": o.description.clone().or_else(|| body_of(&bodies, &o.api, "/metadata/description")),
            "lifecycle": body_of(&bodies, &o.api, "/spec/lifecycle"),
            "apiType": body_of(&bodies, &o.api, "/spec/type"),
            "hasDefinition": definition.is_some_and(|d| !d.is_null() && d.as_str() != Some("")),
            "plans": plans,
            "subscribers": subscribers,
        });
        out.push((item, o));
    }
    Ok(out)
}

/// `GET /api/portal/offerings?platform=&domain=&q=&lifecycle=`.
pub async fn list_offerings(state: web::Data<AppState>, query: Query<OfferingQuery>) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let platform = match &q.platform {
        Some(p) => {
            Some(request_ref(p, "platform").ok_or_else(|| ApiError::input("platform: not an entity reference"))?)
        }
        None => None,
    };
    let domain = match &q.domain {
        Some(d) => Some(request_ref(d, "domain").ok_or_else(|| ApiError::input("domain: not an entity reference"))?),
        None => None,
    };
    let text = q.q.as_deref().map(str::to_lowercase).filter(|t| !t.is_empty());
    let lifecycle = q.lifecycle.as_deref().map(str::to_lowercase);
    let pool = state.pool.clone();
    let items = blocking(move || Ok(offering_items(&pool)?)).await?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| platform.as_ref().is_none_or(|p| v["platform"] == *p))
        .filter(|v| domain.as_ref().is_none_or(|d| v["domain"] == *d))
        .filter(|v| {
            lifecycle.as_ref().is_none_or(|l| v["lifecycle"].as_str().map(str::to_lowercase).as_ref() == Some(l))
        })
        .filter(|v| {
            text.as_ref().is_none_or(|t| {
                ["api", "title", "description", "platform"]
                    .iter()
                    .any(|f| v[*f].as_str().is_some_and(|s| s.to_lowercase().contains(t.as_str())))
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

/// `GET /api/portal/offerings/{namespace}/{api}`: one offering, its plans with live counts, its consumers.
pub async fn get_offering(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, name) = path.into_inner();
    let api = format!("api:{}/{}", namespace.to_lowercase(), name.to_lowercase());
    let pool = state.pool.clone();
    let out = blocking(move || {
        let (mut item, _) = offering_items(&pool)?
            .into_iter()
            .find(|(_, o)| o.api == api)
            .ok_or_else(|| ApiError::not_found(format!("{api} is not offered")))?;
        let filter = subs::Filter { api: Some(api.clone()), live: true, ..Default::default() };
        let consumers: Vec<Value> = subs::list(&pool, &filter)?
            .into_iter()
            .map(|s| json!({"consumer": s.consumer, "team": s.team, "plan": s.plan, "status": s.status, "subscription": s.id, "origin": s.origin}))
            .collect();
        item["consumers"] = json!(consumers);
        Ok(item)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    api: String,
    plan: String,
    consumer: String,
    reason: Option<String>,
}

/// `POST /api/portal/subscriptions` (the consumer's owner).
pub async fn create_subscription(
    state: web::Data<AppState>,
    identity: Identity,
    body: Body<SubscribeBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let api = subscriptions::api_key(&b.api)?;
    let consumer = subscriptions::consumer_key(&b.consumer)?;
    require_owner_as(&state.pool, &identity, vec![consumer.clone()], "subscribe this consumer", OFFERINGS_SCOPE)
        .await?;
    let pool = state.pool.clone();
    let by = actor(&identity);
    let out = blocking(move || {
        let row = subscriptions::request(&pool, &api, &b.plan, &consumer, b.reason, &by)?;
        Ok(subscriptions::render_one(&pool, &row)?)
    })
    .await?;
    state.offerings.gateway.invalidate();
    Ok(HttpResponse::Created().json(out))
}

#[derive(Debug, Deserialize)]
pub struct SubscriptionQuery {
    api: Option<String>,
    consumer: Option<String>,
    team: Option<String>,
    status: Option<String>,
}

/// `GET /api/portal/subscriptions?api=&consumer=&team=&status=`.
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    query: Query<SubscriptionQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filter = subs::Filter {
        api: q.api.as_deref().map(subscriptions::api_key).transpose()?,
        consumer: q.consumer.as_deref().map(subscriptions::consumer_key).transpose()?,
        team: match q.team.as_deref() {
            Some(t) => Some(request_ref(t, "group").ok_or_else(|| ApiError::input("team: not an entity reference"))?),
            None => None,
        },
        status: q.status.map(|s| s.to_lowercase()),
        ..Default::default()
    };
    let pool = state.pool.clone();
    let items = blocking(move || Ok(subscriptions::render(&pool, &subs::list(&pool, &filter)?)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

async fn load_subscription(pool: &Pool, id: String) -> Result<subs::SubscriptionRow, ApiError> {
    let pool = pool.clone();
    blocking(move || subs::get(&pool, &id)?.ok_or_else(|| ApiError::not_found(format!("No subscription {id}")))).await
}

/// `GET /api/portal/subscriptions/{id}`.
pub async fn get_subscription(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = load_subscription(&state.pool, path.into_inner()).await?;
    let pool = state.pool.clone();
    let out = blocking(move || {
        let mut out = subscriptions::render_one(&pool, &row)?;
        // Allowed gateway calls per minute (written by the gateways within a second).
        let usage = super::store::counters::usage_of(&pool, &row.id)?;
        out["usage"] = json!(
            usage
                .into_iter()
                .map(|(minute, calls)| json!({"minute": crate::db::rfc3339(minute), "calls": calls}))
                .collect::<Vec<_>>()
        );
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The platform offering a subscription's API (ref key), if it is still offered.
async fn platform_of(pool: &Pool, api: &str) -> Result<Option<String>, ApiError> {
    let pool = pool.clone();
    let api = api.to_owned();
    blocking(move || Ok(store::get_offering(&pool, &api)?.map(|o| o.platform))).await
}

/// A service token acting on subscriptions and keys needs `offerings:write` (or `admin`):
/// `catalog:write` is not enough.
const OFFERINGS_SCOPE: &str = "offerings:write";

/// Allows the caller to act as this party of the subscription: its owner, an admin, or a
/// service token with `offerings:write`.
async fn require_party(
    state: &AppState,
    identity: &Identity,
    sub: &subs::SubscriptionRow,
    party: Party,
    action: &str,
) -> Result<(), ApiError> {
    let keys = match party {
        Party::Consumer => vec![sub.consumer.clone()],
        Party::Platform => platform_of(&state.pool, &sub.api).await?.into_iter().collect(),
    };
    require_owner_as(&state.pool, identity, keys, action, OFFERINGS_SCOPE).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    reason: Option<String>,
    plan: Option<String>,
}

/// `POST /api/portal/subscriptions/{id}/{action}`: approve, reject, pause, resume, transfer, close.
pub async fn act_on_subscription(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<(String, String)>,
    body: OptionalBody<ActionBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::not_found(format!("No action {action:?}: use approve, reject, pause, resume, transfer or close"))
    })?;
    let body = body.into_inner().unwrap_or_default();
    let sub = load_subscription(&state.pool, id).await?;
    let what = format!("{} this subscription", action.as_str());
    require_party(&state, &identity, &sub, action.party(), &what).await?;
    let pool = state.pool.clone();
    let by = actor(&identity);
    let out = blocking(move || {
        let row = subscriptions::act(&pool, &sub, action, body.plan.as_deref(), body.reason, &by)?;
        Ok(subscriptions::render_one(&pool, &row)?)
    })
    .await?;
    state.offerings.gateway.invalidate();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyBody {
    name: Option<String>,
    expires_in_days: Option<f64>,
}

/// `POST /api/portal/subscriptions/{id}/keys` (the consumer's owner): the key, shown once.
pub async fn create_key(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
    body: OptionalBody<KeyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().unwrap_or_default();
    let sub = load_subscription(&state.pool, path.into_inner()).await?;
    require_party(&state, &identity, &sub, Party::Consumer, "issue keys for this subscription").await?;
    let pool = state.pool.clone();
    let by = actor(&identity);
    let out = blocking(move || keys::create(&pool, &sub, body.name, body.expires_in_days, &by)).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(out))
}

/// `GET /api/portal/subscriptions/{id}/keys` (either party): no secrets.
pub async fn list_keys(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sub = load_subscription(&state.pool, path.into_inner()).await?;
    if require_party(&state, &identity, &sub, Party::Consumer, "list the keys of this subscription").await.is_err() {
        require_party(&state, &identity, &sub, Party::Platform, "list the keys of this subscription").await?;
    }
    let pool = state.pool.clone();
    let items = blocking(move || Ok(key_store::list_of(&pool, &sub.id)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"items": items.iter().map(keys::render).collect::<Vec<_>>()})))
}

async fn load_key(state: &AppState, id: String) -> Result<(key_store::KeyRow, subs::SubscriptionRow), ApiError> {
    let pool = state.pool.clone();
    blocking(move || {
        let key = key_store::get(&pool, &id)?.ok_or_else(|| ApiError::not_found(format!("No key {id}")))?;
        let sub = subs::get(&pool, &key.subscription_id)?
            .ok_or_else(|| ApiError::not_found("The key's subscription is gone"))?;
        Ok((key, sub))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateBody {
    overlap_hours: Option<f64>,
}

/// `POST /api/portal/keys/{id}/rotate` (the consumer's owner): a new key; the old one stays
/// valid for the overlap (24 hours by default).
pub async fn rotate_key(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
    body: OptionalBody<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    let overlap = body.into_inner().and_then(|b| b.overlap_hours).unwrap_or(24.0);
    let (key, sub) = load_key(&state, path.into_inner()).await?;
    require_party(&state, &identity, &sub, Party::Consumer, "rotate this key").await?;
    let pool = state.pool.clone();
    let by = actor(&identity);
    let out = blocking(move || keys::rotate(&pool, &key, &sub, overlap, &by)).await?;
    state.offerings.gateway.invalidate();
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(out))
}

/// `DELETE /api/portal/keys/{id}` (the consumer's owner): revoked at once.
pub async fn revoke_key(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (key, sub) = load_key(&state, path.into_inner()).await?;
    require_party(&state, &identity, &sub, Party::Consumer, "revoke this key").await?;
    let pool = state.pool.clone();
    let by = actor(&identity);
    blocking(move || Ok(keys::revoke(&pool, &key, &by)?)).await?;
    state.offerings.gateway.invalidate();
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

async fn decide(state: &AppState, key: &str, api: &str) -> Result<super::gateway::Decision, ApiError> {
    let hash = hash_token(key);
    let gw = state.offerings.gateway.clone();
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
pub async fn check(state: web::Data<AppState>, body: Body<CheckBody>) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let api = subscriptions::api_key(&b.api)?;
    let d = decide(&state, &b.key, &api).await?;
    Ok(HttpResponse::Ok().json(d.answer()))
}

/// `GET /api/gateway/auth?api=<name>`: nginx `auth_request` (and Envoy ext_authz, HTTP mode).
/// The key comes in `X-Api-Key`, or as `Authorization: Bearer ptl_...` when the gateway needs
/// no token of its own (guest mode). 204 allowed, 401 no or bad key, 403 refused, 429 over a limit.
pub async fn auth(state: web::Data<AppState>, identity: Identity, req: HttpRequest) -> Result<HttpResponse, ApiError> {
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
    let d = decide(&state, &key, &api).await?;
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
