//! The four keys, pure: which deployments count, which failed and why, and the deployment
//! frequency, lead time for changes, change failure rate and failed deployment recovery time of
//! a set of events over a window, with the performance band of each.
//!
//! The definitions follow DORA as Apache DevLake and Google's Four Keys compute them (README,
//! "Team health"): a deployment counts when it is production-tier and successful; frequency is
//! counted in deployment days; a failed deployment counts once however many incidents it has.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

pub use super::parts::{self, Failed, Parts};
use serde::{Deserialize, Serialize};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The deployment tier of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Production,
    Staging,
    Testing,
    Development,
    Other,
}

impl Tier {
    pub const ALL: &[&str] = &["production", "staging", "testing", "development", "other"];

    pub fn parse(raw: &str) -> Option<Tier> {
        Some(match raw {
            "production" => Tier::Production,
            "staging" => Tier::Staging,
            "testing" => Tier::Testing,
            "development" => Tier::Development,
            "other" => Tier::Other,
            _ => return None,
        })
    }

    /// The tier an environment has when none is given: production for `production` and `prod`.
    pub fn of_environment(env: &str) -> Tier {
        if env.eq_ignore_ascii_case("production") || env.eq_ignore_ascii_case("prod") {
            Tier::Production
        } else {
            Tier::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Failure,
    Cancelled,
    InProgress,
}

impl Status {
    pub const ALL: &[&str] = &["success", "failure", "cancelled", "in_progress"];

    pub fn parse(raw: &str) -> Option<Status> {
        Some(match raw {
            "success" => Status::Success,
            "failure" => Status::Failure,
            "cancelled" => Status::Cancelled,
            "in_progress" => Status::InProgress,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }

    pub fn finished(self) -> bool {
        self != Status::InProgress
    }
}

/// A change (commit) a deployment shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub sha: String,
    pub committed_at: i64,
}

/// A deployment as the keys need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    /// The entity's ref key.
    pub entity: String,
    pub tier: Tier,
    pub status: Status,
    pub finished_at: Option<i64>,
    pub version: Option<String>,
    pub rollback_of: Option<String>,
    pub changes: Vec<Change>,
}

impl Deployment {
    /// Production-tier and successful, with a finish time: what the keys count.
    pub fn counts(&self) -> bool {
        self.tier == Tier::Production && self.status == Status::Success && self.finished_at.is_some()
    }

    fn finished(&self) -> i64 {
        self.finished_at.unwrap_or(i64::MIN)
    }
}

/// An incident as the keys need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    pub entity: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub caused_by: Option<String>,
}

/// How an incident was tied to a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkedBy {
    /// The incident named it (`causedBy`).
    CausedBy,
    /// The entity's most recent successful production deployment finished at or before it.
    Time,
}

/// Why a deployment failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    /// The incidents attributed to it.
    pub incidents: Vec<String>,
    /// The deployment that rolled it back (named it in `rollbackOf`, or carried an earlier
    /// version next).
    pub rolled_back_by: Option<String>,
    /// Recovery times (ms): one per resolved incident, one for a rollback.
    pub recovery: Vec<i64>,
    /// How many of `recovery` came from incidents.
    pub recovered_incidents: usize,
}

/// Failures and incident attribution over a set of events.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub failed: HashMap<String, Failure>,
    /// Incident id -> (deployment id, how).
    pub incident_to: HashMap<String, (String, LinkedBy)>,
}

/// Compares versions made of numbers (`v1.2.10`, `2024.03.1`); `None` when either is not.
pub fn version_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    fn parts(v: &str) -> Option<Vec<u64>> {
        let v = v.trim().trim_start_matches(['v', 'V']);
        let core = v.split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse::<u64>().ok()).collect()
    }
    Some(parts(a)?.cmp(&parts(b)?))
}

/// Counted deployments per entity, in finish order.
fn counted_by_entity(deps: &[Deployment]) -> HashMap<&str, Vec<&Deployment>> {
    let mut by: HashMap<&str, Vec<&Deployment>> = HashMap::new();
    for d in deps.iter().filter(|d| d.counts()) {
        by.entry(d.entity.as_str()).or_default().push(d);
    }
    for list in by.values_mut() {
        list.sort_by(|a, b| a.finished().cmp(&b.finished()).then_with(|| a.id.cmp(&b.id)));
    }
    by
}

