//! The checks of `spec.roadmap` (Product and Platform) that a JSON Schema cannot say: ids unique
//! within the descriptor, dates that exist on the calendar, refs of the right kinds, and KPIs the
//! entity declares. Pure; run by `validate` after the kind's schema, so each problem is a
//! validation error of the document, named by its JSON pointer (`/spec/roadmap/2/needs/0/on`).
//!
//! Whether a named item exists on the other entity's plan is not checked here (that is a finding
//! of the delivery rules, since the other descriptor may change independently).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use super::model::EntityRef;
use super::validate::Problem;

/// A plan date: `YYYY-MM-DD`, or a quarter `YYYY-Qn` meaning its last day.
pub fn parse_plan_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    if let Some((year, q)) = raw.split_once("-Q") {
        let year: i32 = year.parse().ok().filter(|y| (1000..=9999).contains(y))?;
        let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
        let (next_year, next_month) = if q == 4 { (year + 1, 1) } else { (year, q * 3 + 1) };
        return NaiveDate::from_ymd_opt(next_year, next_month, 1)?.pred_opt();
    }
    if raw.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().filter(|d| d.year() >= 1000)
}

/// Every problem of the document's `spec.roadmap` (empty when there is none).
pub fn problems(kind: &str, namespace: &str, spec: Option<&Value>) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(spec) = spec else { return out };
    let Some(items) = spec.get("roadmap").and_then(Value::as_array) else { return out };
    let product = kind.eq_ignore_ascii_case("product");
    // What expectedImpact may name: a product's KPIs, a platform's target metrics.
    let (list, field, what) = if product { ("kpis", "name", "KPI") } else { ("targets", "metric", "target metric") };
    let declared: Vec<&str> = spec
        .get(list)
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|k| k.get(field).and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("/spec/roadmap/{i}");
        if let Some(id) = item.get("id").and_then(Value::as_str)
            && let Some(first) = ids.insert(id, i)
        {
            ids.insert(id, first);
            out.push(Problem::new(
                format!("{at}/id"),
                format!("\"{id}\" is already the id of item {first}; ids are unique within a descriptor"),
            ));
        }
        date(item, "targetDate", &at, &mut out);
        date(item, "deliveredAt", &at, &mut out);
        for (j, need) in list_of(item, "needs") {
            let at = format!("{at}/needs/{j}");
            date(need, "neededBy", &at, &mut out);
            entity_ref(need, "on", "platform", namespace, &["product", "platform"], &at, &mut out);
            entity_ref(need, "api", "api", namespace, &["api"], &at, &mut out);
        }
        for (j, answer) in list_of(item, "answers") {
            let at = format!("{at}/answers/{j}");
            entity_ref(answer, "product", "product", namespace, &["product", "platform"], &at, &mut out);
        }
        for (j, change) in list_of(item, "changes") {
            let at = format!("{at}/changes/{j}");
            date(change, "effective", &at, &mut out);
            entity_ref(change, "api", "api", namespace, &["api"], &at, &mut out);
        }
        for (j, impact) in list_of(item, "expectedImpact") {
            if let Some(kpi) = impact.get("kpi").and_then(Value::as_str)
                && !declared.contains(&kpi)
            {
                let known = if declared.is_empty() {
                    format!("it declares none in spec.{list}")
                } else {
                    format!("it declares {}", declared.join(", "))
                };
                out.push(Problem::new(
                    format!("{at}/expectedImpact/{j}/kpi"),
                    format!("\"{kpi}\" is not a {what} of this {}; {known}", kind.to_ascii_lowercase()),
                ));
            }
        }
    }
    out
}

fn list_of<'a>(item: &'a Value, field: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    item.get(field).and_then(Value::as_array).into_iter().flatten().enumerate()
}

fn date(v: &Value, field: &str, at: &str, out: &mut Vec<Problem>) {
    if let Some(raw) = v.get(field).and_then(Value::as_str)
        && parse_plan_date(raw).is_none()
    {
        out.push(Problem::new(
            format!("{at}/{field}"),
            format!("\"{raw}\" is not a date: expected YYYY-MM-DD (a day that exists) or a quarter such as 2027-Q1"),
        ));
    }
}

fn entity_ref(
    v: &Value,
    field: &str,
    default_kind: &str,
    namespace: &str,
    kinds: &[&str],
    at: &str,
    out: &mut Vec<Problem>,
) {
    let Some(raw) = v.get(field).and_then(Value::as_str) else { return };
    match EntityRef::parse(raw, Some(default_kind), namespace) {
        Ok(r) if kinds.iter().any(|k| r.kind.eq_ignore_ascii_case(k)) => {}
        Ok(r) => out.push(Problem::new(
            format!("{at}/{field}"),
            format!("\"{raw}\" is a {} ref; expected a {} ref", r.kind.to_ascii_lowercase(), kinds.join(" or ")),
        )),
        Err(e) => out.push(Problem::new(format!("{at}/{field}"), format!("\"{raw}\" is not an entity ref: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quarters_mean_their_last_day_and_impossible_days_are_refused() {
        assert_eq!(parse_plan_date("2027-Q1"), NaiveDate::from_ymd_opt(2027, 3, 31));
        assert_eq!(parse_plan_date("2026-Q4"), NaiveDate::from_ymd_opt(2026, 12, 31));
        assert_eq!(parse_plan_date("2027-02-28"), NaiveDate::from_ymd_opt(2027, 2, 28));
        for bad in ["2027-02-30", "2027-Q5", "2027-1-01", "soon", "2027-Q0"] {
            assert_eq!(parse_plan_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn problems_name_the_item_and_field() {
        let spec = json!({
            "owner": "team-a",
            "kpis": [{"name": "conversion"}],
            "roadmap": [
                {"id": "a", "title": "A", "targetDate": "2027-Q1", "status": "planned",
                 "expectedImpact": [{"kpi": "conversion", "target": 3}]},
                {"id": "a", "title": "B", "targetDate": "2027-02-30", "status": "planned",
                 "needs": [{"on": "component:x", "neededBy": "2027-01-01"}],
                 "expectedImpact": [{"kpi": "nps", "target": 3}]},
            ]
        });
        let found: Vec<(String, String)> =
            problems("Product", "default", Some(&spec)).into_iter().map(|p| (p.path, p.message)).collect();
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/spec/roadmap/1/id",
                "/spec/roadmap/1/targetDate",
                "/spec/roadmap/1/needs/0/on",
                "/spec/roadmap/1/expectedImpact/0/kpi"
            ],
            "{found:?}"
        );
        assert!(found[2].1.contains("expected a product or platform ref"), "{found:?}");
        assert!(found[3].1.contains("it declares conversion"), "{found:?}");
    }
}
