//! Campaigns (pure): read from a `Campaign` entity's body against the scorecards it names, and
//! judged from the scorecard's stored results. In scope are the scorecard's entities the
//! campaign's filter keeps; done are those passing the named checks, or reaching the level. On
//! track compares the share done with the share of time elapsed: behind by under 16.5 points is
//! on track, up to 33 at risk, beyond that off track.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::model::{CheckOutcome, Scorecard};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::catalog::scorecard::parse_instant;
use crate::cel::{self, Program};

/// Points behind the time elapsed still on track, and still only at risk.
pub const ON_TRACK_POINTS: f64 = 16.5;
pub const AT_RISK_POINTS: f64 = 33.0;

/// What a campaign asks of an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// Indexes of the scorecard's checks to pass.
    Checks(Vec<usize>),
    /// The index of the level to reach.
    Level(usize),
}

/// A campaign, resolved against its scorecard.
#[derive(Debug)]
pub struct Campaign {
    pub key: String,
    pub entity_ref: String,
    pub title: String,
    pub owner: Option<String>,
    pub scorecard: String,
    pub goal: Goal,
    pub filter: Option<Program>,
    pub start: i64,
    pub due: i64,
    pub description: Option<String>,
}

/// A campaign that names what its scorecard lacks: the place in the document and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// The scorecard's ref key a campaign names (`scorecard` by default).
pub fn scorecard_key(body: &Value) -> Option<String> {
    let raw = body["spec"]["scorecard"].as_str()?;
    let ns = body["metadata"]["namespace"].as_str().unwrap_or(DEFAULT_NAMESPACE);
    EntityRef::parse(raw, Some("scorecard"), ns).ok().map(|r| r.key())
}

impl Campaign {
    /// Reads a stored Campaign body against its scorecard (`None` when it is not in the
    /// catalog). A problem names the place, as a validation error would.
    pub fn from_body(
        key: &str,
        body: &Value,
        owner: Option<String>,
        sc: Option<&Scorecard>,
    ) -> Result<Campaign, Problem> {
        let spec = &body["spec"];
        let problem = |path: &str, message: String| Problem { path: path.to_owned(), message };
        let Some(sc) = sc else {
            let named = text(spec, "scorecard").unwrap_or_default();
            return Err(problem("/spec/scorecard", format!("no Scorecard named '{named}' is in the catalog")));
        };
        let goal = match (spec["checks"].as_array(), text(spec, "level")) {
            (Some(ids), _) => {
                let mut found = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    let id = id.as_str().unwrap_or_default();
                    match sc.checks.iter().position(|c| c.id == id) {
                        Some(n) => found.push(n),
                        None => {
                            return Err(problem(
                                &format!("/spec/checks/{i}"),
                                format!("{} has no check '{id}'", sc.entity_ref),
                            ));
                        }
                    }
                }
                Goal::Checks(found)
            }
            (None, Some(level)) => match sc.levels.iter().position(|l| *l == level) {
                Some(n) => Goal::Level(n),
                None => {
                    return Err(problem(
                        "/spec/level",
                        format!("{} has no level '{level}' ({})", sc.entity_ref, sc.levels.join(", ")),
                    ));
                }
            },
            (None, None) => return Err(problem("/spec/checks", "is required unless level is given".into())),
        };
        let filter = match text(spec, "filter") {
            Some(f) => Some(cel::compile(&f).map_err(|e| problem("/spec/filter", format!("{e}")))?),
            None => None,
        };
        let when = |field: &str, end: bool| {
            text(spec, field)
                .and_then(|raw| parse_instant(&raw, end))
                .ok_or_else(|| problem(&format!("/spec/{field}"), "is not a day or an instant".into()))
        };
        let name = text(&body["metadata"], "name").unwrap_or_default();
        Ok(Campaign {
            key: key.to_owned(),
            entity_ref: crate::catalog::validate::describe(body).unwrap_or_else(|| key.to_owned()),
            title: text(&body["metadata"], "title").unwrap_or(name),
            owner,
            scorecard: sc.key.clone(),
            goal,
            filter,
            start: when("start", false)?,
            due: when("due", true)?,
            description: text(spec, "description"),
        })
    }

    /// Whether an entity with this stored standing is done.
    pub fn done(&self, level: Option<&str>, checks: &[CheckOutcome], sc: &Scorecard) -> bool {
        match &self.goal {
            Goal::Checks(ids) => ids.iter().all(|&i| checks.get(i).is_some_and(|c| c.passed)),
            Goal::Level(want) => {
                level.and_then(|l| sc.levels.iter().position(|x| x == l)).is_some_and(|got| got >= *want)
            }
        }
    }
}

/// The verdict of a campaign at `now`: `on-track`, `at-risk` or `off-track`.
pub fn verdict(done: usize, in_scope: usize, start: i64, due: i64, now: i64) -> &'static str {
    let share_done = if in_scope == 0 { 1.0 } else { done as f64 / in_scope as f64 };
    let elapsed = if due <= start { 1.0 } else { ((now - start) as f64 / (due - start) as f64).clamp(0.0, 1.0) };
    // Points behind, to a thousandth (0.5 - 0.335 is 16.499999... in floating point).
    let behind = ((elapsed - share_done) * 100_000.0).round() / 1000.0;
    if behind < ON_TRACK_POINTS {
        "on-track"
    } else if behind <= AT_RISK_POINTS {
        "at-risk"
    } else {
        "off-track"
    }
}

/// Per owner: (in scope, done), by owner ref key (`""` for none).
pub fn by_owner<'a>(members: impl Iterator<Item = (Option<&'a str>, bool)>) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (owner, done) in members {
        let e = out.entry(owner.unwrap_or_default().to_owned()).or_default();
        e.0 += 1;
        e.1 += usize::from(done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_track_compares_the_share_done_with_the_time_elapsed() {
        // Half the time gone: 40% done is 10 points behind (on track), 25% is 25 (at risk),
        // 10% is 40 (off track).
        assert_eq!(verdict(40, 100, 0, 100, 50), "on-track");
        assert_eq!(verdict(25, 100, 0, 100, 50), "at-risk");
        assert_eq!(verdict(10, 100, 0, 100, 50), "off-track");
        // Exactly 16.5 points behind is at risk; 33 is still at risk.
        assert_eq!(verdict(335, 1000, 0, 1000, 500), "at-risk");
        assert_eq!(verdict(17, 100, 0, 100, 50), "at-risk");
        // Before the start nothing is behind; after the due date, all the time is gone.
        assert_eq!(verdict(0, 10, 100, 200, 50), "on-track");
        assert_eq!(verdict(9, 10, 0, 100, 500), "on-track");
        assert_eq!(verdict(5, 10, 0, 100, 500), "off-track");
        assert_eq!(verdict(0, 0, 0, 100, 500), "on-track");
    }
}