/// Ties incidents to deployments and finds rollbacks.
pub fn link(deps: &[Deployment], incidents: &[Incident]) -> Links {
    let by_entity = counted_by_entity(deps);
    let by_id: HashMap<&str, &Deployment> = deps.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut links = Links::default();
    for i in incidents {
        let named = i.caused_by.as_deref().and_then(|c| by_id.get(c)).filter(|d| d.counts());
        let target = match named {
            Some(d) => Some((*d, LinkedBy::CausedBy)),
            None => by_entity
                .get(i.entity.as_str())
                .and_then(|list| list.iter().rev().find(|d| d.finished() <= i.created_at))
                .map(|d| (*d, LinkedBy::Time)),
        };
        let Some((d, how)) = target else { continue };
        links.incident_to.insert(i.id.clone(), (d.id.clone(), how));
        let f = links.failed.entry(d.id.clone()).or_default();
        f.incidents.push(i.id.clone());
        if let Some(resolved) = i.resolved_at {
            f.recovery.push((resolved - d.finished()).max(0));
            f.recovered_incidents += 1;
        }
    }
    for list in by_entity.values() {
        for (n, d) in list.iter().enumerate() {
            // Named: `rollbackOf` of a later deployment.
            if let Some(target) =
                d.rollback_of.as_deref().and_then(|t| by_id.get(t)).filter(|t| t.counts() && t.entity == d.entity)
            {
                roll_back(&mut links, target, d, list);
            }
            // Implied: the next deployment carries an earlier version.
            if let Some(next) = list.get(n + 1)
                && let (Some(a), Some(b)) = (&d.version, &next.version)
                && version_cmp(b, a) == Some(std::cmp::Ordering::Less)
            {
                roll_back(&mut links, d, next, list);
            }
        }
    }
    links
}

fn roll_back(links: &mut Links, failed: &Deployment, by: &Deployment, list: &[&Deployment]) {
    let f = links.failed.entry(failed.id.clone()).or_default();
    if f.rolled_back_by.is_some() {
        return;
    }
    f.rolled_back_by = Some(by.id.clone());
    // Recovered at the next successful production deployment after the failed one.
    if let Some(next) = list.iter().find(|d| d.finished() > failed.finished()) {
        f.recovery.push(next.finished() - failed.finished());
    }
}

/// A performance band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Elite => "elite",
            Band::High => "high",
            Band::Medium => "medium",
            Band::Low => "low",
        }
    }
}

/// The band limits of one report year, as data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    pub year: u16,
    /// Elite: the median week has at least this many deployment days.
    pub elite_days_per_week: f64,
    /// High: the median week has at least this many.
    pub high_days_per_week: f64,
    /// Medium: the median month has at least this many.
    pub medium_days_per_month: f64,
    /// Lead time below each limit (hours): elite, high, medium.
    pub lead_hours: [f64; 3],
    /// Change failure rate at most each limit: elite, high, medium.
    pub failure_rate: [f64; 3],
    /// Recovery time below each limit (hours): elite, high, medium.
    pub recovery_hours: [f64; 3],
}

/// The report years known; the first is the default.
pub const BANDS: &[Bands] = &[
    // State of DevOps 2023, narrowed as DevLake does so that every value falls in one band.
    Bands {
        year: 2023,
        elite_days_per_week: 7.0,
        high_days_per_week: 1.0,
        medium_days_per_month: 1.0,
        lead_hours: [24.0, 168.0, 720.0],
        failure_rate: [0.05, 0.10, 0.15],
        recovery_hours: [1.0, 24.0, 168.0],
    },
    // Accelerate State of DevOps 2021.
    Bands {
        year: 2021,
        elite_days_per_week: 7.0,
        high_days_per_week: 1.0,
        medium_days_per_month: 1.0,
        lead_hours: [1.0, 168.0, 4_320.0],
        failure_rate: [0.15, 0.20, 0.30],
        recovery_hours: [1.0, 24.0, 168.0],
    },
];

impl Bands {
    pub fn of_year(year: u16) -> Option<Bands> {
        BANDS.iter().copied().find(|b| b.year == year)
    }

