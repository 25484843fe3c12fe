//! The weekly rollup the keys read (pure): per entity and week, built from that week's counted
//! deployments and first-shipped changes when a write touches them, and read back into the
//! [`Parts`] of a window. A 90-day view of 500 components reads some 9,000 of these rows instead
//! of 50,000 deployments and 75,000 changes.
//!
//! A rollback implied by an earlier version is the one fact that crosses deployments: inside a
//! week the row keeps it; across weeks it is found on reading, from one week's last deployment
//! and the next week's first.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::model::{DAY_MS, version_cmp};
use super::parts::Failing;

/// Weeks since Monday 1969-12-29 of an instant.
pub fn week_of(ms: i64) -> i64 {
    (ms.div_euclid(DAY_MS) + 3).div_euclid(7)
}

/// The first instant of a week.
pub fn week_start(week: i64) -> i64 {
    (week * 7 - 3) * DAY_MS
}

/// A counted deployment as a week is built from it.
#[derive(Debug, Clone)]
pub struct WeekDeployment {
    pub id: String,
    pub finished_at: i64,
    pub version: Option<String>,
    /// When counted deployments of the same entity name it in `rollbackOf`: their finishes.
    pub named_by: Vec<i64>,
}

/// What a week keeps beyond counts and lead times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    /// Rolled back inside the week by the next deployment's earlier version: (id, finished,
    /// the next counted deployment's finish when it is in this week).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implied: Vec<(String, i64, Option<i64>)>,
    /// Named by `rollbackOf` of a counted deployment of the same entity: (id, finished, the next
    /// counted deployment's finish when it is in this week, the finishes of those naming it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named: Vec<(String, i64, Option<i64>, Vec<i64>)>,
}

/// One entity's week.
#[derive(Debug, Clone, PartialEq)]
pub struct Week {
    pub entity: String,
    pub week: i64,
    /// Counted deployments per weekday, Monday first.
    pub days: [i64; 7],
    /// (deployed at, lead time in ms) of each change first deployed this week.
    pub leads: Vec<(i64, i64)>,
    pub first_finished: i64,
    pub first_version: Option<String>,
    pub last_id: String,
    pub last_finished: i64,
    pub last_version: Option<String>,
    pub marks: Marks,
}

/// Builds an entity's week from its counted deployments finished that week and the (deployed
/// at, committed at) of the changes first deployed that week; `None` without a deployment.
pub fn build(entity: &str, week: i64, mut deps: Vec<WeekDeployment>, leads: &[(i64, i64)]) -> Option<Week> {
    deps.sort_by(|a, b| a.finished_at.cmp(&b.finished_at).then_with(|| a.id.cmp(&b.id)));
    let (first, last) = (deps.first()?, deps.last()?);
    let mut days = [0; 7];
    let mut marks = Marks::default();
    for (n, d) in deps.iter().enumerate() {
        let weekday = (d.finished_at.div_euclid(DAY_MS) + 3).rem_euclid(7) as usize;
        days[weekday] += 1;
        let after = || deps.iter().map(|x| x.finished_at).find(|&f| f > d.finished_at);
        if !d.named_by.is_empty() {
            marks.named.push((d.id.clone(), d.finished_at, after(), d.named_by.clone()));
        }
        if let Some(next) = deps.get(n + 1)
            && let (Some(a), Some(b)) = (&d.version, &next.version)
            && version_cmp(b, a) == Some(std::cmp::Ordering::Less)
        {
            marks.implied.push((d.id.clone(), d.finished_at, after()));
        }
    }
    Some(Week {
        entity: entity.to_owned(),
        week,
        days,
        leads: leads.iter().map(|&(deployed, committed)| (deployed, deployed - committed)).collect(),
        first_finished: first.finished_at,
        first_version: first.version.clone(),
        last_id: last.id.clone(),
        last_finished: last.finished_at,
        last_version: last.version.clone(),
        marks,
    })
}

/// The days column: seven little-endian i64.
pub fn encode_days(days: &[i64; 7]) -> Vec<u8> {
    days.iter().flat_map(|n| n.to_le_bytes()).collect()
}

pub fn decode_days(raw: &[u8]) -> [i64; 7] {
    let mut out = [0; 7];
    for (i, c) in raw.chunks_exact(8).take(7).enumerate() {
        out[i] = i64::from_le_bytes(c.try_into().unwrap_or_default());
    }
    out
}

/// The leads column: pairs of little-endian i64.
pub fn encode_leads(leads: &[(i64, i64)]) -> Vec<u8> {
    leads.iter().flat_map(|(a, b)| a.to_le_bytes().into_iter().chain(b.to_le_bytes())).collect()
}

