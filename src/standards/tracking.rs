//! Campaigns and history on top of the stored judgements: each campaign's standing (in scope,
//! done, by owner, on track), the daily snapshot of every scorecard and campaign, and the
//! findings governance shows (`campaign-overdue`, `campaign-invalid`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};

use super::Standards;
use super::campaigns::{self, Campaign, Problem};
use super::model::{CheckOutcome, Scorecard};
use super::store::{self, CampaignDay, DayRow, ScoreRow};
use super::subject;
use super::views;
use crate::catalog::facade as catalog_store;
use crate::db::{Pool, rfc3339};
use crate::domain::hooks::{FindingsSource, Level, SourcedFinding};
use crate::error::ApiError;
use crate::org::Graph;

/// How long entity scores are kept.
pub const SCORE_DAYS: i64 = 400;
/// Finding rule ids of this domain.
pub const RULES: &[&str] = &["campaign-overdue", "campaign-invalid"];

/// A campaign as read from the catalog: resolved, or what its document names wrongly.
pub struct Read {
    pub key: String,
    pub campaign: Result<Campaign, Problem>,
}

/// Who is in a campaign's scope and who is done: (entity, owner, done).
pub struct Standing {
    pub members: Vec<(String, Option<String>, bool)>,
}

impl Standing {
    pub fn done(&self) -> usize {
        self.members.iter().filter(|m| m.2).count()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerProgress {
    pub owner: Option<String>,
    pub in_scope: usize,
    pub done: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayProgress {
    pub day: String,
    pub in_scope: i32,
    pub done: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub title: String,
    pub owner: Option<String>,
    pub scorecard: Option<String>,
    pub description: Option<String>,
    pub start: Option<String>,
    pub due: Option<String>,
    pub in_scope: usize,
    pub done: usize,
    /// `on-track`, `at-risk` or `off-track` (null while the campaign names what is not there).
    pub on_track: Option<&'static str>,
    pub overdue: bool,
    pub by_owner: Vec<OwnerProgress>,
    pub series: Vec<DayProgress>,
    /// What the document names that its scorecard lacks (the last good version is not kept
    /// across restarts: a campaign with a problem has no standing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// A day as text.
pub fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%d").to_string()
}

impl Standards {
    /// Every campaign in the catalog, resolved against the scorecards.
    pub fn campaigns(&self, pool: &Pool, g: &Graph, scorecards: &[Arc<Scorecard>]) -> anyhow::Result<Vec<Read>> {
        let mut out = Vec::new();
        for (key, body) in catalog_store::bodies_of_kind(pool, "campaign")? {
            let key = key.to_ascii_lowercase();
            let Ok(v) = serde_json::from_str::<Value>(&body) else { continue };
            let named = campaigns::scorecard_key(&v);
            let sc = named.and_then(|n| scorecards.iter().find(|s| s.key == n)).map(|s| &**s);
            let owner = g.get(&key).and_then(|e| e.owner.clone());
            out.push(Read { campaign: Campaign::from_body(&key, &v, owner, sc), key });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Who is in a campaign's scope, from its scorecard's stored results.
    pub fn standing(&self, pool: &Pool, g: &Graph, c: &Campaign, sc: &Scorecard, now: i64) -> anyhow::Result<Standing> {
        let rows = store::results_of(pool, &sc.key)?;
        let kept: Option<HashSet<String>> = match &c.filter {
            Some(f) => {
                let keys: Vec<String> = rows.iter().map(|r| r.entity_ref.clone()).collect();
                let facts = self.facts(pool, g, false)?;
                let subjects = subject::Subjects::load(pool, g, Some(&keys), &facts, now)?;
                Some(subjects.kept(f, &keys))
            }
            None => None,
        };
        let members = rows
            .into_iter()
            .filter(|r| kept.as_ref().is_none_or(|k| k.contains(&r.entity_ref)))
            .map(|r| {
                let checks: Vec<CheckOutcome> = serde_json::from_str(&r.checks).unwrap_or_default();
                let done = c.done(r.level.as_deref(), &checks, sc);
                (r.entity_ref, r.owner_ref, done)
            })
            .collect();
        Ok(Standing { members })
    }

    /// Every campaign's view (`GET /api/portal/campaigns`), or one (`key`).
    pub fn campaign_views(&self, pool: &Pool, key: Option<&str>, now: i64) -> anyhow::Result<Vec<CampaignView>> {
        let g = self.org.snapshot(pool)?;
        let scorecards: Vec<Arc<Scorecard>> = self.scorecards(pool, &g)?.into_iter().map(|(_, s)| s).collect();
        let mut out = Vec::new();
        for read in self.campaigns(pool, &g, &scorecards)? {
            if key.is_some_and(|k| k != read.key) {
                continue;
            }
            let e = g.get(&read.key);
            let title =
                e.and_then(|e| e.title.clone()).unwrap_or_else(|| e.map_or(read.key.clone(), |e| e.name.clone()));
            let owner = e.and_then(|e| e.owner.as_deref()).map(|o| g.display(o));
            let mut v = CampaignView {
                entity_ref: g.display(&read.key),
                title,
                owner,
                scorecard: None,
                description: e.and_then(|e| e.description.clone()),
                start: None,
                due: None,
                in_scope: 0,
                done: 0,
                on_track: None,
                overdue: false,
                by_owner: Vec::new(),
                series: Vec::new(),
                problems: Vec::new(),
            };
            match &read.campaign {
                Err(p) => v.problems.push(p.clone()),
                Ok(c) => {
                    let sc = scorecards.iter().find(|s| s.key == c.scorecard).map(|s| &**s);
                    let Some(sc) = sc else { continue };
                    let standing = self.standing(pool, &g, c, sc, now)?;
                    v.scorecard = Some(sc.entity_ref.clone());
                    v.description = c.description.clone();
                    v.start = Some(rfc3339(c.start));
                    v.due = Some(rfc3339(c.due));
                    v.in_scope = standing.members.len();
                    v.done = standing.done();
                    v.on_track = Some(campaigns::verdict(v.done, v.in_scope, c.start, c.due, now));
                    v.overdue = now > c.due && v.done < v.in_scope;
                    let members = standing.members.iter().map(|(_, o, d)| (o.as_deref(), *d));
                    v.by_owner = campaigns::by_owner(members)
                        .into_iter()
                        .map(|(o, (n, d))| OwnerProgress {
                            owner: (!o.is_empty()).then(|| g.display(&o)),
                            in_scope: n,
                            done: d,
                        })
                        .collect();
                    v.series = store::campaign_days_of(pool, &read.key)?
                        .into_iter()
                        .map(|d| DayProgress { day: d.day, in_scope: d.in_scope, done: d.done })
                        .collect();
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Records `day`'s snapshot of every scorecard, entity score and campaign (replacing what
    /// the day held); answers what it recorded.
    pub fn snapshot(&self, pool: &Pool, day: NaiveDate, now: i64) -> anyhow::Result<Value> {
        let g = self.org.snapshot(pool)?;
        let scorecards: Vec<Arc<Scorecard>> = self.scorecards(pool, &g)?.into_iter().map(|(_, s)| s).collect();
        let text = day.format("%Y-%m-%d").to_string();
        let rows = store::all_results(pool)?;
        let list: Vec<&Scorecard> = scorecards.iter().map(|s| &**s).collect();
        let mut days = Vec::new();
        for s in views::summaries(&g, &list, &rows) {
            let key =
                list.iter().find(|x| x.entity_ref == s.entity_ref).map_or(s.entity_ref.clone(), |x| x.key.clone());
            days.push(DayRow {
                scorecard_ref: key,
                day: text.clone(),
                entities: i32::try_from(s.levels.iter().map(|l| l.entities).sum::<usize>() + s.unranked)
                    .unwrap_or(i32::MAX),
                unranked: i32::try_from(s.unranked).unwrap_or(i32::MAX),
                levels: serde_json::to_string(&s.levels)?,
                checks: serde_json::to_string(&s.checks)?,
            });
        }
        let scores: Vec<ScoreRow> = rows
            .iter()
            .map(|r| ScoreRow {
                scorecard_ref: r.scorecard_ref.clone(),
                day: text.clone(),
                entity_ref: r.entity_ref.clone(),
                level: r.level.clone(),
                score: r.score,
            })
            .collect();
        let mut campaign_days = Vec::new();
        for read in self.campaigns(pool, &g, &scorecards)? {
            let Ok(c) = &read.campaign else { continue };
            let Some(sc) = scorecards.iter().find(|s| s.key == c.scorecard) else { continue };
            let st = self.standing(pool, &g, c, sc, now)?;
            campaign_days.push(CampaignDay {
                campaign_ref: read.key.clone(),
                day: text.clone(),
                in_scope: i32::try_from(st.members.len()).unwrap_or(i32::MAX),
                done: i32::try_from(st.done()).unwrap_or(i32::MAX),
            });
        }
        let keep_from =
            day_of(day.and_hms_opt(0, 0, 0).map_or(now, |d| d.and_utc().timestamp_millis()) - SCORE_DAYS * 86_400_000);
        store::record_day(pool, &text, &days, &scores, &campaign_days, &keep_from)?;
        Ok(
            json!({"day": text, "scorecards": days.len(), "entityScores": scores.len(), "campaigns": campaign_days.len()}),
        )
    }

    /// Records today's snapshot unless it is recorded already (the daily task).
    pub fn snapshot_due(&self, pool: &Pool, now: i64) -> anyhow::Result<()> {
        let today = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().date_naive();
        if !store::day_recorded(pool, &day_of(now))? {
            self.snapshot(pool, today, now)?;
        }
        Ok(())
    }

    /// A scorecard's days in `[from, to]`.
    pub fn history(&self, pool: &Pool, key: &str, from: &str, to: &str) -> Result<Value, ApiError> {
        let g = self.org.snapshot(pool)?;
        let sc = self
            .scorecard(pool, &g, key)?
            .ok_or_else(|| ApiError::not_found(format!("No scorecard named '{key}' found")))?;
        let days: Vec<Value> = store::days_of(pool, key, from, to)?
            .into_iter()
            .map(|d| {
                json!({
                    "day": d.day,
                    "entities": d.entities,
                    "unranked": d.unranked,
                    "levels": serde_json::from_str::<Value>(&d.levels).unwrap_or(Value::Null),
                    "checks": serde_json::from_str::<Value>(&d.checks).unwrap_or(Value::Null),
                })
            })
            .collect();
        Ok(json!({"ref": sc.entity_ref, "from": from, "to": to, "days": days}))
    }
}

/// How long findings may go unasked when nothing moved.
const FINDINGS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A finding per failing check that has a severity: rule `<scorecard name>/<check id>`.
fn check_findings(g: &Graph, scorecards: &[Arc<Scorecard>], rows: &[store::ResultRow]) -> Vec<SourcedFinding> {
    let mut out = Vec::new();
    for sc in scorecards {
        let graded: Vec<(usize, Level)> = sc
            .checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let level = match c.severity.as_deref()? {
                    "error" => Level::Error,
                    "warning" => Level::Warning,
                    _ => Level::Info,
                };
                Some((i, level))
            })
            .collect();
        if graded.is_empty() {
            continue;
        }
        for r in rows.iter().filter(|r| r.scorecard_ref == sc.key) {
            let outcomes: Vec<CheckOutcome> = serde_json::from_str(&r.checks).unwrap_or_default();
            for &(i, level) in &graded {
                let Some(o) = outcomes.get(i).filter(|o| !o.passed) else { continue };
                let c = &sc.checks[i];
                let why = match &o.error {
                    Some(e) => format!("the check could not run: {e}"),
                    None if c.message.is_empty() => "it fails".to_owned(),
                    None => c.message.clone(),
                };
                out.push(SourcedFinding {
                    entity_ref: r.entity_ref.clone(),
                    rule: format!("{}/{}", sc.name, c.id),
                    message: format!("{} ({}): {why}", c.title, g.display(&sc.key)),
                    details: json!({"scorecard": sc.entity_ref, "check": c.id}),
                    level: Some(level),
                });
            }
        }
    }
    out
}

/// Failing checks with a severity (rule `<scorecard>/<check>`); `campaign-overdue` on every
/// entity still not done after a campaign's due date, naming the campaign and its owner;
/// `campaign-invalid` on a campaign naming what its scorecard lacks.
impl FindingsSource for Standards {
    fn name(&self) -> &'static str {
        "standards"
    }

    fn rules(&self) -> &'static [&'static str] {
        RULES
    }

    fn user_rules(&self) -> bool {
        true
    }

    fn findings(&self, pool: &Pool, g: &Graph, generation: i64) -> anyhow::Result<Option<Vec<SourcedFinding>>> {
        // Again when this instance judged, governance's state moved, or a minute went by (a due
        // date passing; another instance's judgement).
        let judged = self.judgements.load(std::sync::atomic::Ordering::SeqCst);
        {
            let mut last = self.last_findings.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((j, gen_, at)) = *last
                && j == judged
                && gen_ == generation
                && at.elapsed() < FINDINGS_EVERY
            {
                return Ok(None);
            }
            *last = Some((judged, generation, std::time::Instant::now()));
        }
        let now = crate::db::now_ms();
        let scorecards: Vec<Arc<Scorecard>> = self.scorecards(pool, g)?.into_iter().map(|(_, s)| s).collect();
        let mut out = check_findings(g, &scorecards, &store::all_results(pool)?);
        for read in self.campaigns(pool, g, &scorecards)? {
            let c = match &read.campaign {
                Err(p) => {
                    out.push(SourcedFinding {
                        entity_ref: read.key.clone(),
                        rule: "campaign-invalid".into(),
                        message: format!("{}: {}", p.path, p.message),
                        details: json!({"path": p.path}),
                        level: Some(Level::Error),
                    });
                    continue;
                }
                Ok(c) => c,
            };
            if now <= c.due {
                continue;
            }
            let Some(sc) = scorecards.iter().find(|s| s.key == c.scorecard) else { continue };
            let owner = c.owner.as_deref().map_or_else(|| "no owner".to_owned(), |o| g.display(o));
            for (entity, _, done) in self.standing(pool, g, c, sc, now)?.members {
                if done {
                    continue;
                }
                out.push(SourcedFinding {
                    entity_ref: entity,
                    rule: "campaign-overdue".into(),
                    message: format!(
                        "campaign {} ({owner}) was due {}; this entity is not done",
                        c.entity_ref,
                        day_of(c.due)
                    ),
                    details: json!({"campaign": c.entity_ref, "owner": owner, "due": rfc3339(c.due)}),
                    level: Some(Level::Warning),
                });
            }
        }
        Ok(Some(out))
    }
}
