//! The checks of `Scorecard` and `Campaign` documents that a JSON Schema cannot say: every CEL
//! expression compiles and gives true or false, check ids are unique, each check's level is one
//! of the scorecard's, a campaign names checks or a level (not both) and its dates exist with
//! the start before the due date. Pure; run by `validate` after the kind's schema, so each
//! problem is a validation error of the document, named by its JSON pointer
//! (`/spec/checks/2/expression`).
//!
//! Whether a campaign's scorecard exists and has the checks it names is not checked here: the
//! other document may change on its own; the standards domain reports it against the campaign.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use serde_json::Value;

use super::validate::Problem;

/// An instant of a campaign: a day (`YYYY-MM-DD`, its first millisecond, or with `end_of_day`
/// its last) or an RFC 3339 instant, in ms since the epoch.
pub fn parse_instant(raw: &str, end_of_day: bool) -> Option<i64> {
    let raw = raw.trim();
    if raw.len() == 10 {
        let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
        let start = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        return Some(if end_of_day { start + 86_400_000 - 1 } else { start });
    }
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.timestamp_millis())
}

fn cel_problem(path: String, what: &str, source: &str) -> Option<Problem> {
    crate::cel::compile(source).err().map(|e| Problem::new(path, format!("{what} is not a usable CEL expression: {e}")))
}

/// Every problem of a Scorecard's or Campaign's `spec` (empty when it has none).
pub fn problems(kind: &str, spec: Option<&Value>) -> Vec<Problem> {
    let Some(spec) = spec else { return Vec::new() };
    match kind {
        "Scorecard" => scorecard_problems(spec),
        "Campaign" => campaign_problems(spec),
        _ => Vec::new(),
    }
}

fn scorecard_problems(spec: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(f) = spec.get("filter").and_then(Value::as_str) {
        out.extend(cel_problem("/spec/filter".into(), "the filter", f));
    }
    let levels: Vec<&str> =
        spec.get("levels").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, check) in spec.get("checks").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let id = check.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(first) = seen.insert(id, i) {
            out.push(Problem::new(
                format!("/spec/checks/{i}/id"),
                format!("check id '{id}' is used twice (first at /spec/checks/{first}); ids are unique in a scorecard"),
            ));
            seen.insert(id, first);
        }
        if let Some(level) = check.get("level").and_then(Value::as_str)
            && !levels.contains(&level)
        {
            out.push(Problem::new(
                format!("/spec/checks/{i}/level"),
                format!("check '{id}': level '{level}' is not one of spec.levels ({})", levels.join(", ")),
            ));
        }
        if let Some(src) = check.get("expression").and_then(Value::as_str) {
            out.extend(cel_problem(format!("/spec/checks/{i}/expression"), &format!("check '{id}'"), src));
        }
    }
    out
}

fn campaign_problems(spec: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(f) = spec.get("filter").and_then(Value::as_str) {
        out.extend(cel_problem("/spec/filter".into(), "the filter", f));
    }
    match (spec.get("checks").is_some(), spec.get("level").is_some()) {
        (true, true) => out.push(Problem::new("/spec/level", "give checks or level, not both")),
        (false, false) => out.push(Problem::new(
            "/spec/checks",
            "is required unless level is given: the checks an entity must pass to be done",
        )),
        _ => {}
    }
    let when = |field: &str, end: bool| -> Result<Option<i64>, Problem> {
        match spec.get(field).and_then(Value::as_str) {
            None => Ok(None),
            Some(raw) => parse_instant(raw, end).map(Some).ok_or_else(|| {
                Problem::new(
                    format!("/spec/{field}"),
                    format!("\"{raw}\" is not a day (YYYY-MM-DD) or an RFC 3339 instant"),
                )
            }),
        }
    };
    match (when("start", false), when("due", true)) {
        (Ok(Some(s)), Ok(Some(d))) if s >= d => out.push(Problem::new("/spec/due", "is not after spec.start")),
        (s, d) => out.extend([s.err(), d.err()].into_iter().flatten()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scorecard_problems_name_their_place() {
        let spec = json!({"owner": "t", "levels": ["bronze", "silver"], "filter": "entity.kind ==", "checks": [
            {"id": "a", "level": "bronze", "expression": "has(entity.spec.owner)"},
            {"id": "a", "level": "gold", "expression": "1 + 1"},
        ]});
        let p = problems("Scorecard", Some(&spec));
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/spec/filter", "/spec/checks/1/id", "/spec/checks/1/level", "/spec/checks/1/expression"],
            "{p:?}"
        );
        assert!(
            p[0].message.starts_with("the filter is not a usable CEL expression: at line 1, column"),
            "{}",
            p[0].message
        );
        assert_eq!(p[3].message, "check 'a' is not a usable CEL expression: gives a number, not true or false");
    }

    #[test]
    fn campaign_problems_name_their_place() {
        let ok = json!({"owner": "t", "scorecard": "s", "level": "gold", "start": "2026-01-01", "due": "2026-03-31T12:00:00Z"});
        assert_eq!(problems("Campaign", Some(&ok)), vec![]);
        let bad = json!({"owner": "t", "scorecard": "s", "checks": ["a"], "level": "gold", "start": "2026-02-30", "due": "2026-01-01"});
        let p = problems("Campaign", Some(&bad));
        assert_eq!(p.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["/spec/level", "/spec/start"]);
        let late = json!({"owner": "t", "scorecard": "s", "level": "x", "start": "2026-02-01", "due": "2026-01-01"});
        assert_eq!(problems("Campaign", Some(&late))[0].path, "/spec/due");
        assert_eq!(parse_instant("2026-01-01", true), Some(1_767_312_000_000 - 1));
    }
}
