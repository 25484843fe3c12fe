//! HTTP handlers of Backstage's entity routes: lists, queries, refs, uids, facets, ancestry,
//! validation and analysis. Each parses its request into `query` types, makes the store calls
//! (through the read cache), and shapes the answer exactly as Backstage does.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Catalog;
use super::ingest::OnConflict;
use super::model::{DEFAULT_NAMESPACE, EntityRef};
use super::query::{self, Cursor, PageParams, Position, QueryRequest};
use super::store::sql::CursorSql;
use super::{filter, read, store, validate};
use crate::auth::Identity;
use crate::error::ApiError;

fn values(req: &HttpRequest, name: &str) -> Vec<String> {
    filter::query_values(req.query_string(), name)
}

/// A JSON array built from already-serialised items.
fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut body = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push(']');
    body
}

/// Serialised entities, projected to `fields` when any are named.
fn project_all(items: &[String], fields: &[String]) -> Result<Vec<String>, ApiError> {
    if fields.is_empty() {
        return Ok(items.to_vec());
    }
    items
        .iter()
        .map(|text| {
            let value: Value = serde_json::from_str(text).map_err(anyhow::Error::from)?;
            Ok(query::project(&value, fields).to_string())
        })
        .collect()
}

fn ok_json(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// The filter parameters of a request as a predicate (`None` without any).
fn filter_predicate(req: &HttpRequest) -> Result<Option<query::Predicate>, ApiError> {
    predicate_of(req.query_string())
}

/// The `filter` parameters of a query string as one predicate (`None` without any).
fn predicate_of(query_string: &str) -> Result<Option<query::Predicate>, ApiError> {
    let params = filter::query_values(query_string, "filter");
    if params.is_empty() {
        return Ok(None);
    }
    let sets = filter::parse(&params).map_err(ApiError::input)?;
    let predicate = query::filter_sets_to_predicate(&sets);
    query::check_leaves([&predicate]).map_err(|e| ApiError::input(format!("Invalid filter: {e}")))?;
    Ok(Some(predicate))
}

/// The `filter` parameters and a body's `query` predicate, AND-ed (`None` without either).
fn request_predicate(req: &HttpRequest, body_query: Option<&Value>) -> Result<Option<query::Predicate>, ApiError> {
    let filter = filter_predicate(req)?;
    let Some(q) = body_query else { return Ok(filter) };
    let q = query::parse_predicate(q).map_err(ApiError::input)?;
    query::check_leaves(filter.iter().chain([&q])).map_err(|e| ApiError::input(format!("Invalid query: {e}")))?;
    Ok(Some(match filter {
        Some(p) => query::Predicate::All(vec![p, q]),
        None => q,
    }))
}

/// `GET /entities?filter&fields&order&offset&limit&after`: a bare array; a `Link` header points
/// at the next page when a limit cut the answer.
pub async fn list_entities(state: web::Data<Catalog>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let cache_key = format!("entities?{}", req.query_string());
    if let Some(hit) = state.cache.response(&cache_key) {
        return Ok(hit.into_response());
    }
    let epoch = state.cache.epoch();
    let cursor = Cursor {
        filter: filter_predicate(&req)?,
        order_fields: query::parse_order_params(&values(&req, "order")).map_err(ApiError::input)?,
        ..Cursor::default()
    };
    let fields = query::parse_fields(&values(&req, "fields")).map_err(ApiError::input)?;
    let page = PageParams::from_query_string(req.query_string()).map_err(ApiError::input)?;
    let sql = cursor.sql(state.pool.backend());
    let pool = state.pool.clone();
    let seam = state.ingestor.seam.clone();
    let (rows, _) =
        web::block(move || read::query_entities(&pool, &seam, &sql, page.limit, page.offset.unwrap_or(0), false))
            .await??;
    let mut items: Vec<String> = rows.into_iter().map(|(_, body)| body).collect();
    let more = page.limit.is_some_and(|l| items.len() as u64 > l);
    if let Some(limit) = page.limit {
        items.truncate(limit as usize);
    }
    let body = json_array(project_all(&items, &fields)?.iter().map(String::as_str));
    let link = match page.next_after() {
        Some(after) if more => Some(query::next_link(req.path(), req.query_string(), &after)),
        _ => None,
    };
    let cached = super::cache::Cached { body: body.into(), link };
    state.cache.store_response_at(epoch, cache_key, cached.clone());
    Ok(cached.into_response())
}

/// Runs one by-query request: `{items, totalItems, pageInfo: {nextCursor?, prevCursor?}}`.
async fn run_query(state: &Catalog, request: QueryRequest) -> Result<String, ApiError> {
    let QueryRequest { cursor, fields, limit, offset, count, .. } = request;
    let sql = cursor.sql(state.pool.backend());
    let pool = state.pool.clone();
    let seam = state.ingestor.seam.clone();
    let must_count = count && cursor.total_items.is_none();
    let (rows, counted) =
        web::block(move || read::query_entities(&pool, &seam, &sql, Some(limit), offset, must_count)).await??;
    let total = if count { counted.or(cursor.total_items).unwrap_or(0) } else { 0 };
    let parsed: Vec<(String, Value)> = rows
        .into_iter()
        .map(|(key, body)| Ok((key, serde_json::from_str(&body).map_err(anyhow::Error::from)?)))
        .collect::<Result<_, ApiError>>()?;
    let order = cursor.order_fields.clone();
    let page = query::paginate(&cursor, total, parsed, limit, |(key, value)| Position {
        values: query::sort_values(value, &order),
        entity_ref: key.clone(),
    });
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(_, v)| if fields.is_empty() { v.clone() } else { query::project(v, &fields) })
        .collect();
    let mut page_info = Map::new();
    if let Some(next) = &page.next_cursor {
        page_info.insert("nextCursor".into(), json!(query::encode(next)));
    }
    if let Some(prev) = &page.prev_cursor {
        page_info.insert("prevCursor".into(), json!(query::encode(prev)));
    }
    Ok(json!({"items": items, "totalItems": total, "pageInfo": page_info}).to_string())
}

