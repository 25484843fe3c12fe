//! Team health in the UI: the section of the product, platform and team pages (the four keys of
//! the last 30 days as tiles with their band and trend, deployments per week, the recent
//! deployments and incidents with their failure links) and `/health`, every team that deploys
//! ranked by its bands over the last 90 days. Both render team health's typed views
//! (`health::views`); the team page itself is in [`super::teams`].

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};

use super::catalog::{entity_link, params};
use super::chart;
use super::layout::{Ctx, page, urlencode};
use super::numbers::{self, percent};
use super::{blocking, html as respond};
use crate::db::{Pool, now_ms};
use crate::error::ApiError;
use crate::governance::Governance;
use crate::health::Health;
use crate::health::model::{self, Band, Bands, Keys, LinkedBy, Window};
use crate::health::parts;
use crate::health::views::{self, DeploymentList, HealthQuery, IncidentList, Request, Scope};
use crate::org::Graph;
use crate::state::AppState;

/// The days the section of a page covers (the views' `health`).
const SECTION_DAYS: u64 = 30;
/// The deployments and incidents a section lists.
const RECENT: usize = 10;

/// What the section of a product, platform or team page shows.
pub struct Section {
    scope: Scope,
    window: Window,
    keys: Keys,
    /// The keys of the two full weeks before the current one, and of the two before those.
    recent: Keys,
    before: Keys,
    deployments: DeploymentList,
    incidents: IncidentList,
}

/// The Monday of the week `day` is in.
fn monday(day: NaiveDate) -> NaiveDate {
    day - chrono::Days::new(day.weekday().num_days_from_monday() as u64)
}

/// The windows a trend compares: the two full weeks before the current week (still in
/// progress, so left out), and the two weeks before those.
pub fn trend_windows(today: NaiveDate) -> (Window, Window) {
    let m = monday(today);
    let days = |n: u64| m - chrono::Days::new(n);
    (Window { from: days(14), to: days(1) }, Window { from: days(28), to: days(15) })
}

/// Reads a section: the keys of the last 30 days and of the trend's weeks, and the recent events.
pub async fn load(state: &AppState, health: &web::Data<Health>, scope: Scope) -> Result<Section, ApiError> {
    blocking(health, state, move |h, pool| {
        let today = model::day_of(now_ms());
        let window = Window::last(SECTION_DAYS, today);
        let (recent, before) = trend_windows(today);
        let request = |window: Window, limit: usize| Request {
            scope: scope.clone(),
            window,
            bands: model::BANDS[0],
            csv: false,
            limit,
        };
        let keys = h.dora(pool, &request(window, 1))?.keys;
        Ok(Section {
            keys,
            recent: h.dora(pool, &request(recent, 1))?.keys,
            before: h.dora(pool, &request(before, 1))?.keys,
            deployments: h.deployments(pool, &request(window, RECENT))?,
            incidents: h.incidents(pool, &request(window, RECENT))?,
            window,
            scope,
        })
    })
    .await
}

/// A rate per week of deployment days, as people read it.
pub fn per_week(v: f64) -> String {
    format!("{} days/week", numbers::tenths(v))
}

/// A duration in hours, as people read it: minutes below an hour, hours below two days, then days.
pub fn duration(hours: f64) -> String {
    if hours < 1.0 {
        format!("{} min", numbers::decimal((hours * 60.0).round()))
    } else if hours < 48.0 {
        format!("{} h", numbers::tenths(hours))
    } else {
        format!("{} days", numbers::tenths(hours / 24.0))
    }
}

/// A band as a badge that says it in words.
pub fn badge(band: Option<Band>) -> Markup {
    html! {
        @match band {
            Some(b) => span class={ "band band-" (b.as_str()) } { span class="visually-hidden" { "band: " } (b.as_str()) },
            None => span class="band band-none" { "no band" },
        }
    }
}

