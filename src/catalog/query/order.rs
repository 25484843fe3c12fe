//! Ordering: [`OrderField`] and its three parsers (`order` of `GET /entities`, `orderField` of
//! a by-query GET, `orderBy` of a POST), and the sort values an entity has for an order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::describe;
use super::limits::check_sort_terms;
use crate::catalog::relations::canonical_type;

/// One sort key: a dotted field (lower-cased, as search keys are) and its direction.
///
/// As JSON (in cursors and `orderBy` bodies): `{"field": "metadata.name", "order": "asc"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OrderFieldJson", try_from = "OrderFieldJson")]
pub struct OrderField {
    pub field: String,
    pub desc: bool,
}

impl OrderField {
    /// An ascending sort on `field` (lower-cased).
    pub fn asc(field: &str) -> Self {
        OrderField { field: field.to_lowercase(), desc: false }
    }

    /// A descending sort on `field` (lower-cased).
    pub fn desc(field: &str) -> Self {
        OrderField { field: field.to_lowercase(), desc: true }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFieldJson {
    field: String,
    #[serde(default)]
    order: Option<String>,
}

impl From<OrderField> for OrderFieldJson {
    fn from(o: OrderField) -> Self {
        OrderFieldJson { field: o.field, order: Some(if o.desc { "desc" } else { "asc" }.into()) }
    }
}

impl TryFrom<OrderFieldJson> for OrderField {
    type Error = String;

    fn try_from(j: OrderFieldJson) -> Result<Self, String> {
        let field = j.field.trim().to_lowercase();
        if field.is_empty() {
            return Err("Invalid order field, the field name is empty".into());
        }
        match j.order.as_deref() {
            None | Some("asc") => Ok(OrderField { field, desc: false }),
            Some("desc") => Ok(OrderField { field, desc: true }),
            Some(other) => Err(format!("Invalid order field order \"{other}\", must be asc or desc")),
        }
    }
}

/// Parses the `order` parameters of `GET /entities`: each `asc:<field>` or `desc:<field>`.
pub fn parse_order_params(values: &[String]) -> Result<Vec<OrderField>, String> {
    check_sort_terms(values.len()).map_err(|e| format!("Invalid order: {e}"))?;
    values
        .iter()
        .map(|item| {
            let parsed =
                item.split_once(':').filter(|(_, field)| !field.trim().is_empty()).and_then(|(dir, field)| match dir {
                    "asc" => Some(OrderField::asc(field.trim())),
                    "desc" => Some(OrderField::desc(field.trim())),
                    _ => None,
                });
            parsed.ok_or_else(|| format!("Invalid order parameter \"{item}\", expected \"<asc or desc>:<field name>\""))
        })
        .collect()
}

/// Parses the `orderField` parameters of `GET /entities/by-query`: each `<field>` or
/// `<field>,asc` or `<field>,desc`.
pub fn parse_order_field_params(values: &[String]) -> Result<Vec<OrderField>, String> {
    check_sort_terms(values.len()).map_err(|e| format!("Invalid orderField: {e}"))?;
    values
        .iter()
        .map(|item| {
            let mut parts = item.split(',');
            let field = parts.next().unwrap_or_default().trim();
            let order = parts.next().map(str::trim);
            if field.is_empty() {
                return Err(format!("Invalid orderField \"{item}\", expected \"<field name>,<asc or desc>\""));
            }
            match order {
                None | Some("asc") => Ok(OrderField::asc(field)),
                Some("desc") => Ok(OrderField::desc(field)),
                Some(other) => {
                    Err(format!("Invalid order field order \"{other}\" in orderField \"{item}\", must be asc or desc"))
                }
            }
        })
        .collect()
}

/// Parses the `orderBy` of a `POST /entities/by-query` body: an array (or one object) of
/// `{"field": "metadata.name", "order": "asc" | "desc"}`.
pub fn parse_order_by(value: &Value) -> Result<Vec<OrderField>, String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        _ => {
            return Err(format!(
                "Invalid orderBy, expected an array of {{\"field\": ..., \"order\": \"asc\" or \"desc\"}}, got {}",
                describe(value)
            ));
        }
    };
    check_sort_terms(items.len()).map_err(|e| format!("Invalid orderBy: {e}"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<OrderField>(item.clone()).map_err(|e| {
                format!("Invalid orderBy[{i}]: {e}; expected {{\"field\": \"metadata.name\", \"order\": \"asc\"}}")
            })
        })
        .collect()
}

