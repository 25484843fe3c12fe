//! Value reports per period: for every product, its KPIs at the start and end of the period,
//! what it delivered and what slipped, whether delivered items moved the KPIs they promised to,
//! and its dependencies at risk; for every platform, its targets, its adoption in the period, what
//! it delivered and what slipped, and the demand still open on it. The totals are the office's
//! figures. Pure over the plans and the facts read for them (`Facts`).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::model::{Item, Period, Plans, Status, ms_of};
use crate::domain::hooks::{AdoptionFact, TargetFact};
use crate::org::Graph;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KpiLine {
    pub name: String,
    pub target: Option<f64>,
    pub direction: String,
    pub at_start: Option<f64>,
    pub at_end: Option<f64>,
    pub on_track: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub item: String,
    pub title: String,
    pub target_date: String,
    pub delivered_at: String,
    pub on_time: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Slipped {
    pub item: String,
    pub title: String,
    pub target_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImpactLine {
    pub item: String,
    pub kpi: String,
    pub target: f64,
    pub actual: Option<f64>,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProductReport {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub team: Option<String>,
    pub domain: Option<String>,
    pub kpis: Vec<KpiLine>,
    pub delivered: Vec<Delivered>,
    pub slipped: Vec<Slipped>,
    pub expected_impact: Vec<ImpactLine>,
    pub dependencies_at_risk: i64,
    pub commitments_met: i64,
    pub commitments_due: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetLine {
    pub metric: String,
    pub target: f64,
    pub current: Option<f64>,
    pub on_track: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Adoption {
    pub active: i64,
    pub new: i64,
    pub churned: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub team: Option<String>,
    pub domain: Option<String>,
    pub targets: Vec<TargetLine>,
    pub adoption: Adoption,
    pub delivered: Vec<Delivered>,
    pub slipped: Vec<Slipped>,
    pub open_demand: i64,
    pub dependencies_at_risk: i64,
    pub commitments_met: i64,
    pub commitments_due: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub kpis_on_track: i64,
    pub kpis_total: i64,
    pub commitments_met: i64,
    pub commitments_due: i64,
    pub dependencies_at_risk: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub period: String,
    pub generated_at: String,
    /// Whether this is the report stored at the period's end (else computed now).
    pub snapshot: bool,
    pub products: Vec<ProductReport>,
    pub platforms: Vec<PlatformReport>,
    pub totals: Totals,
    /// The four keys over the period of each team owning a product or platform, where a
    /// domain measures them (team health) and the team sends deployments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamLine>,
}

/// One team's four keys over the period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TeamLine {
    pub team: String,
    pub health: serde_json::Value,
}

impl Report {
    /// Only the products and platforms of a domain (ref key), totals recomputed.
    pub fn within(mut self, domain: Option<&str>) -> Report {
        if let Some(d) = domain {
            self.products.retain(|p| p.domain.as_deref() == Some(d));
            self.platforms.retain(|p| p.domain.as_deref() == Some(d));
            self.totals = totals(&self.products, &self.platforms);
            let teams: std::collections::HashSet<&str> = self
                .products
                .iter()
                .filter_map(|p| p.team.as_deref())
                .chain(self.platforms.iter().filter_map(|p| p.team.as_deref()))
                .collect();
            let keep: std::collections::HashSet<String> = teams.into_iter().map(str::to_owned).collect();
            self.teams.retain(|t| keep.contains(&t.team));
        }
        self
    }
}

impl ProductReport {
    /// KPIs on track, and KPIs with a target (those that count).
    fn kpi_counts(&self) -> (i64, i64) {
        let on = self.kpis.iter().filter(|k| k.on_track == Some(true)).count();
        (on as i64, self.kpis.iter().filter(|k| k.target.is_some()).count() as i64)
    }
}

/// The totals of the lines.
pub fn totals(products: &[ProductReport], platforms: &[PlatformReport]) -> Totals {
    let mut t = Totals::default();
    for p in products {
        let (on, total) = p.kpi_counts();
        t.kpis_total += total;
        t.kpis_on_track += on;
        t.commitments_met += p.commitments_met;
        t.commitments_due += p.commitments_due;
        t.dependencies_at_risk += p.dependencies_at_risk;
    }
    for p in platforms {
        t.commitments_met += p.commitments_met;
        t.commitments_due += p.commitments_due;
        t.dependencies_at_risk += p.dependencies_at_risk;
    }
    t
}

/// What a report reads of consumption, per product and platform.
#[derive(Default)]
pub struct Measured {
    /// KPI values by product key: (KPI, time in ms, value), oldest first.
    pub kpis: HashMap<String, Vec<(String, i64, f64)>>,
    pub targets: HashMap<String, Vec<TargetFact>>,
    pub adoption: HashMap<String, AdoptionFact>,
    /// The four keys of each team over the period, by team ref key.
    pub teams: std::collections::BTreeMap<String, serde_json::Value>,
}

fn meets(value: f64, target: f64, increase: bool) -> bool {
    if increase { value >= target } else { value <= target }
}

/// The latest value of `kpi` recorded before `before` (ms).
fn value_before(values: &[(String, i64, f64)], kpi: &str, before: i64) -> Option<f64> {
    values.iter().filter(|(k, t, _)| k == kpi && *t < before).max_by_key(|(_, t, _)| *t).map(|v| v.2)
}

/// Delivered in the period, slipped in it, and the commitments (due, met) it held.
fn commitments(items: &[&Item], period: Period, today: NaiveDate) -> (Vec<Delivered>, Vec<Slipped>, i64, i64) {
    let mut delivered = Vec::new();
    let mut slipped = Vec::new();
    let (mut due, mut met) = (0, 0);
    for i in items {
        if i.status == Status::Dropped {
            continue;
        }
        let done_by = i.delivered.filter(|_| i.status == Status::Done);
        if let Some(d) = done_by
            && period.contains(d)
        {
            delivered.push(Delivered {
                item: i.id.clone(),
                title: i.title.clone(),
                target_date: i.target.to_string(),
                delivered_at: d.to_string(),
                on_time: d <= i.target,
            });
        }
        // A commitment falls due on its target day; one due later in a current period is not
        // due yet (unless delivered).
        if period.contains(i.target) && (i.target < today || done_by.is_some()) {
            due += 1;
            if done_by.is_some_and(|d| d <= i.target) {
                met += 1;
            } else {
                slipped.push(Slipped { item: i.id.clone(), title: i.title.clone(), target_date: i.target.to_string() });
            }
        }
    }
    (delivered, slipped, due, met)
}

/// Needs of the owner's open items that are late or unplanned.
fn at_risk(plans: &Plans, owner: &str) -> i64 {
    plans
        .of_owner(owner)
        .filter(|i| i.status.open())
        .flat_map(|i| i.needs.iter().map(move |n| (i, n)))
        .filter(|(i, n)| plans.state(i, n).0.at_risk())
        .count() as i64
}

/// The report of `period` as things stand at `now` (ms).
pub fn compute(g: &Graph, plans: &Plans, m: &Measured, period: Period, now: i64, snapshot: bool) -> Report {
    let today = super::model::day_of(now);
    let end_ms = ms_of(period.end()).min(now + 1);
    let start_ms = ms_of(period.start());
    let mut owners: Vec<&crate::org::Entity> =
        g.entities.values().filter(|e| e.is("product") || e.is("platform")).collect();
    owners.sort_by(|a, b| a.key.cmp(&b.key));
    let (mut products, mut platforms) = (Vec::new(), Vec::new());
    for e in owners {
        let items: Vec<&Item> = plans.of_owner(&e.key).collect();
        let (delivered, slipped, due, met) = commitments(&items, period, today);
        if e.is("product") {
            let values = m.kpis.get(&e.key).map(Vec::as_slice).unwrap_or_default();
            let mut directions = HashMap::new();
            let kpis: Vec<KpiLine> = e
                .kpis
                .iter()
                .filter_map(|k| {
                    let name = k.get("name")?.as_str()?.to_owned();
                    let target = k.get("target").and_then(serde_json::Value::as_f64);
                    let increase = k.get("direction").and_then(serde_json::Value::as_str) != Some("decrease");
                    directions.insert(name.clone(), increase);
                    let at_end = value_before(values, &name, end_ms);
                    let on_track = target.map(|t| at_end.is_some_and(|v| meets(v, t, increase)));
                    Some(KpiLine {
                        at_start: value_before(values, &name, start_ms),
                        at_end,
                        on_track,
                        target,
                        direction: if increase { "increase" } else { "decrease" }.to_owned(),
                        name,
                    })
                })
                .collect();
            let expected_impact = items
                .iter()
                .filter(|i| i.status == Status::Done && i.delivered.is_some_and(|d| period.contains(d)))
                .flat_map(|i| i.impact.iter().map(move |x| (i, x)))
                .map(|(i, x)| {
                    let actual = value_before(values, &x.kpi, end_ms);
                    let increase = directions.get(&x.kpi).copied().unwrap_or(true);
                    ImpactLine {
                        item: i.id.clone(),
                        kpi: x.kpi.clone(),
                        target: x.target,
                        actual,
                        met: actual.is_some_and(|v| meets(v, x.target, increase)),
                    }
                })
                .collect();
            products.push(ProductReport {
                entity_ref: e.key.clone(),
                team: e.owner.clone(),
                domain: e.domain.clone(),
                kpis,
                delivered,
                slipped,
                expected_impact,
                dependencies_at_risk: at_risk(plans, &e.key),
                commitments_met: met,
                commitments_due: due,
            });
        } else {
            let a = m.adoption.get(&e.key).copied().unwrap_or_default();
            platforms.push(PlatformReport {
                entity_ref: e.key.clone(),
                team: e.owner.clone(),
                domain: e.domain.clone(),
                targets: m
                    .targets
                    .get(&e.key)
                    .into_iter()
                    .flatten()
                    .map(|t| TargetLine {
                        metric: t.metric.clone(),
                        target: t.target,
                        current: t.current,
                        on_track: t.on_track,
                    })
                    .collect(),
                adoption: Adoption { active: a.active, new: a.new, churned: a.churned },
                delivered,
                slipped,
                open_demand: plans
                    .aimed_at(&e.key)
                    .filter(|(i, n)| i.status.open() && plans.state(i, n).0 != super::model::NeedState::Done)
                    .count() as i64,
                dependencies_at_risk: at_risk(plans, &e.key),
                commitments_met: met,
                commitments_due: due,
            });
        }
    }
    let totals = totals(&products, &platforms);
    let teams = m.teams.iter().map(|(t, h)| TeamLine { team: t.clone(), health: h.clone() }).collect();
    Report {
        period: period.to_string(),
        generated_at: crate::db::rfc3339(now),
        snapshot,
        products,
        platforms,
        totals,
        teams,
    }
}

/// The report as CSV: one row per product and platform, then the totals.
pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "period,section,ref,team,domain,kpis_on_track,kpis_total,commitments_met,commitments_due,dependencies_at_risk,delivered,slipped,open_demand,active_consumers,new_consumers,churned_consumers\n",
    );
    let cell = |s: &str| {
        if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    let opt = |s: &Option<String>| cell(s.as_deref().unwrap_or(""));
    for p in &r.products {
        let (on, total) = p.kpi_counts();
        out.push_str(&format!(
            "{},product,{},{},{},{on},{total},{},{},{},{},{},,,,\n",
            r.period,
            cell(&p.entity_ref),
            opt(&p.team),
            opt(&p.domain),
            p.commitments_met,
            p.commitments_due,
            p.dependencies_at_risk,
            p.delivered.len(),
            p.slipped.len()
        ));
    }
    for p in &r.platforms {
        out.push_str(&format!(
            "{},platform,{},{},{},,,{},{},{},{},{},{},{},{},{}\n",
            r.period,
            cell(&p.entity_ref),
            opt(&p.team),
            opt(&p.domain),
            p.commitments_met,
            p.commitments_due,
            p.dependencies_at_risk,
            p.delivered.len(),
            p.slipped.len(),
            p.open_demand,
            p.adoption.active,
            p.adoption.new,
            p.adoption.churned
        ));
    }
    let t = &r.totals;
    out.push_str(&format!(
        "{},total,,,,{},{},{},{},{},,,,,,\n",
        r.period, t.kpis_on_track, t.kpis_total, t.commitments_met, t.commitments_due, t.dependencies_at_risk
    ));
    out
}

/// One stored period's totals (the history).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    pub period: String,
    pub generated_at: String,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub periods: Vec<HistoryPoint>,
}