/// How a key moved between the two weeks before last and the last two, in words beside an arrow.
fn trend(
    now: Option<f64>,
    recent: Option<f64>,
    before: Option<f64>,
    fmt: fn(f64) -> String,
    up_is_better: bool,
) -> Markup {
    let (Some(_), Some(r), Some(b)) = (now, recent, before) else {
        let why = match (now, recent, before) {
            (None, ..) => "no data",
            (_, None, None) => "no data in the last 4 full weeks",
            (_, None, _) => "no data in the last 2 full weeks",
            _ => "no data in the 2 weeks before the last 2",
        };
        return html! { p class="trend trend-none" { span aria-hidden="true" { "·" } " no trend: " (why) } };
    };
    let (a, z) = (fmt(b), fmt(r));
    if a == z {
        return html! {
            p class="trend trend-steady" { span aria-hidden="true" { "→" } " steady: " (z) " in the last 2 full weeks and the 2 before" }
        };
    }
    let up = r > b;
    let better = up == up_is_better;
    html! {
        p class={ "trend trend-" (if better { "better" } else { "worse" }) } {
            span aria-hidden="true" { (if up { "↑" } else { "↓" }) }
            " " (if up { "up" } else { "down" }) ", " (if better { "better" } else { "worse" }) ": "
            (z) " in the last 2 full weeks, " (a) " in the 2 before"
        }
    }
}

fn tile(
    key: &str,
    title: &str,
    value: Option<String>,
    reason: Option<&str>,
    band: Option<Band>,
    detail: Markup,
    trend: Markup,
) -> Markup {
    html! {
        div class="tile" data-key=(key) {
            h3 { (title) }
            @match value {
                Some(v) => p class="value" { (v) },
                None => p class="value reason" { (reason.unwrap_or("no data")) },
            }
            p { (badge(band)) }
            p class="muted" { (detail) }
            (trend)
        }
    }
}

/// "1 incident", "2 incidents".
fn count(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", numbers::int(n), if n == 1 { one } else { many })
}

/// The four tiles of a set of keys, with the trends of the two spans.
pub fn tiles(k: &Keys, recent: &Keys, before: &Keys) -> Markup {
    let f = &k.deployment_frequency;
    // No event in a span of weeks: no deployment day either.
    let days = |x: &Keys| Some(x.deployment_frequency.deployment_days_per_week.unwrap_or(0.0));
    let l = &k.lead_time;
    let c = &k.change_failure_rate;
    let r = &k.recovery_time;
    html! {
        div class="tiles" {
            (tile("deployment-frequency", "Deployment frequency", f.deployment_days_per_week.map(per_week), f.reason, f.band,
                html! { (count(f.deployments, "deployment", "deployments")) " on " (count(f.deployment_days, "day", "days")) },
                trend(f.deployment_days_per_week, days(recent), days(before), per_week, true)))
            (tile("lead-time", "Lead time for changes", l.median_hours.map(duration), l.reason, l.band,
                html! { "median of " (count(l.changes, "change", "changes"))
                    @if l.ignored > 0 { ", " (l.ignored) " left out (committed after their deployment)" } },
                trend(l.median_hours, recent.lead_time.median_hours, before.lead_time.median_hours, duration, false)))
            (tile("change-failure-rate", "Change failure rate", c.rate.map(percent), c.reason, c.band,
                html! { (numbers::int(c.failed)) " of " (count(c.deployments, "deployment", "deployments")) " failed" },
                trend(c.rate, recent.change_failure_rate.rate, before.change_failure_rate.rate, percent, false)))
            (tile("recovery-time", "Failed deployment recovery time", r.median_hours.map(duration), r.reason, r.band,
                html! { "median of " (count(r.incidents, "incident", "incidents")) " and " (count(r.rollbacks, "rollback", "rollbacks")) },
                trend(r.median_hours, recent.recovery_time.median_hours, before.recovery_time.median_hours, duration, false)))
        }
    }
}

