//! HTTP handlers of the catalog API: extract, make one store call, shape the response.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Catalog;
use super::ingest::{OnConflict, RegisterError};
use super::model::{DEFAULT_NAMESPACE, EntityRef};
use super::store;
use crate::auth::Identity;
use crate::db::rfc3339;
use crate::error::ApiError;

/// The processing errors recorded on a location at its last run.
fn location_errors(row: &store::LocationRow) -> Vec<Value> {
    row.last_error.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_default()
}

/// A location as the API shows it: Backstage's `{id, type, target}` plus its processing state.
fn location_json(row: &store::LocationRow) -> Value {
    let errors = location_errors(row);
    let last_error = match errors.first() {
        None => Value::Null,
        Some(first) => json!({
            "message": format!(
                "{} problem(s); first: {}: {}",
                errors.len(),
                first["source"].as_str().unwrap_or_default(),
                first["message"].as_str().unwrap_or_default()
            ),
            "at": row.last_error_at.map(rfc3339),
            "errors": errors,
        }),
    };
    json!({
        "id": row.id,
        "type": row.kind,
        "target": row.target,
        "entityRef": format!("location:default/{}", super::ingest::generated_location_name(&row.kind, &row.target)),
        "origin": row.origin,
        "lastSuccessAt": row.last_success_at.map(rfc3339),
        "lastError": last_error,
    })
}

#[derive(Debug, Deserialize)]
pub struct NewLocation {
    #[serde(rename = "type")]
    kind: String,
    target: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLocationQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    on_conflict: OnConflict,
}

fn register_error(e: RegisterError) -> ApiError {
    match e {
        RegisterError::Invalid(m) => ApiError::input(m),
        RegisterError::Conflict(m) => ApiError::conflict(m),
        RegisterError::Internal(e) => ApiError::Internal(e),
    }
}

/// `POST /api/catalog/locations[?dryRun=true][&onConflict=reject|refresh]`.
pub async fn create_location(
    state: web::Data<Catalog>,
    query: crate::error::Query<CreateLocationQuery>,
    body: crate::error::Body<NewLocation>,
) -> Result<HttpResponse, ApiError> {
    let reg = state
        .ingestor
        .register(&body.kind, &body.target, query.dry_run, query.on_conflict, "api")
        .await
        .map_err(register_error)?;
    let mut out = json!({
        "location": location_json(&reg.location),
        "entities": reg.entities,
    });
    if query.dry_run {
        out["exists"] = json!(reg.existed);
        out["errors"] = json!(reg.errors);
    }
    Ok(HttpResponse::Created().json(out))
}

/// `GET /api/catalog/locations`: `[{data: {...}}]`, as Backstage answers.
pub async fn list_locations(state: web::Data<Catalog>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || store::list_locations(&pool)).await??;
    Ok(HttpResponse::Ok().json(rows.iter().map(|r| json!({"data": location_json(r)})).collect::<Vec<_>>()))
}

async fn location_or_404(state: &Catalog, id: String) -> Result<store::LocationRow, ApiError> {
    let pool = state.pool.clone();
    let lookup = id.clone();
    web::block(move || store::get_location(&pool, &lookup))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("Found no location with ID {id}")))
}

/// `GET /api/catalog/locations/{id}`.
pub async fn get_location(state: web::Data<Catalog>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = location_or_404(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(location_json(&row)))
}

/// `GET /api/catalog/locations/by-entity/{kind}/{namespace}/{name}`: the location that owns it.
pub async fn get_location_by_entity(
    state: web::Data<Catalog>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, namespace, name) = path.into_inner();
    let key = EntityRef::new(&kind, &namespace, &name).key();
    let pool = state.pool.clone();
    let lookup = key.clone();
    match web::block(move || store::location_of_entity(&pool, &lookup)).await?? {
        Some(row) => Ok(HttpResponse::Ok().json(location_json(&row))),
        None => Err(ApiError::not_found(format!("No location found for entity '{key}'"))),
    }
}

/// Owners of every owned entity the location holds, or admins.
async fn require_location_owner(
    state: &Catalog,
    identity: &Identity,
    location_id: &str,
    action: &str,
) -> Result<(), ApiError> {
    if identity.admin {
        return Ok(());
    }
    let pool = state.pool.clone();
    let id = location_id.to_owned();
    let keys = web::block(move || store::entity_keys_of_location(&pool, &id)).await??;
    crate::auth::require_owner(&state.pool, identity, keys, action).await
}

/// `DELETE /api/catalog/locations/{id}`: the location goes, with its entities and relations.
pub async fn delete_location(
    state: web::Data<Catalog>,
    identity: Identity,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = location_or_404(&state, id.clone()).await?;
    require_location_owner(&state, &identity, &row.id, "delete this location").await?;
    let ingestor = state.ingestor.clone();
    let lookup = id.clone();
    if web::block(move || ingestor.delete_location(&lookup)).await?? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("Found no location with ID {id}")))
    }
}