    fn below(value: f64, limits: [f64; 3], inclusive: bool) -> Band {
        let within = |l: f64| if inclusive { value <= l } else { value < l };
        if within(limits[0]) {
            Band::Elite
        } else if within(limits[1]) {
            Band::High
        } else if within(limits[2]) {
            Band::Medium
        } else {
            Band::Low
        }
    }

    pub fn frequency(&self, median_week: f64, median_month: f64) -> Band {
        if median_week >= self.elite_days_per_week {
            Band::Elite
        } else if median_week >= self.high_days_per_week {
            Band::High
        } else if median_month >= self.medium_days_per_month {
            Band::Medium
        } else {
            Band::Low
        }
    }

    pub fn lead(&self, hours: f64) -> Band {
        Self::below(hours, self.lead_hours, false)
    }

    pub fn failure(&self, rate: f64) -> Band {
        Self::below(rate, self.failure_rate, true)
    }

    pub fn recovery(&self, hours: f64) -> Band {
        Self::below(hours, self.recovery_hours, false)
    }
}

/// The median, the mean of the middle two for an even count.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    // Selection, not a sort: the middle value with the smaller ones before it.
    let n = values.len();
    let (below, mid, _) = values.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    let mid = *mid;
    Some(if n % 2 == 1 { mid } else { (below.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid) / 2.0 })
}

/// Rounds for display: three decimals.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A span of days, `from` to `to` inclusive (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

pub fn day_of(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive()).unwrap_or_default()
}

pub fn ms_of(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0)
}

fn monday(day: NaiveDate) -> NaiveDate {
    day - chrono::Days::new(day.weekday().num_days_from_monday() as u64)
}

impl Window {
    /// The `days` days up to and including `to`.
    pub fn last(days: u64, to: NaiveDate) -> Window {
        Window { from: to - chrono::Days::new(days.saturating_sub(1)), to }
    }

    pub fn start_ms(&self) -> i64 {
        ms_of(self.from)
    }

    /// The first instant after the window.
    pub fn end_ms(&self) -> i64 {
        ms_of(self.to) + DAY_MS
    }

    pub fn holds(&self, ms: i64) -> bool {
        ms >= self.start_ms() && ms < self.end_ms()
    }

    /// The Mondays of the weeks the window touches.
    pub fn weeks(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut w = monday(self.from);
        while w <= self.to {
            out.push(w);
            w = w + chrono::Days::new(7);
        }
        out
    }

    /// The first days of the months the window touches.
    pub fn months(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut m = self.from.with_day(1).unwrap_or(self.from);
        while m <= self.to {
            out.push(m);
            m = m.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX);
        }
        out
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
}

/// Deployment frequency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frequency {
    pub deployments: i64,
    pub deployment_days: i64,
    /// The median deployment days of the weeks the window touches.
    pub deployment_days_per_week: Option<f64>,
    pub deployment_days_per_month: Option<f64>,
    pub band: Option<Band>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadTime {
    pub median_hours: Option<f64>,
    pub changes: i64,
    /// Changes whose lead time was not positive (a commit time after the deploy), left out.
    pub ignored: i64,
    pub band: Option<Band>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRate {
    pub rate: Option<f64>,
    pub failed: i64,
    pub deployments: i64,
    pub band: Option<Band>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    pub median_hours: Option<f64>,
    /// Resolved incidents measured.
    pub incidents: i64,
    /// Rollbacks measured.
    pub rollbacks: i64,
    pub band: Option<Band>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// One week of the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeekPoint {
    pub week: NaiveDate,
    pub deployments: i64,
    pub deployment_days: i64,
    pub lead_time_hours: Option<f64>,
    pub change_failure_rate: Option<f64>,
    /// The week reaches past the window's last day (still in progress, or cut by `to`).
    pub partial: bool,
}

/// The four keys of a set of events over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Keys {
    pub deployment_frequency: Frequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: FailureRate,
    pub recovery_time: Recovery,
    pub series: Vec<WeekPoint>,
}