/// What a table of recent events lists: all of them, or the newest of how many.
fn listed_of(listed: usize, total: usize, one: &str, many: &str) -> String {
    if listed == total {
        format!("{}, newest first.", count(total as i64, one, many))
    } else {
        format!("The {} newest of {} {many}, newest first.", numbers::count(listed), numbers::count(total))
    }
}

/// An element id made of an event id.
fn anchor(prefix: &str, id: &str) -> String {
    let safe: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("{prefix}-{safe}")
}

/// An event id, a link to its row when the page lists it.
fn event_link(prefix: &str, id: &str, listed: &HashSet<&str>) -> Markup {
    html! { @if listed.contains(id) { a href={ "#" (anchor(prefix, id)) } { code { (id) } } } @else { code { (id) } } }
}

/// A time as RFC 3339 sends it, shorter: `2026-05-04 12:00 UTC`.
fn when(t: &str) -> String {
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => t.to_owned(),
    }
}

/// The scope as the API's query names it.
fn scope_query(s: &Scope) -> String {
    let pair = match s {
        Scope::All => return String::new(),
        Scope::Entity(k) => ("entity", k),
        Scope::Product(k) => ("product", k),
        Scope::Platform(k) => ("platform", k),
        Scope::Team(k) => ("team", k),
    };
    format!("{}={}", pair.0, urlencode(pair.1))
}

fn weekly_chart(k: &Keys) -> Markup {
    let labels: Vec<String> = k.series.iter().map(|w| w.week.to_string()).collect();
    let values: Vec<f64> = k.series.iter().map(|w| w.deployments as f64).collect();
    let partial: Vec<bool> = k.series.iter().map(|w| w.partial).collect();
    html! {
        (chart::bars_partial("Deployments to production per week", &labels, "deployments", &values, &partial))
        details class="weeks" {
            summary { "The weeks as a table" }
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Week of" } th class="num" { "Deployments" } th class="num" { "Deployment days" } th class="num" { "Lead time" } th class="num" { "Change failure rate" } } }
                tbody { @for w in &k.series {
                    tr {
                        th scope="row" { (w.week) @if w.partial { " " span class="state state-partial" { "partial" } } }
                        td class="num" { (numbers::int(w.deployments)) } td class="num" { (numbers::int(w.deployment_days)) }
                        td class="num" { @match w.lead_time_hours { Some(h) => (duration(h)), None => span class="muted" { "none" } } }
                        td class="num" { @match w.change_failure_rate { Some(r) => (percent(r)), None => span class="muted" { "none" } } }
                    }
                } }
            } }
        }
    }
}

fn deployments_table(s: &Section, incidents: &HashSet<&str>) -> Markup {
    let listed: HashSet<&str> = s.deployments.items.iter().map(|d| d.id.as_str()).collect();
    html! {
        @if s.deployments.items.is_empty() { p class="muted" { "No deployment finished in the last " (SECTION_DAYS) " days." } } @else {
            div class="wide" tabindex="0" { table class="deployments" {
                caption class="muted" { (listed_of(s.deployments.items.len(), s.deployments.total, "deployment", "deployments")) }
                thead { tr { th { "Deployment" } th { "Finished" } th { "Entity" } th { "Environment" } th { "Version" } th { "Status" } th class="num" { "Changes" } th class="num" { "Lead time" } th { "Failure" } } }
                tbody { @for d in &s.deployments.items {
                    tr id=(anchor("deployment", &d.id)) {
                        th scope="row" { code { (d.id) } }
                        td { @match &d.finished_at { Some(t) => (when(t)), None => span class="muted" { "not finished" } } }
                        td { (entity_link(&d.entity_ref)) }
                        td { (d.environment) @if d.tier != d.environment { " " span class="muted" { "(" (d.tier) ")" } } }
                        td { @match &d.version { Some(v) => (v), None => code { (d.commit_sha.get(..8).unwrap_or(&d.commit_sha)) } } }
                        td { (d.status.replace('_', " ")) }
                        td class="num" { (d.changes) }
                        td class="num" { @match d.lead_time_hours { Some(h) => (duration(h)), None => span class="muted" { "none" } } }
                        td {
                            @if d.failed {
                                span class="state state-late" { "failed" }
                                @if !d.incidents.is_empty() {
                                    " incidents: " @for (n, i) in d.incidents.iter().enumerate() { @if n > 0 { ", " } (event_link("incident", i, incidents)) }
                                }
                                @if let Some(by) = &d.rolled_back_by { " rolled back by " (event_link("deployment", by, &listed)) }
                            } @else { span class="muted" { "none linked" } }
                            @if let Some(of) = &d.rollback_of { br; "rolls back " (event_link("deployment", of, &listed)) }
                        }
                    }
                } }
            } }
        }
    }
}