pub fn decode_leads(raw: &[u8]) -> impl Iterator<Item = (i64, i64)> + '_ {
    raw.chunks_exact(16).map(|c| {
        let (a, b) = c.split_at(8);
        (i64::from_le_bytes(a.try_into().unwrap_or_default()), i64::from_le_bytes(b.try_into().unwrap_or_default()))
    })
}

/// What a window takes from its scope's weeks (read in entity then week order, from the
/// window's first week to some weeks past it, so that a later rollback is seen).
#[derive(Debug, Default)]
pub struct Tally {
    /// Counted deployments per day since the epoch, in the window.
    pub days: BTreeMap<i64, i64>,
    pub leads: Vec<(i64, i64)>,
    /// Failure facts of rollbacks, by deployment id.
    pub failing: HashMap<String, Failing>,
}

/// Reads the weeks of a window `[start, end)` (`weeks` sorted by entity, then week); a
/// rollback named by a deployment counts when that deployment finished in `[read_from, read_to)`.
pub fn tally(weeks: &[Week], start: i64, end: i64, (read_from, read_to): (i64, i64)) -> Tally {
    let holds = |ms: i64| ms >= start && ms < end;
    let (first_day, last_day) = (start.div_euclid(DAY_MS), (end - 1).div_euclid(DAY_MS));
    let mut t = Tally::default();
    for (i, w) in weeks.iter().enumerate() {
        let next = weeks.get(i + 1).filter(|n| n.entity == w.entity);
        for (weekday, &n) in w.days.iter().enumerate() {
            let day = w.week * 7 - 3 + weekday as i64;
            if n > 0 && day >= first_day && day <= last_day {
                *t.days.entry(day).or_default() += n;
            }
        }
        t.leads.extend(w.leads.iter().copied().filter(|(deployed, _)| holds(*deployed)));
        for (id, finished, after) in &w.marks.implied {
            if holds(*finished) {
                let after = after.or(next.map(|n| n.first_finished));
                t.failing.entry(id.clone()).or_default().rollback(*finished, after);
            }
        }
        if let Some(n) = next
            && holds(w.last_finished)
            && let (Some(a), Some(b)) = (&w.last_version, &n.first_version)
            && version_cmp(b, a) == Some(std::cmp::Ordering::Less)
        {
            t.failing.entry(w.last_id.clone()).or_default().rollback(w.last_finished, Some(n.first_finished));
        }
        for (id, finished, after, by) in &w.marks.named {
            if holds(*finished) && by.iter().any(|&f| f >= read_from && f < read_to) {
                let after = after.or(next.map(|n| n.first_finished));
                t.failing.entry(id.clone()).or_default().rollback(*finished, after);
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a Thursday
    const H: i64 = 3_600_000;

    fn dep(id: &str, at_h: i64, version: &str) -> WeekDeployment {
        WeekDeployment { id: id.into(), finished_at: T0 + at_h * H, version: Some(version.into()), named_by: vec![] }
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_start(week_of(T0)), T0 - 3 * DAY_MS);
        assert_eq!(week_of(T0 - 3 * DAY_MS), week_of(T0 + 3 * DAY_MS + 23 * H));
        assert_ne!(week_of(T0 - 3 * DAY_MS - 1), week_of(T0));
    }

    #[test]
    fn a_week_counts_weekdays_and_finds_rollbacks_inside_it_and_across() {
        let w1 = week_of(T0);
        let a =
            build("c", w1, vec![dep("a", 0, "1.2"), dep("b", 2, "1.1"), dep("c", 30, "1.3")], &[(T0, T0 - H)]).unwrap();
        assert_eq!(a.days, [0, 0, 0, 2, 1, 0, 0]);
        assert_eq!(a.marks.implied, vec![("a".to_owned(), T0, Some(T0 + 2 * H))]);
        assert_eq!(a.leads, vec![(T0, H)]);
        assert_eq!(decode_days(&encode_days(&a.days)), a.days);
        assert_eq!(decode_leads(&encode_leads(&a.leads)).collect::<Vec<_>>(), a.leads);
        let b = build("c", w1 + 1, vec![dep("d", 7 * 24, "1.0")], &[]).unwrap();
        let t = tally(&[a, b], T0 - 3 * DAY_MS, T0 + 11 * DAY_MS, (0, i64::MAX));
        assert_eq!(t.days.values().sum::<i64>(), 4);
        // "a" by "b" inside the week; "c" by "d" across weeks, recovered at "d".
        assert_eq!(t.failing.len(), 2);
        assert!(t.failing.contains_key("c"));
    }
}
