//! The four keys from what they are made of: the counted deployments per day, each change's lead
//! time, and the failed deployments with their recovery times. The pure model reduces events to
//! these parts ([`super::model::keys`]); the store reads them aggregated (`store::keys`), so a
//! view over tens of thousands of deployments reads hundreds of rows. Both assemble here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};

use super::model::{
    Bands, DAY_MS, FailureRate, Frequency, HOUR_MS, Keys, LeadTime, Recovery, WeekPoint, Window, day_of, median, ms_of,
    round3,
};

/// A failed counted deployment finished in the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failed {
    pub finished_at: i64,
    /// Recovery times (ms): one per resolved incident, one for a rollback.
    pub recovery: Vec<i64>,
    /// How many of `recovery` came from incidents.
    pub recovered_incidents: usize,
}

/// What the four keys of a window are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    /// Counted deployments finished in the window, per day (days since the epoch).
    pub days: BTreeMap<i64, i64>,
    /// Each change first deployed in the window: (that deployment's finish, its lead time in ms,
    /// which may be non-positive and is then left out).
    pub leads: Vec<(i64, i64)>,
    pub failed: Vec<Failed>,
    /// Whether any deployment at all (of any tier or status) finished in the window.
    pub any_event: bool,
}

/// A failed deployment as failure facts accumulate: incidents tied to it and a rollback.
#[derive(Debug, Clone, Default)]
pub struct Failing {
    failed: Failed,
    rolled_back: bool,
}

impl Failing {
    /// An incident tied to the deployment, resolved at `resolved_at` if it is.
    pub fn incident(&mut self, finished_at: i64, resolved_at: Option<i64>) {
        self.failed.finished_at = finished_at;
        if let Some(r) = resolved_at {
            self.failed.recovery.push((r - finished_at).max(0));
            self.failed.recovered_incidents += 1;
        }
    }

    /// The deployment was rolled back; `next` is the entity's next counted deployment finished
    /// after it, when there is one. A second rollback of the same deployment adds nothing.
    pub fn rollback(&mut self, finished_at: i64, next: Option<i64>) {
        self.failed.finished_at = finished_at;
        if self.rolled_back {
            return;
        }
        self.rolled_back = true;
        if let Some(n) = next {
            self.failed.recovery.push(n - finished_at);
        }
    }
}

/// Failure facts by deployment id, then the failed deployments of a window.
pub fn failed_in(failing: HashMap<String, Failing>, window: Window) -> Vec<Failed> {
    failing.into_values().map(|f| f.failed).filter(|f| window.holds(f.finished_at)).collect()
}

fn hours(ms: i64) -> f64 {
    ms as f64 / HOUR_MS as f64
}

/// Days and weeks as numbers (days since the epoch; weeks since Monday 1969-12-29), so the loops
/// do no calendar arithmetic.
fn week_of_day(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The four keys of `parts` over `window`, banded by `bands`.
pub fn assemble(parts: Parts, window: Window, bands: &Bands) -> Keys {
    let weeks = window.weeks();
    let week_of_date = |d: NaiveDate| week_of_day(ms_of(d).div_euclid(DAY_MS));
    // Per week: deployments, deployment days, lead times (hours), failed deployments.
    let mut per_week: BTreeMap<i64, (i64, i64, Vec<f64>, i64)> =
        weeks.iter().map(|w| (week_of_date(*w), (0, 0, Vec::new(), 0))).collect();
    let mut deployments = 0;
    let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
    for (&day, &n) in parts.days.iter().filter(|(_, n)| **n > 0) {
        deployments += n;
        days.insert(day_of(day * DAY_MS));
        let w = per_week.entry(week_of_day(day)).or_default();
        w.0 += n;
        w.1 += 1;
    }
    let failed = parts.failed.len() as i64;
    let mut recovery = Vec::new();
    let (mut rec_incidents, mut rec_rollbacks) = (0, 0);
    for f in &parts.failed {
        per_week.entry(week_of_day(f.finished_at.div_euclid(DAY_MS))).or_default().3 += 1;
        recovery.extend(f.recovery.iter().map(|&ms| hours(ms)));
        rec_incidents += f.recovered_incidents as i64;
        rec_rollbacks += (f.recovery.len() - f.recovered_incidents) as i64;
    }
    let (mut leads, mut ignored) = (Vec::with_capacity(parts.leads.len()), 0);
    for &(deployed, lead) in &parts.leads {
        if lead <= 0 {
            ignored += 1;
            continue;
        }
        leads.push(hours(lead));
        per_week.entry(week_of_day(deployed.div_euclid(DAY_MS))).or_default().2.push(hours(lead));
    }
    let median_week = {
        let mut v: Vec<f64> = weeks.iter().map(|w| per_week.get(&week_of_date(*w)).map_or(0, |p| p.1) as f64).collect();
        median(&mut v)
    };
    let median_month = {
        let mut v: Vec<f64> = window
            .months()
            .iter()
            .map(|m| days.iter().filter(|d| d.year() == m.year() && d.month() == m.month()).count() as f64)
            .collect();
        median(&mut v)
    };
    let frequency = if deployments == 0 && !parts.any_event {
        Frequency {
            deployments: 0,
            deployment_days: 0,
            deployment_days_per_week: None,
            deployment_days_per_month: None,
            band: None,
            reason: Some("no deployment was recorded in the window"),
        }
    } else {
        let (w, m) = (median_week.unwrap_or(0.0), median_month.unwrap_or(0.0));
        Frequency {
            deployments,
            deployment_days: days.len() as i64,
            deployment_days_per_week: Some(round3(w)),
            deployment_days_per_month: Some(round3(m)),
            band: Some(bands.frequency(w, m)),
            reason: None,
        }
    };
    let changes = leads.len() as i64;
    let lead = median(&mut leads);
    let lead_time = LeadTime {
        median_hours: lead.map(round3),
        changes,
        ignored,
        band: lead.map(|h| bands.lead(h)),
        reason: lead.is_none().then_some("no change with a commit time was deployed to production in the window"),
    };
    let rate = (deployments > 0).then(|| failed as f64 / deployments as f64);
    let change_failure_rate = FailureRate {
        rate: rate.map(round3),
        failed,
        deployments,
        band: rate.map(|r| bands.failure(r)),
        reason: rate.is_none().then_some("no successful production deployment in the window"),
    };
    let rec = median(&mut recovery);
    let recovery_time = Recovery {
        median_hours: rec.map(round3),
        incidents: rec_incidents,
        rollbacks: rec_rollbacks,
        band: rec.map(|h| bands.recovery(h)),
        reason: rec.is_none().then_some(if failed == 0 {
            "no failed deployment in the window"
        } else {
            "no failed deployment of the window has recovered yet"
        }),
    };
    let series = weeks
        .iter()
        .map(|w| {
            let (n, wd, mut l, f) = per_week.remove(&week_of_date(*w)).unwrap_or_default();
            WeekPoint {
                week: *w,
                deployments: n,
                deployment_days: wd,
                lead_time_hours: median(&mut l).map(round3),
                change_failure_rate: (n > 0).then(|| round3(f as f64 / n as f64)),
                partial: *w + chrono::Days::new(6) > window.to || *w < window.from,
            }
        })
        .collect();
    Keys { deployment_frequency: frequency, lead_time, change_failure_rate, recovery_time, series }
}