fn incidents_table(s: &Section, deployments: &HashSet<&str>) -> Markup {
    html! {
        @if s.incidents.items.is_empty() { p class="muted" { "No incident was opened in the last " (SECTION_DAYS) " days." } } @else {
            div class="wide" tabindex="0" { table class="incidents" {
                caption class="muted" { (listed_of(s.incidents.items.len(), s.incidents.total, "incident", "incidents")) }
                thead { tr { th { "Incident" } th { "Opened" } th { "Entity" } th { "Severity" } th { "Title" } th { "Resolved" } th { "Attributed to" } th class="num" { "Recovery" } } }
                tbody { @for i in &s.incidents.items {
                    tr id=(anchor("incident", &i.id)) {
                        th scope="row" { code { (i.id) } }
                        td { (when(&i.created_at)) }
                        td { (entity_link(&i.entity_ref)) }
                        td { (i.severity.as_deref().unwrap_or("")) }
                        td { (i.title.as_deref().unwrap_or("")) }
                        td { @match &i.resolved_at { Some(t) => (when(t)), None => span class="state state-late" { "open" } } }
                        td {
                            @match (&i.deployment, i.linked_by) {
                                (Some(d), Some(by)) => {
                                    (event_link("deployment", d, deployments)) " "
                                    span class="muted" { (if by == LinkedBy::CausedBy { "named as cause" } else { "linked by time" }) }
                                }
                                _ => span class="muted" { "not attributed: no production deployment before it" },
                            }
                        }
                        td class="num" { @match i.recovery_hours { Some(h) => (duration(h)), None => span class="muted" { "none" } } }
                    }
                } }
            } }
        }
    }
}

/// The team-health section of a product, platform or team page.
pub fn section(s: &Section) -> Markup {
    let q = scope_query(&s.scope);
    let range = format!("from={}&to={}", s.window.from, s.window.to);
    let incidents: HashSet<&str> = s.incidents.items.iter().map(|i| i.id.as_str()).collect();
    let deployments: HashSet<&str> = s.deployments.items.iter().map(|d| d.id.as_str()).collect();
    html! {
        section class="health" aria-labelledby="health" {
            h2 id="health" { "Team health" }
            p class="muted" {
                "The four keys of the last " (SECTION_DAYS) " days (" (s.window.from) " to " (s.window.to) ", UTC), banded by the State of DevOps "
                (model::BANDS[0].year) " report; a trend compares the last 2 full weeks with the 2 before. "
                a href="/health" { "Every team's" }
            }
            (tiles(&s.keys, &s.recent, &s.before))
            h3 { "Deployments per week" }
            @if s.keys.deployment_frequency.deployment_days_per_week.is_none() {
                p class="muted" { (s.keys.deployment_frequency.reason.unwrap_or("no data")) }
            } @else { (weekly_chart(&s.keys)) }
            h3 id="deployments" { "Recent deployments" }
            (deployments_table(s, &incidents))
            h3 id="incidents" { "Recent incidents" }
            (incidents_table(s, &deployments))
            p {
                a href={ "/api/portal/deployments?" (q) "&" (range) "&format=csv" } { "Deployments as CSV" } " · "
                a href={ "/api/portal/incidents?" (q) "&" (range) "&format=csv" } { "Incidents as CSV" } " · "
                a href={ "/api/portal/dora?" (q) "&" (range) } { "The four keys as JSON" }
            }
        }
    }
}