/// The four keys of `deps` and `incidents` (the scope's events, including some before and after
/// the window: a change first shipped earlier does not count again, a rollback may come later).
/// The events are reduced to their [`Parts`] and assembled from there, as the store's reads are.
pub fn keys(deps: &[Deployment], incidents: &[Incident], window: Window, bands: &Bands) -> Keys {
    let links = link(deps, incidents);
    let (start, end) = (window.start_ms(), window.end_ms());
    let holds = |ms: i64| ms >= start && ms < end;
    let any_event = deps.iter().any(|d| d.finished_at.is_some_and(holds));
    let mut parts = Parts { any_event, ..Parts::default() };
    for d in deps.iter().filter(|d| d.counts() && holds(d.finished())) {
        *parts.days.entry(d.finished().div_euclid(DAY_MS)).or_default() += 1;
        if let Some(f) = links.failed.get(&d.id) {
            parts.failed.push(Failed {
                finished_at: d.finished(),
                recovery: f.recovery.clone(),
                recovered_incidents: f.recovered_incidents,
            });
        }
    }
    // Lead time: each change at the first counted deployment of its entity that shipped it.
    let mut first: HashMap<(&str, &str), (i64, i64)> = HashMap::with_capacity(deps.len() * 2);
    for d in deps.iter().filter(|d| d.counts()) {
        for c in &d.changes {
            let e = first.entry((d.entity.as_str(), c.sha.as_str())).or_insert((d.finished(), c.committed_at));
            if d.finished() < e.0 {
                *e = (d.finished(), c.committed_at);
            }
        }
    }
    parts.leads = first.values().filter(|(deployed, _)| holds(*deployed)).map(|(d, c)| (*d, d - c)).collect();
    parts::assemble(parts, window, bands)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a Thursday

    fn dep(id: &str, at_h: i64, status: Status) -> Deployment {
        Deployment {
            id: id.into(),
            entity: "component:default/a".into(),
            tier: Tier::Production,
            status,
            finished_at: Some(T0 + at_h * HOUR_MS),
            version: None,
            rollback_of: None,
            changes: Vec::new(),
        }
    }

    fn change(sha: &str, at_h: i64) -> Change {
        Change { sha: sha.into(), committed_at: T0 + at_h * HOUR_MS }
    }

    fn window() -> Window {
        Window { from: day_of(T0), to: day_of(T0 + 27 * DAY_MS) }
    }

    fn bands() -> Bands {
        BANDS[0]
    }

    #[test]
    fn only_successful_production_deployments_count_and_days_not_deployments() {
        let mut staging = dep("s", 1, Status::Success);
        staging.tier = Tier::Staging;
        let deps = vec![
            dep("a", 1, Status::Success),
            dep("b", 2, Status::Success), // same day as a
            dep("c", 30, Status::Success),
            dep("d", 31, Status::Failure),
            staging,
        ];
        let k = keys(&deps, &[], window(), &bands());
        assert_eq!(k.deployment_frequency.deployments, 3);
        assert_eq!(k.deployment_frequency.deployment_days, 2);
        // 2026-01-01 is a Thursday: the window touches 5 weeks (Dec 29 .. Jan 26); the first
        // has 2 deployment days, the rest none: the median week has 0, the month 2.
        assert_eq!(k.series.len(), 5);
        assert_eq!(k.series[0].deployment_days, 2);
        assert_eq!(k.deployment_frequency.deployment_days_per_week, Some(0.0));
        assert_eq!(k.deployment_frequency.band, Some(Band::Medium));
        assert!(k.series[0].partial && !k.series[1].partial);
    }

    #[test]
    fn lead_time_counts_each_change_once_at_its_first_deployment_and_skips_non_positive() {
        let mut a = dep("a", 10, Status::Success);
        a.changes = vec![change("x", 0), change("y", 4), change("z", 12)]; // z: after the deploy
        let mut b = dep("b", 40, Status::Success);
        b.changes = vec![change("x", 0), change("w", 38)]; // x again: not counted again
        let k = keys(&[a, b], &[], window(), &bands());
        // x: 10 h, y: 6 h, w: 2 h; z ignored.
        assert_eq!(k.lead_time.changes, 3);
        assert_eq!(k.lead_time.ignored, 1);
        assert_eq!(k.lead_time.median_hours, Some(6.0));
        assert_eq!(k.lead_time.band, Some(Band::Elite));
    }

    #[test]
    fn incidents_link_by_cause_or_by_time_and_a_deployment_fails_once() {
        let deps = vec![dep("a", 1, Status::Success), dep("b", 10, Status::Success), dep("c", 20, Status::Success)];
        let inc = |id: &str, at: i64, resolved: Option<i64>, cause: Option<&str>| Incident {
            id: id.into(),
            entity: "component:default/a".into(),
            created_at: T0 + at * HOUR_MS,
            resolved_at: resolved.map(|r| T0 + r * HOUR_MS),
            caused_by: cause.map(str::to_owned),
        };
        let incidents = vec![
            inc("i1", 12, Some(14), None),  // by time: b (finished at 10), 4 h
            inc("i2", 13, Some(12), None),  // b again: counts once
            inc("i3", 25, None, Some("a")), // named: a, unresolved
            inc("i4", 0, Some(1), None),    // before any deployment: unlinked
        ];
        let links = link(&deps, &incidents);
        assert_eq!(links.incident_to["i1"], ("b".into(), LinkedBy::Time));
        assert_eq!(links.incident_to["i3"], ("a".into(), LinkedBy::CausedBy));
        assert!(!links.incident_to.contains_key("i4"));
        let k = keys(&deps, &incidents, window(), &bands());
        assert_eq!(k.change_failure_rate.failed, 2);
        assert_eq!(k.change_failure_rate.deployments, 3);
        assert_eq!(k.change_failure_rate.rate, Some(0.667));
        assert_eq!(k.change_failure_rate.band, Some(Band::Low));
        // b: 4 h and 2 h; a: unresolved.
        assert_eq!(k.recovery_time.incidents, 2);
        assert_eq!(k.recovery_time.median_hours, Some(3.0));
        assert_eq!(k.recovery_time.band, Some(Band::High));
    }

    #[test]
    fn rollbacks_named_or_by_an_earlier_version_fail_the_deployment() {
        let mut a = dep("a", 1, Status::Success);
        a.version = Some("v1.2.0".into());
        let mut b = dep("b", 5, Status::Success);
        b.version = Some("v1.10.0".into());
        let mut c = dep("c", 6, Status::Success); // back to 1.2.0: b was rolled back
        c.version = Some("v1.2.0".into());
        let mut d = dep("d", 30, Status::Success);
        d.version = Some("v1.11.0".into());
        let mut e = dep("e", 32, Status::Success);
        e.rollback_of = Some("d".into());
        e.version = Some("v1.11.1".into());
        let k = keys(&[a, b, c, d, e], &[], window(), &bands());
        assert_eq!(k.change_failure_rate.failed, 2);
        assert_eq!(k.change_failure_rate.rate, Some(0.4));
        assert_eq!(k.recovery_time.rollbacks, 2);
        // b: 1 h to c; d: 2 h to e.
        assert_eq!(k.recovery_time.median_hours, Some(1.5));
    }

    #[test]
    fn no_data_is_null_with_a_reason_not_zero() {
        let k = keys(&[], &[], window(), &bands());
        assert_eq!(k.deployment_frequency.deployment_days_per_week, None);
        assert!(k.deployment_frequency.reason.is_some());
        assert_eq!(k.lead_time.median_hours, None);
        assert_eq!(k.change_failure_rate.rate, None);
        assert!(k.recovery_time.reason.is_some());
    }

    #[test]
    fn bands_follow_the_report_year() {
        let (b23, b21) = (Bands::of_year(2023).unwrap(), Bands::of_year(2021).unwrap());
        assert_eq!(b23.frequency(7.0, 30.0), Band::Elite);
        assert_eq!(b23.frequency(1.0, 4.0), Band::High);
        assert_eq!(b23.frequency(0.0, 1.0), Band::Medium);
        assert_eq!(b23.frequency(0.0, 0.0), Band::Low);
        assert_eq!(b23.lead(23.9), Band::Elite);
        assert_eq!(b23.lead(24.0), Band::High);
        assert_eq!(b21.lead(23.9), Band::High);
        assert_eq!(b23.failure(0.05), Band::Elite);
        assert_eq!(b23.failure(0.12), Band::Medium);
        assert_eq!(b21.failure(0.12), Band::Elite);
        assert_eq!(b23.recovery(200.0), Band::Low);
        assert!(Bands::of_year(2019).is_none());
    }

    #[test]
    fn versions_compare_by_number() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("v1.10.0", "v1.9.3"), Some(Greater));
        assert_eq!(version_cmp("1.2.0", "v1.2.0-rc1"), Some(Equal));
        assert_eq!(version_cmp("main-abc", "1.0"), None);
    }
}