/// `GET /entities/by-query`.
pub async fn query_entities_get(state: web::Data<Catalog>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let body = by_query_body(&state, req.query_string()).await?;
    Ok(super::cache::Cached { body, link: None }.into_response())
}

/// The answer of `GET /entities/by-query?<query string>`, from the read cache or run and cached.
async fn by_query_body(state: &Catalog, query_string: &str) -> Result<web::Bytes, ApiError> {
    let cache_key = format!("by-query?{query_string}");
    if let Some(hit) = state.cache.response(&cache_key) {
        return Ok(hit.body);
    }
    let epoch = state.cache.epoch();
    let request = QueryRequest::from_query_string(query_string).map_err(ApiError::input)?;
    let body: web::Bytes = run_query(state, request).await?.into();
    state.cache.store_response_at(epoch, cache_key, super::cache::Cached { body: body.clone(), link: None });
    Ok(body)
}

/// A by-query page for a query string (`filter`, `fullTextFilterTerm`, `limit`, `offset`,
/// `orderField`, `cursor`), typed: what `GET /entities/by-query` answers. For the web UI.
pub async fn query_page(state: &Catalog, query_string: &str) -> Result<super::view::QueryPage, ApiError> {
    super::view::parse(&by_query_body(state, query_string).await?)
}

/// Facet counts over the entities the `filter` parameters of a query string match, typed: what
/// `GET /entity-facets` answers. For the web UI.
pub async fn facet_counts(
    state: &Catalog,
    names: Vec<String>,
    query_string: &str,
) -> Result<super::view::FacetCounts, ApiError> {
    let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| ("facet", n.as_str())).collect();
    let filters = filter::query_values(query_string, "filter");
    pairs.extend(filters.iter().map(|f| ("filter", f.as_str())));
    let qs = serde_urlencoded::to_string(&pairs).map_err(anyhow::Error::from)?;
    super::view::parse(&facets_body(state, &qs).await?)
}