/// One team of the ranking.
struct Ranked {
    entity_ref: String,
    href: String,
    name: String,
    keys: Keys,
    points: u32,
}

/// A band's points: 0 for elite to 3 for low.
fn points(b: Option<Band>) -> u32 {
    match b {
        Some(Band::Elite) => 0,
        Some(Band::High) => 1,
        Some(Band::Medium) => 2,
        Some(Band::Low) | None => 3,
    }
}

/// The points of a team's keys: a key without a band counts as low, but the recovery time of a
/// team none of whose deployments failed (nothing to recover from) counts as elite.
fn score(k: &Keys) -> u32 {
    let recovery = if k.change_failure_rate.failed == 0 && k.change_failure_rate.deployments > 0 {
        0
    } else {
        points(k.recovery_time.band)
    };
    points(k.deployment_frequency.band) + points(k.lead_time.band) + points(k.change_failure_rate.band) + recovery
}

/// Every group that owns something with a deployment in the window, with its keys, best first.
fn rank(pool: &Pool, g: &Graph, r: &Request) -> Result<Vec<Ranked>, ApiError> {
    let mut out = Vec::new();
    for e in g.entities.values().filter(|e| e.is("group")) {
        let Some(entities) = views::entities_of(g, &Scope::Team(e.key.clone()))? else { continue };
        let parts = views::key_parts(pool, Some(&entities), r.window)?;
        if !parts.any_event {
            continue;
        }
        let keys = parts::assemble(parts, r.window, &r.bands);
        out.push(Ranked {
            entity_ref: e.entity_ref.clone(),
            href: super::teams::href(&e.namespace, &e.name),
            name: e.title.clone().unwrap_or_else(|| e.name.clone()),
            points: score(&keys),
            keys,
        });
    }
    out.sort_by(|a, b| a.points.cmp(&b.points).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())));
    Ok(out)
}

/// A value with its band in a cell, or why there is none.
fn cell(value: Option<String>, reason: Option<&str>, band: Option<Band>) -> Markup {
    html! {
        td {
            @match value { Some(v) => { (v) " " (badge(band)) }, None => span class="muted" { (reason.unwrap_or("no data")) } }
        }
    }
}

/// `GET /health?benchmark=`: every team that deploys, ranked by the bands of its four keys.
pub async fn ranking(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    health: web::Data<Health>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let chosen = params(&req).get("benchmark").cloned();
    let r = HealthQuery { benchmark: chosen, ..HealthQuery::default() }.request()?;
    let (from, to, year) = (r.window.from, r.window.to, r.bands.year);
    let gov = gov.into_inner();
    let teams = blocking(&health, &state, move |_, pool| {
        let g = gov.snapshot(pool)?;
        rank(pool, &g, &r)
    })
    .await?;
    let body = html! {
        p {
            "Every team that owns something with a deployment in the last " (views::DEFAULT_DAYS) " days (" (from) " to " (to)
            ", UTC), with its four keys and their bands, best first: by the sum of its bands' points (elite 0, high 1, medium 2, low 3; "
            "a key without data counts as low, the recovery time of a team with no failed deployment as elite), then by name."
        }
        form class="search" method="get" action="/health" {
            label { "Benchmark" select name="benchmark" {
                @for b in model::BANDS {
                    option value=(b.year) selected[b.year == year] { "State of DevOps " (b.year) @if b.year == model::BANDS[0].year { " (default)" } }
                }
            } }
            button type="submit" { "Show" }
        }
        (limits(year))
        @if teams.is_empty() {
            p class="muted" { "No team deployed in the window: send deployments to POST /api/deployments (see the API reference)." }
        } @else {
            div class="wide" tabindex="0" { table class="ranking" {
                caption class="muted" { (numbers::count(teams.len())) " teams, banded by the State of DevOps " (year) " report." }
                thead { tr { th class="num" { "Rank" } th { "Team" } th { "Deployment frequency" } th { "Lead time" } th { "Change failure rate" } th { "Recovery time" } th class="num" { "Points" } } }
                tbody { @for (n, t) in teams.iter().enumerate() {
                    @let k = &t.keys;
                    tr id=(anchor("team", &t.entity_ref)) {
                        td class="num" { (n + 1) }
                        th scope="row" { a href=(t.href) { (t.name) } br; span class="muted" { (t.entity_ref) } }
                        (cell(k.deployment_frequency.deployment_days_per_week.map(per_week), k.deployment_frequency.reason, k.deployment_frequency.band))
                        (cell(k.lead_time.median_hours.map(duration), k.lead_time.reason, k.lead_time.band))
                        (cell(k.change_failure_rate.rate.map(percent), k.change_failure_rate.reason, k.change_failure_rate.band))
                        (cell(k.recovery_time.median_hours.map(duration), k.recovery_time.reason, k.recovery_time.band))
                        td class="num" { (t.points) }
                    }
                } }
            } }
        }
    };
    Ok(respond(page(&ctx, "Team health", body)))
}

