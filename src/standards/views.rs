//! What standards as code answers, typed: a scorecard with its levels, checks and entities, and
//! the summary of every scorecard; CSV of the entities.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::model::{CheckOutcome, Scorecard};
use super::store::ResultRow;
use crate::catalog::model::EntityRef;
use crate::error::ApiError;
use crate::org::Graph;

/// The query of `GET /api/portal/scorecards/{namespace}/{name}`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorecardQuery {
    pub owner: Option<String>,
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelCount {
    pub name: String,
    /// Entities whose highest level is this one.
    pub entities: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    pub id: String,
    pub title: String,
    pub level: String,
    pub message: String,
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The share of entities passing, 0 to 1 (null without entities).
    pub pass_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failing {
    pub id: String,
    pub title: String,
    /// What to do (the check's message), or the run-time error that failed it.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityStanding {
    pub entity_ref: String,
    pub owner: Option<String>,
    /// The highest level reached; null below the lowest.
    pub level: Option<String>,
    pub score: f64,
    pub failing: Vec<Failing>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardView {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub title: String,
    pub owner: Option<String>,
    pub description: Option<String>,
    /// Every level, lowest first, with the entities at it (of those listed).
    pub levels: Vec<LevelCount>,
    /// Entities below the lowest level (of those listed).
    pub unranked: usize,
    pub checks: Vec<CheckView>,
    pub entities: Vec<EntityStanding>,
}

/// A scorecard in the list of every scorecard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub title: String,
    pub owner: Option<String>,
    pub levels: Vec<LevelCount>,
    pub unranked: usize,
    pub checks: Vec<CheckRate>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRate {
    pub id: String,
    pub pass_rate: Option<f64>,
}

pub(crate) fn outcomes(row: &ResultRow) -> Vec<CheckOutcome> {
    serde_json::from_str(&row.checks).unwrap_or_default()
}

fn rate(passed: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| ((passed as f64 / of as f64) * 1000.0).round() / 1000.0)
}

fn levels_of(sc: &Scorecard, rows: &[&ResultRow]) -> (Vec<LevelCount>, usize) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut unranked = 0;
    for r in rows {
        match &r.level {
            Some(l) => *count.entry(l.as_str()).or_default() += 1,
            None => unranked += 1,
        }
    }
    let levels = sc
        .levels
        .iter()
        .map(|l| LevelCount { name: l.clone(), entities: count.get(l.as_str()).copied().unwrap_or(0) })
        .collect();
    (levels, unranked)
}

fn pass_counts(sc: &Scorecard, rows: &[&ResultRow]) -> Vec<usize> {
    let mut passed = vec![0; sc.checks.len()];
    for r in rows {
        for (i, o) in outcomes(r).iter().enumerate().take(passed.len()) {
            passed[i] += usize::from(o.passed);
        }
    }
    passed
}

/// The owner filter as a ref key (`group` by default).
fn owner_key(raw: &str) -> Result<String, ApiError> {
    EntityRef::parse(raw, Some("group"), crate::catalog::model::DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("owner: {e}")))
}

/// One scorecard, its entities filtered by owner and level.
pub fn scorecard_view(
    g: &Graph,
    sc: &Scorecard,
    rows: &[ResultRow],
    q: &ScorecardQuery,
) -> Result<ScorecardView, ApiError> {
    let owner = q.owner.as_deref().map(owner_key).transpose()?;
    if let Some(l) = &q.level
        && l != "none"
        && !sc.levels.contains(l)
    {
        return Err(ApiError::input(format!(
            "level: '{l}' is not a level of this scorecard ({}, or none)",
            sc.levels.join(", ")
        )));
    }
    let listed: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| owner.is_none() || r.owner_ref == owner)
        .filter(|r| match q.level.as_deref() {
            None => true,
            Some("none") => r.level.is_none(),
            Some(l) => r.level.as_deref() == Some(l),
        })
        .collect();
    let (levels, unranked) = levels_of(sc, &listed);
    let passed = pass_counts(sc, &listed);
    let checks = sc
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| CheckView {
            id: c.id.clone(),
            title: c.title.clone(),
            level: sc.levels.get(c.level).cloned().unwrap_or_default(),
            message: c.message.clone(),
            weight: c.weight,
            severity: c.severity.clone(),
            pass_rate: rate(passed[i], listed.len()),
        })
        .collect();
    let entities = listed
        .iter()
        .map(|r| EntityStanding {
            entity_ref: g.display(&r.entity_ref),
            owner: r.owner_ref.as_deref().map(|o| g.display(o)),
            level: r.level.clone(),
            score: r.score,
            failing: sc
                .checks
                .iter()
                .zip(outcomes(r))
                .filter(|(_, o)| !o.passed)
                .map(|(c, o)| Failing {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    message: o
                        .error
                        .clone()
                        .map_or_else(|| c.message.clone(), |e| format!("the check could not run: {e}")),
                    error: o.error,
                })
                .collect(),
        })
        .collect();
    Ok(ScorecardView {
        entity_ref: sc.entity_ref.clone(),
        title: sc.title.clone(),
        owner: sc.owner.as_deref().map(|o| g.display(o)),
        description: sc.description.clone(),
        levels,
        unranked,
        checks,
        entities,
    })
}

/// Every scorecard with its level counts and pass rates.
pub fn summaries(g: &Graph, scorecards: &[&Scorecard], rows: &[ResultRow]) -> Vec<Summary> {
    let mut by: HashMap<&str, Vec<&ResultRow>> = HashMap::new();
    for r in rows {
        by.entry(r.scorecard_ref.as_str()).or_default().push(r);
    }
    scorecards
        .iter()
        .map(|sc| {
            let rows = by.get(sc.key.as_str()).map(Vec::as_slice).unwrap_or_default();
            let (levels, unranked) = levels_of(sc, rows);
            let passed = pass_counts(sc, rows);
            Summary {
                entity_ref: sc.entity_ref.clone(),
                title: sc.title.clone(),
                owner: sc.owner.as_deref().map(|o| g.display(o)),
                levels,
                unranked,
                checks: sc
                    .checks
                    .iter()
                    .zip(passed)
                    .map(|(c, p)| CheckRate { id: c.id.clone(), pass_rate: rate(p, rows.len()) })
                    .collect(),
            }
        })
        .collect()
}

fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// The entities of a scorecard view as CSV.
pub fn csv(v: &ScorecardView) -> String {
    let mut out = String::from("entityRef,owner,level,score,failing\n");
    for e in &v.entities {
        let failing: Vec<&str> = e.failing.iter().map(|f| f.id.as_str()).collect();
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            cell(&e.entity_ref),
            cell(e.owner.as_deref().unwrap_or("")),
            cell(e.level.as_deref().unwrap_or("")),
            e.score,
            cell(&failing.join(" "))
        ));
    }
    out
}
