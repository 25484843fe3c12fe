//! Served entities, typed for reading: the fields pages show (kind, metadata, the common spec
//! fields, relations, status items), read leniently from Backstage's open-ended JSON (a field
//! of another type than expected reads as absent). The entity stays free-form on the wire; this
//! is what the web UI renders. Also the by-query page, facet counts and an entity's location.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::model::EntityRef;
use super::{Catalog, store};
use crate::error::ApiError;

/// A string field; anything else reads as absent.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A value of the expected shape; anything else reads as the default.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

/// A list: the entries of the expected shape (others left out), `None` when it is no list.
fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => Some(a.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect()),
        _ => None,
    })
}

/// Any value, as present (`null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A served entity, as pages read it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EntityView {
    #[serde(default, deserialize_with = "text")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient")]
    pub spec: Spec,
    #[serde(default, deserialize_with = "list")]
    pub relations: Option<Vec<Relation>>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Status,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub description: Option<String>,
    /// The tags that are strings.
    #[serde(default, deserialize_with = "list")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "list")]
    pub links: Option<Vec<Link>>,
}

/// One of `metadata.links`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Link {
    #[serde(default, deserialize_with = "text")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
}

/// The spec fields pages show; `definition` as written (an API's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Spec {
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub spec_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub lifecycle: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub system: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub definition: Option<Value>,
}

/// One of `relations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub relation: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub target_ref: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Status {
    #[serde(default, deserialize_with = "list")]
    pub items: Option<Vec<StatusItem>>,
}

/// One of `status.items` (governance findings are of type `portolan.dev/finding`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatusItem {
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub item_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub error: StatusError,
    /// Fields of the item beyond Backstage's (a scorecard item's `scorecard`).
    #[serde(flatten)]
    pub more: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatusError {
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
}

/// The text of an optional field, or "".
pub fn or_empty(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

impl EntityView {
    /// `kind:namespace/name` (kind lower-cased), as spelled.
    pub fn entity_ref(&self) -> String {
        format!(
            "{}:{}/{}",
            or_empty(&self.kind).to_lowercase(),
            or_empty(&self.metadata.namespace),
            or_empty(&self.metadata.name)
        )
    }

    /// The title, else the name.
    pub fn label(&self) -> &str {
        let t = or_empty(&self.metadata.title);
        if t.is_empty() { or_empty(&self.metadata.name) } else { t }
    }

    /// Governance's findings among the status items.
    pub fn findings(&self) -> impl Iterator<Item = &StatusItem> {
        self.items_of_type("portolan.dev/finding")
    }

    /// The status items of one type.
    pub fn items_of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a StatusItem> + 'a {
        self.status.items.iter().flatten().filter(move |i| i.item_type.as_deref() == Some(t))
    }

    /// `spec.definition` as text (a string as is, anything else as pretty JSON).
    pub fn definition_text(&self) -> Option<String> {
        self.spec.definition.as_ref().map(|d| match d {
            Value::String(t) => t.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        })
    }
}

/// A by-query page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    #[serde(default)]
    pub items: Vec<EntityView>,
    #[serde(default)]
    pub total_items: Option<u64>,
}

/// Facet counts: per facet, each value with its count.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FacetCounts {
    #[serde(default)]
    pub facets: HashMap<String, Vec<FacetCount>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FacetCount {
    #[serde(default, deserialize_with = "text")]
    pub value: Option<String>,
    #[serde(default)]
    pub count: u64,
}

/// Reads a JSON answer of the catalog's API as one of these types.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    Ok(serde_json::from_slice(body).map_err(anyhow::Error::from)?)
}

/// The served entity `kind:namespace/name` (404 when there is none).
pub async fn entity(state: &Catalog, kind: &str, namespace: &str, name: &str) -> Result<EntityView, ApiError> {
    let key = EntityRef::new(kind, namespace, name).key();
    match state.cache.entity(&state.pool, &key).await? {
        Some(body) => parse(&body),
        None => Err(ApiError::not_found(format!("No entity named '{key}' found"))),
    }
}

/// The location that owns an entity, with its current processing errors.
#[derive(Debug, Clone)]
pub struct EntityLocation {
    pub id: String,
    pub kind: String,
    pub target: String,
    /// The messages of the location's current processing errors.
    pub errors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProcessingError {
    #[serde(default, deserialize_with = "text")]
    message: Option<String>,
}

/// The location that owns the entity `kind:namespace/name`, if any.
pub async fn entity_location(
    state: &Catalog,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<EntityLocation>, ApiError> {
    let key = EntityRef::new(kind, namespace, name).key();
    let pool = state.pool.clone();
    let row = actix_web::web::block(move || store::location_of_entity(&pool, &key)).await??;
    Ok(row.map(|row| {
        let errors: Vec<Value> =
            row.last_error.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_default();
        let errors = errors
            .into_iter()
            .map(|e| serde_json::from_value::<ProcessingError>(e).unwrap_or_default().message.unwrap_or_default())
            .collect();
        EntityLocation { id: row.id, kind: row.kind, target: row.target, errors }
    }))
}