/// The band limits of a report year, in words.
fn limits(year: u16) -> Markup {
    let Some(b) = Bands::of_year(year) else { return html! {} };
    let hours = |l: [f64; 3]| l.map(duration).join(", ");
    let rates = |l: [f64; 3]| l.map(percent).join(", ");
    html! {
        details class="limits" {
            summary { "The bands of " (year) }
            ul {
                li { "Deployment frequency: elite at " (per_week(b.elite_days_per_week)) " or more, high at " (per_week(b.high_days_per_week))
                    ", medium at " (b.medium_days_per_month) " deployment day a month, else low (medians of the weeks and months)." }
                li { "Lead time: elite, high and medium below " (hours(b.lead_hours)) ", else low." }
                li { "Change failure rate: elite, high and medium at most " (rates(b.failure_rate)) ", else low." }
                li { "Recovery time: elite, high and medium below " (hours(b.recovery_hours)) ", else low." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(per_week(3.5), "3.5 days/week");
        assert_eq!(duration(18.24), "18.2 h");
        assert_eq!(duration(0.583), "35 min");
        assert_eq!(duration(960.0), "40 days");
        assert_eq!(percent(0.04), "4 %");
        assert_eq!(per_week(7.0), "7 days/week");
        assert_eq!(duration(193.0), "8 days");
    }

    #[test]
    fn a_trend_leaves_out_the_current_week() {
        let wed = NaiveDate::from_ymd_opt(2026, 5, 6).unwrap();
        let (recent, before) = trend_windows(wed);
        assert_eq!((recent.from.to_string(), recent.to.to_string()), ("2026-04-20".into(), "2026-05-03".into()));
        assert_eq!((before.from.to_string(), before.to.to_string()), ("2026-04-06".into(), "2026-04-19".into()));
        let sunday = NaiveDate::from_ymd_opt(2026, 5, 10).unwrap();
        assert_eq!(trend_windows(sunday).0, recent);
    }

    #[test]
    fn a_trend_says_its_direction_in_words() {
        let t = trend(Some(0.1), Some(0.067), Some(0.0), percent, false).into_string();
        assert!(t.contains("↑") && t.contains("up, worse: 6.7 % in the last 2 full weeks, 0 % in the 2 before"), "{t}");
        let t = trend(Some(7.0), Some(7.0), Some(7.0), per_week, true).into_string();
        assert!(t.contains("steady: 7 days/week"), "{t}");
        let t = trend(Some(1.0), Some(1.0), None, duration, false).into_string();
        assert!(t.contains("no trend"), "{t}");
    }
}