/// The sort values [`order_sql`] gives an entity, computed from its served JSON (the relations
/// array must be present for `relations.<type>` fields): what a [`Position`] holds.
///
/// They equal the SQL values on SQLite, and on PostgreSQL with a `C` collation; with another
/// collation, a field with several values may pick a different smallest or largest one.
pub fn sort_values(entity: &Value, order: &[OrderField]) -> Vec<Option<String>> {
    let rows = crate::catalog::search::rows(entity);
    order
        .iter()
        .map(|o| {
            let field = o.field.to_lowercase();
            let candidates: Vec<String> = match field.strip_prefix("relations.").and_then(canonical_type) {
                Some(kind) => entity
                    .get("relations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.get("type").and_then(Value::as_str) == Some(kind))
                    .filter_map(|r| r.get("targetRef").and_then(Value::as_str))
                    .map(str::to_ascii_lowercase)
                    .collect(),
                None => rows.iter().filter(|(k, _)| *k == field).map(|(_, v)| v.clone()).collect(),
            };
            if o.desc { candidates.into_iter().max() } else { candidates.into_iter().min() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::testing::*;
    use serde_json::json;

    #[test]
    fn order_parameters_of_get_entities_need_a_direction_and_a_field() {
        assert_eq!(
            parse_order_params(&strs(&["asc:metadata.Name", "desc:kind"])).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("kind")]
        );
        for bad in ["metadata.name", "up:kind", "asc:", "ASC:kind"] {
            let e = parse_order_params(&strs(&[bad])).unwrap_err();
            assert_eq!(e, format!("Invalid order parameter \"{bad}\", expected \"<asc or desc>:<field name>\""));
        }
    }

    #[test]
    fn order_field_parameters_default_to_ascending() {
        assert_eq!(
            parse_order_field_params(&strs(&["metadata.name", "kind,desc", "spec.type,asc"])).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("kind"), OrderField::asc("spec.type")]
        );
        assert!(parse_order_field_params(&strs(&["kind,sideways"])).unwrap_err().contains("must be asc or desc"));
        assert!(parse_order_field_params(&strs(&["kind,"])).is_err());
        assert!(parse_order_field_params(&strs(&[",desc"])).is_err());
    }

    #[test]
    fn order_by_bodies_are_objects_with_field_and_order() {
        let v = json!([{"field": "metadata.name", "order": "asc"}, {"field": "metadata.namespace", "order": "desc"}]);
        assert_eq!(
            parse_order_by(&v).unwrap(),
            vec![OrderField::asc("metadata.name"), OrderField::desc("metadata.namespace")]
        );
        assert_eq!(parse_order_by(&json!({"field": "kind"})).unwrap(), vec![OrderField::asc("kind")]);
        let e = parse_order_by(&json!([{"field": "kind", "order": "sideways"}])).unwrap_err();
        assert!(e.contains("orderBy[0]") && e.contains("must be asc or desc"), "{e}");
        assert!(parse_order_by(&json!("kind")).is_err());
        assert!(parse_order_by(&json!([{"field": ""}])).is_err());
    }

    #[test]
    fn more_than_10_sort_terms_are_refused_in_every_spelling() {
        let fields = |n: usize| (0..n).map(|i| format!("spec.f{i}")).collect::<Vec<_>>();
        let asc = |n: usize| fields(n).iter().map(|f| format!("asc:{f}")).collect::<Vec<_>>();
        let by = |n: usize| json!(fields(n).iter().map(|f| json!({"field": f})).collect::<Vec<_>>());
        assert_eq!(parse_order_params(&asc(10)).unwrap().len(), 10);
        assert_eq!(parse_order_field_params(&fields(10)).unwrap().len(), 10);
        assert_eq!(parse_order_by(&by(10)).unwrap().len(), 10);
        assert_eq!(
            parse_order_params(&asc(64)).unwrap_err(),
            "Invalid order: at most 10 sort terms per request; got 64"
        );
        assert_eq!(
            parse_order_field_params(&fields(11)).unwrap_err(),
            "Invalid orderField: at most 10 sort terms per request; got 11"
        );
        assert_eq!(parse_order_by(&by(64)).unwrap_err(), "Invalid orderBy: at most 10 sort terms per request; got 64");
    }

    #[test]
    fn sort_values_take_the_smallest_value_ascending_and_the_largest_descending() {
        let entity = json!({"kind": "Component", "metadata": {"name": "A", "tags": ["web", "Java"]},
                            "relations": [{"type": "ownedBy", "targetRef": "group:default/Team-B"},
                                          {"type": "ownedBy", "targetRef": "group:default/team-a"}]});
        let order = [
            OrderField::asc("metadata.tags"),
            OrderField::desc("metadata.tags"),
            OrderField::asc("metadata.title"),
            OrderField::desc("relations.ownedby"),
        ];
        assert_eq!(
            sort_values(&entity, &order),
            vec![Some("java".into()), Some("web".into()), None, Some("group:default/team-b".into())]
        );
    }
}