/// `POST /entities/by-query` with Backstage's body.
pub async fn query_entities_post(state: web::Data<Catalog>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let request = QueryRequest::from_body(&body).map_err(ApiError::input)?;
    Ok(ok_json(run_query(&state, request).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByRefs {
    entity_refs: Vec<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    query: Option<Value>,
}

/// `POST /entities/by-refs {entityRefs, fields?, query?}[?filter]`: `{items}` in request order,
/// `null` where nothing exists (or the filter leaves it out).
pub async fn get_by_refs(
    state: web::Data<Catalog>,
    req: HttpRequest,
    body: crate::error::Body<ByRefs>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.entity_refs.len() > 10_000 {
        return Err(ApiError::input("Too many entityRefs: at most 10000 per request"));
    }
    let fields = query::parse_fields(&body.fields).map_err(ApiError::input)?;
    let mut keys = Vec::with_capacity(body.entity_refs.len());
    for (i, text) in body.entity_refs.iter().enumerate() {
        let r = EntityRef::parse(text, None, DEFAULT_NAMESPACE)
            .map_err(|e| ApiError::input(format!("entityRefs[{i}]: {e}")))?;
        keys.push(r.key());
    }
    let predicate = request_predicate(&req, body.query.as_ref())?;
    let pool = state.pool.clone();
    let seam = state.ingestor.seam.clone();
    let lookup = keys.clone();
    let found = web::block(move || {
        // A filter narrows the answer: what it leaves out is null, as if missing.
        let allowed = predicate.map(|p| store::keys_matching(&pool, &lookup, &p)).transpose()?;
        let lookup = match &allowed {
            Some(keys) => keys.iter().cloned().collect(),
            None => lookup,
        };
        let found = read::entities_by_keys(&pool, &seam, &lookup)?;
        Ok::<_, anyhow::Error>((found, allowed))
    })
    .await??;
    let (found, allowed) = found;
    let mut items = Vec::with_capacity(keys.len());
    for key in &keys {
        let hit = found.get(key).filter(|_| allowed.as_ref().is_none_or(|a| a.contains(key)));
        items.push(match hit {
            None => "null".to_owned(),
            Some(text) if fields.is_empty() => text.clone(),
            Some(text) => {
                query::project(&serde_json::from_str(text).map_err(anyhow::Error::from)?, &fields).to_string()
            }
        });
    }
    Ok(ok_json(format!("{{\"items\":{}}}", json_array(items.iter().map(String::as_str)))))
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}`.
pub async fn get_by_name(
    state: web::Data<Catalog>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, namespace, name) = path.into_inner();
    let key = EntityRef::new(&kind, &namespace, &name).key();
    match state.cache.entity(&state.pool, &key).await? {
        Some(body) => Ok(HttpResponse::Ok().content_type("application/json").body(body)),
        None => Err(ApiError::not_found(format!("No entity named '{key}' found"))),
    }
}

/// `GET /entities/by-uid/{uid}`.
pub async fn get_by_uid(state: web::Data<Catalog>, uid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    let pool = state.pool.clone();
    let seam = state.ingestor.seam.clone();
    let lookup = uid.clone();
    match web::block(move || read::entity_by_uid(&pool, &seam, &lookup)).await?? {
        Some((_, body)) => Ok(ok_json(body)),
        None => Err(ApiError::not_found(format!("No entity with uid {uid}"))),
    }
}

/// `DELETE /entities/by-uid/{uid}`: 204. Its location emits it again on its next refresh.
pub async fn delete_by_uid(
    state: web::Data<Catalog>,
    identity: Identity,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    let pool = state.pool.clone();
    let lookup = uid.clone();
    let Some(stored) = web::block(move || store::entity_by_uid(&pool, &lookup)).await?? else {
        return Err(ApiError::not_found(format!("No entity with uid {uid}")));
    };
    crate::auth::require_owner(&state.pool, &identity, vec![stored.key], "delete this entity").await?;
    let ingestor = state.ingestor.clone();
    let lookup = uid.clone();
    if web::block(move || ingestor.delete_entity(&lookup)).await?? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("No entity with uid {uid}")))
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}/ancestry`: the entity and every entity that
/// emitted it, up to the Location that brought it in.
pub async fn get_ancestry(
    state: web::Data<Catalog>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, namespace, name) = path.into_inner();
    let root = EntityRef::new(&kind, &namespace, &name);
    let pool = state.pool.clone();
    let seam = state.ingestor.seam.clone();
    let root_key = root.key();
    let chain = web::block(move || {
        let mut chain: Vec<(String, Option<String>)> = Vec::new();
        let mut next = Some(root_key);
        while let Some(key) = next.take() {
            if chain.iter().any(|(k, _)| *k == key) || chain.len() > 64 {
                break;
            }
            let parents = store::parents_of(&pool, std::slice::from_ref(&key))?;
            let Some(parent) = parents.get(&key) else { break };
            let parent_key = match parent {
                Some(p) => Some(EntityRef::parse(p, None, DEFAULT_NAMESPACE)?.key()),
                None => None,
            };
            chain.push((key, parent.clone()));
            next = parent_key;
        }
        let keys: Vec<String> = chain.iter().map(|(k, _)| k.clone()).collect();
        let bodies = read::entities_by_keys(&pool, &seam, &keys)?;
        Ok::<_, anyhow::Error>((chain, bodies))
    })
    .await??;
    let (chain, bodies) = chain;
    if chain.is_empty() {
        return Err(ApiError::not_found(format!("No entity named '{}' found", root.key())));
    }
    let mut items = Vec::new();
    for (key, parent) in &chain {
        let Some(body) = bodies.get(key) else { break };
        let entity: Value = serde_json::from_str(body).map_err(anyhow::Error::from)?;
        // A parent that no longer exists ends the chain.
        let parents: Vec<&String> = parent
            .iter()
            .filter(|p| EntityRef::parse(p, None, DEFAULT_NAMESPACE).is_ok_and(|r| bodies.contains_key(&r.key())))
            .collect();
        items.push(json!({"entity": entity, "parentEntityRefs": parents}));
    }
    let root_ref = items[0]["entity"].as_object().map(ref_of).unwrap_or_else(|| root.to_string());
    Ok(HttpResponse::Ok().json(json!({"rootEntityRef": root_ref, "items": items})))
}

/// `kind:namespace/name` of a served entity, in its own spelling.
fn ref_of(entity: &Map<String, Value>) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let meta = entity.get("metadata");
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or(DEFAULT_NAMESPACE);
    format!("{}:{}/{}", text(entity.get("kind")).to_lowercase(), namespace, text(meta.and_then(|m| m.get("name"))))
}

/// Answers facets for a parsed request.
async fn facets(state: &Catalog, names: Vec<String>, predicate: Option<query::Predicate>) -> Result<String, ApiError> {
    if names.is_empty() {
        return Err(ApiError::input("Missing facet: name at least one facet, as ?facet=kind"));
    }
    query::check_facets(names.len()).map_err(ApiError::input)?;
    let predicate = predicate.unwrap_or_else(query::Predicate::everything);
    let pool = state.pool.clone();
    let rows = web::block(move || store::facets(&pool, &names, &predicate)).await??;
    let mut out = Map::new();
    for (name, values) in rows {
        out.insert(name, values.into_iter().map(|(value, count)| json!({"value": value, "count": count})).collect());
    }
    Ok(json!({"facets": out}).to_string())
}

/// `GET /entity-facets?facet=kind&facet=spec.type&filter=...`.
pub async fn get_facets(state: web::Data<Catalog>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let body = facets_body(&state, req.query_string()).await?;
    Ok(super::cache::Cached { body, link: None }.into_response())
}

/// The answer of `GET /entity-facets?<query string>`, from the read cache or counted and cached.
async fn facets_body(state: &Catalog, query_string: &str) -> Result<web::Bytes, ApiError> {
    let cache_key = format!("facets?{query_string}");
    if let Some(hit) = state.cache.response(&cache_key) {
        return Ok(hit.body);
    }
    let epoch = state.cache.epoch();
    let names = filter::query_values(query_string, "facet");
    let body: web::Bytes = facets(state, names, predicate_of(query_string)?).await?.into();
    state.cache.store_response_at(epoch, cache_key, super::cache::Cached { body: body.clone(), link: None });
    Ok(body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetsBody {
    facets: Vec<String>,
    #[serde(default)]
    query: Option<Value>,
}

/// `POST /entity-facets {facets, query?}`.
pub async fn post_facets(
    state: web::Data<Catalog>,
    req: HttpRequest,
    body: crate::error::Body<FacetsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let predicate = request_predicate(&req, body.query.as_ref())?;
    Ok(ok_json(facets(&state, body.facets, predicate).await?))
}

#[derive(Debug, Deserialize)]
pub struct ValidateBody {
    entity: Value,
    location: Option<String>,
}

/// `POST /validate-entity {entity, location}`: 200 when valid; 400 `{errors: [...]}` when not.
pub async fn validate_entity(state: web::Data<Catalog>, body: crate::error::Body<ValidateBody>) -> HttpResponse {
    let body = body.into_inner();
    let problem = |name: &str, message: String| {
        HttpResponse::BadRequest().json(json!({"errors": [{"name": name, "message": message}]}))
    };
    match body.location.as_deref() {
        None | Some("") => return problem("InputError", "Location ref is required".into()),
        Some(loc) if !loc.contains(':') => {
            return problem("InputError", format!("Invalid location ref '{loc}', expected <type>:<target>"));
        }
        Some(_) => {}
    }
    let options = validate::Options { extra_kinds: state.settings.extra_kinds.clone(), placeholders_unresolved: true };
    match validate::validate(body.entity, &options) {
        Ok(_) => HttpResponse::Ok().json(json!({})),
        Err(problems) => HttpResponse::BadRequest().json(json!({
            "errors": problems
                .iter()
                .map(|p| json!({"name": "InputError", "message": format!("{}: {}", display_path(&p.path), p.message), "path": p.path}))
                .collect::<Vec<_>>()
        })),
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeBody {
    location: AnalyzeTarget,
    #[serde(default)]
    catalog_filename: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AnalyzeTarget {
    #[serde(rename = "type", default = "url_type")]
    kind: String,
    target: String,
}

fn url_type() -> String {
    "url".into()
}

/// `POST /analyze-location {location: {type, target}, catalogFilename?}`: the entity files at a
/// location and whether they are registered; when none exist, a Component to start from.
pub async fn analyze_location(
    state: web::Data<Catalog>,
    body: crate::error::Body<AnalyzeBody>,
) -> Result<HttpResponse, ApiError> {
    let AnalyzeBody { location, catalog_filename } = body.into_inner();
    let mut target = location.target.clone();
    if let Some(file) = catalog_filename.as_deref().filter(|f| !f.is_empty())
        && !target.ends_with(".yaml")
        && !target.ends_with(".yml")
    {
        target = format!("{}/{}", target.trim_end_matches('/'), file.trim_start_matches('/'));
    }
    let reg = state.ingestor.register(&location.kind, &target, true, OnConflict::Reject, "api").await;
    let missing = |m: &str| ["cannot read", "no file matches", "404", "not found"].iter().any(|p| m.contains(p));
    let (entities, existed, errors) = match reg {
        Ok(r) => (r.entities, r.existed, serde_json::to_value(&r.errors).unwrap_or_default()),
        // Nothing at the target yet: say so, and suggest what to register.
        Err(super::ingest::RegisterError::Invalid(m)) if missing(&m) => {
            (Vec::new(), false, json!([{"source": format!("{}:{target}", location.kind), "message": m}]))
        }
        Err(super::ingest::RegisterError::Invalid(m)) => return Err(ApiError::input(m)),
        Err(super::ingest::RegisterError::Conflict(m)) => return Err(ApiError::conflict(m)),
        Err(super::ingest::RegisterError::Internal(e)) => return Err(ApiError::Internal(e)),
    };
    let found: Vec<Value> = entities
        .iter()
        .filter(|e| e["kind"] != "Location" || !e["metadata"]["name"].as_str().unwrap_or("").starts_with("generated-"))
        .map(|entity| {
            json!({
                "location": {"type": location.kind, "target": target},
                "isRegistered": existed,
                "entity": entity,
            })
        })
        .collect();
    let generate = if found.is_empty() {
        let name = location
            .target
            .trim_end_matches('/')
            .rsplit('/')
            .find(|s| !s.is_empty() && !s.contains('.') && !matches!(*s, "blob" | "tree"))
            .unwrap_or("my-component")
            .to_lowercase();
        vec![json!({
            "entity": {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": name, "namespace": DEFAULT_NAMESPACE},
                "spec": {"type": "service", "lifecycle": "experimental"},
            },
            "fields": [
                {"field": "spec.owner", "state": "needsUserInput", "description": "The group or user that owns this component", "value": null},
                {"field": "spec.type", "state": "analysisSuggestion", "description": "The type of component", "value": "service"},
            ],
        })]
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(json!({
        "existingEntityFiles": found,
        "generateEntities": generate,
        "errors": errors,
    })))
}