/// `PUT /api/catalog/locations/{id}` `{type, target}`: points the location elsewhere and re-reads it.
pub async fn update_location(
    state: web::Data<Catalog>,
    identity: Identity,
    id: web::Path<String>,
    body: crate::error::Body<NewLocation>,
) -> Result<HttpResponse, ApiError> {
    let row = location_or_404(&state, id.into_inner()).await?;
    require_location_owner(&state, &identity, &row.id, "change this location").await?;
    let updated = state.ingestor.retarget(&row, &body.kind, &body.target).await.map_err(register_error)?;
    Ok(HttpResponse::Ok().json(location_json(&updated)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationQuery {
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Does a location match a simple query: `{type|target|id: value | {$in: [...]} | {$hasPrefix: s}}`,
/// with `$all`, `$any` and `$not`?
fn location_matches(row: &store::LocationRow, q: &Value) -> Result<bool, String> {
    let Some(obj) = q.as_object() else { return Err("query must be an object".into()) };
    for (key, cond) in obj {
        let ok = match key.as_str() {
            op @ ("$all" | "$any") => {
                let results = cond
                    .as_array()
                    .ok_or_else(|| format!("{op} takes an array"))?
                    .iter()
                    .map(|c| location_matches(row, c))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "$all" { results.into_iter().all(|b| b) } else { results.into_iter().any(|b| b) }
            }
            "$not" => !location_matches(row, cond)?,
            field => {
                let value = match field {
                    "id" => &row.id,
                    "type" => &row.kind,
                    "target" => &row.target,
                    other => return Err(format!("unknown location field \"{other}\": use id, type or target")),
                };
                let value = value.to_lowercase();
                match cond {
                    Value::String(s) => value == s.to_lowercase(),
                    Value::Object(o) if o.contains_key("$in") => o["$in"]
                        .as_array()
                        .ok_or("$in takes an array")?
                        .iter()
                        .any(|v| v.as_str().is_some_and(|s| s.to_lowercase() == value)),
                    Value::Object(o) if o.contains_key("$hasPrefix") => {
                        value.starts_with(&o["$hasPrefix"].as_str().ok_or("$hasPrefix takes a string")?.to_lowercase())
                    }
                    _ => return Err(format!("unsupported condition on \"{field}\"")),
                }
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `POST /api/catalog/locations/by-query`: `{items, totalItems, pageInfo: {nextCursor?}}`.
pub async fn query_locations(
    state: web::Data<Catalog>,
    body: crate::error::Body<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || store::list_locations(&pool)).await??;
    let (query, offset) = match &body.cursor {
        Some(c) => {
            let decoded = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, c)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .ok_or_else(|| ApiError::input("malformed cursor"))?;
            (decoded.get("query").cloned().filter(|q| !q.is_null()), decoded["offset"].as_u64().unwrap_or(0) as usize)
        }
        None => (body.query.clone(), 0),
    };
    let mut matched = Vec::new();
    for r in &rows {
        let keep = match &query {
            Some(q) => location_matches(r, q).map_err(ApiError::input)?,
            None => true,
        };
        if keep {
            matched.push(r);
        }
    }
    let limit = body.limit.unwrap_or(matched.len().max(1));
    let page: Vec<Value> = matched.iter().skip(offset).take(limit).map(|r| location_json(r)).collect();
    let mut page_info = json!({});
    if offset + limit < matched.len() {
        let next = json!({"query": query, "offset": offset + limit}).to_string();
        page_info["nextCursor"] =
            json!(base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, next.as_bytes()));
    }
    Ok(HttpResponse::Ok().json(json!({"items": page, "totalItems": matched.len(), "pageInfo": page_info})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    entity_ref: String,
}

/// `POST /api/catalog/refresh {entityRef}`: re-reads the entity's location now; 200 when done.
pub async fn refresh_entity(
    state: web::Data<Catalog>,
    body: crate::error::Body<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = EntityRef::parse(&body.entity_ref, None, DEFAULT_NAMESPACE).map_err(|e| ApiError::input(e.to_string()))?;
    let key = r.key();
    let pool = state.pool.clone();
    let lookup = key.clone();
    let location = web::block(move || store::location_of_entity(&pool, &lookup))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("No entity named '{key}' found")))?;
    state.ingestor.process(&location).await?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /api/catalog/errors`: every current processing error, across locations.
pub async fn list_errors(state: web::Data<Catalog>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || store::list_locations(&pool)).await??;
    let mut items = Vec::new();
    for row in &rows {
        let errors: Vec<Value> =
            row.last_error.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_default();
        for mut e in errors {
            e["locationId"] = json!(row.id);
            e["locationTarget"] = json!(format!("{}:{}", row.kind, row.target));
            e["at"] = json!(row.last_error_at.map(rfc3339));
            items.push(e);
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /api/catalog/conflicts`: refs a location emitted while another location owned them.
pub async fn list_conflicts(state: web::Data<Catalog>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let (rows, locations) =
        web::block(move || Ok::<_, anyhow::Error>((store::list_conflicts(&pool)?, store::list_locations(&pool)?)))
            .await??;
    let target = |id: &str| locations.iter().find(|l| l.id == id).map(|l| format!("{}:{}", l.kind, l.target));
    let items: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "entityRef": c.entity_ref,
                "locationId": c.location_id,
                "locationTarget": target(&c.location_id),
                "ownerLocationId": c.owner_location_id,
                "ownerLocationTarget": c.owner_location_id.as_deref().and_then(target),
                "source": c.source,
                "firstSeenAt": rfc3339(c.first_seen_at),
                "lastSeenAt": rfc3339(c.last_seen_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}
