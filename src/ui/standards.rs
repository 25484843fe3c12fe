//! Standards as code in the UI: `/scorecards` (every scorecard users wrote, with its level counts
//! and pass rates, and every campaign), a scorecard's page (levels, checks, its entities filtered
//! by owner and level, the recorded days as a chart) and a campaign's page (its numbers and
//! verdict in words, a burn-up chart against the ideal line, the owners furthest behind). All
//! render what the standards domain's views answer (`standards::views`, `standards::tracking`).

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::catalog::{entity_href, entity_link, params};
use super::chart;
use super::layout::{Ctx, page, urlencode};
use super::numbers::{count, percent};
use super::{blocking, html as respond, opt};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::domain::hooks::ViewExtension;
use crate::error::ApiError;
use crate::standards::Standards;
use crate::standards::tracking::CampaignView;
use crate::standards::views::{ScorecardQuery, ScorecardView};
use crate::state::AppState;

/// The entities a scorecard's page lists at most (the CSV has them all).
const MAX_ROWS: usize = 500;

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "no entities".to_owned(), percent)
}

/// The ref key of `kind:{ns}/{name}`.
fn key_of(kind: &str, ns: &str, name: &str) -> Result<String, ApiError> {
    EntityRef::parse(&format!("{kind}:{ns}/{name}"), None, DEFAULT_NAMESPACE)
        .map(|r| r.key())
        .map_err(|e| ApiError::input(format!("{kind}: {e}")))
}

/// `/{base}/{namespace}/{name}` of a ref (`kind:namespace/name`).
pub(crate) fn page_href(base: &str, entity_ref: &str) -> String {
    let rest = entity_ref.split_once(':').map_or(entity_ref, |(_, r)| r);
    let (ns, name) = rest.split_once('/').unwrap_or((DEFAULT_NAMESPACE, rest));
    format!("/{base}/{}/{}", urlencode(ns), urlencode(name))
}

/// A campaign's verdict in words, with its class.
fn verdict(v: Option<&str>) -> Markup {
    match v {
        Some("on-track") => html! { span class="state health-on-track" { "on track" } },
        Some("at-risk") => html! { span class="state health-at-risk" { "at risk" } },
        Some("off-track") => html! { span class="state health-off-track" { "off track" } },
        _ => html! { span class="state" { "no verdict" } },
    }
}

fn day(text: &Option<String>) -> String {
    text.as_deref().map(|t| t.get(..10).unwrap_or(t).to_owned()).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct LevelIn {
    name: String,
    entities: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckIn {
    id: String,
    pass_rate: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct SummaryIn {
    #[serde(rename = "ref")]
    entity_ref: String,
    title: String,
    owner: Option<String>,
    levels: Vec<LevelIn>,
    unranked: usize,
    checks: Vec<CheckIn>,
}

#[derive(Debug, Deserialize)]
struct DayIn {
    day: String,
    entities: usize,
    unranked: usize,
    #[serde(default)]
    levels: Vec<LevelIn>,
}

#[derive(Debug, Deserialize)]
struct HistoryIn {
    days: Vec<DayIn>,
}

/// `GET /scorecards`: every scorecard users wrote, and every campaign.
pub async fn list(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (summaries, campaigns) = blocking(&s, &state, |s, pool| {
        let g = s.org.snapshot(pool)?;
        let fields = s.scorecard_list_fields(pool, &g)?;
        let list = fields.into_iter().find(|(k, _)| *k == "scorecards").map(|(_, v)| v).unwrap_or_default();
        let summaries: Vec<SummaryIn> =
            if list.is_null() { Vec::new() } else { serde_json::from_value(list).map_err(anyhow::Error::from)? };
        Ok((summaries, s.campaign_views(pool, None, crate::db::now_ms())?))
    })
    .await?;
    let body = html! {
        p { "Scorecards written as code (checks in CEL), each judged against every entity it applies to. "
            a href="#campaigns" { "Campaigns" } " push a scorecard's entities toward some of its checks or a level by a date. "
            "The built-in product and platform scorecard shows on each product's and platform's page." }
        @if summaries.is_empty() {
            p class="muted" { "No scorecard yet: add a Scorecard entity to the catalog (see docs/standards.md)." }
        } @else {
            div class="wide" tabindex="0" { table {
                caption { "Scorecards" }
                thead { tr { th scope="col" { "Scorecard" } th scope="col" { "Owner" } th scope="col" { "Entities by level" } th scope="col" { "Checks passing" } } }
                tbody { @for sc in &summaries {
                    tr {
                        td { a href=(page_href("scorecards", &sc.entity_ref)) { (sc.title) } }
                        td { @if let Some(o) = &sc.owner { (entity_link(o)) } @else { span class="muted" { "no owner" } } }
                        td { ul class="plain" {
                            @for l in sc.levels.iter().rev() { li { (l.name) ": " (count(l.entities)) } }
                            li { "unranked: " (count(sc.unranked)) }
                        } }
                        td { ul class="plain" { @for c in &sc.checks { li { code { (c.id) } " " (rate(c.pass_rate)) } } } }
                    }
                } }
            } }
        }
        h2 id="campaigns" { "Campaigns" }
        @if campaigns.is_empty() {
            p class="muted" { "No campaign yet: add a Campaign entity naming a scorecard (see docs/standards.md)." }
        } @else {
            div class="wide" tabindex="0" { table {
                caption { "Campaigns" }
                thead { tr { th scope="col" { "Campaign" } th scope="col" { "Owner" } th scope="col" { "Scorecard" } th scope="col" class="num" { "Done" } th scope="col" class="num" { "In scope" } th scope="col" { "Due" } th scope="col" { "Verdict" } } }
                tbody { @for c in &campaigns { (campaign_row(c)) } }
            } }
        }
        p class="muted" { "As JSON: " a href="/api/portal/scorecards" { "scorecards" } ", " a href="/api/portal/campaigns" { "campaigns" } "." }
    };
    Ok(respond(page(&ctx, "Scorecards", body)))
}

fn campaign_row(c: &CampaignView) -> Markup {
    html! {
        tr {
            td { a href=(page_href("campaigns", &c.entity_ref)) { (c.title) } }
            td { @if let Some(o) = &c.owner { (entity_link(o)) } }
            td { @if let Some(sc) = &c.scorecard { a href=(page_href("scorecards", sc)) { (sc) } } }
            td class="num" { (count(c.done)) }
            td class="num" { (count(c.in_scope)) }
            td { (day(&c.due)) @if c.overdue { " " span class="state state-late" { "overdue" } } }
            td { @if c.problems.is_empty() { (verdict(c.on_track)) } @else { span class="state state-late" { "invalid" } } }
        }
    }
}

/// `GET /scorecards/{namespace}/{name}?owner=&level=`.
pub async fn scorecard(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let key = key_of("scorecard", &ns, &name)?;
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let q = ScorecardQuery { owner: opt(g("owner")), level: opt(g("level")), format: None };
    let filtered = q.owner.is_some() || q.level.is_some();
    let today = chrono::Utc::now().date_naive();
    let (from, to) =
        ((today - chrono::Duration::days(90)).format("%Y-%m-%d").to_string(), today.format("%Y-%m-%d").to_string());
    let (all, v, history) = blocking(&s, &state, move |s, pool| {
        let all = s.view(pool, &key, &ScorecardQuery::default())?;
        let v = if filtered { s.view(pool, &key, &q)? } else { all.clone() };
        let history: HistoryIn =
            serde_json::from_value(s.history(pool, &key, &from, &to)?).map_err(anyhow::Error::from)?;
        Ok((all, v, history))
    })
    .await?;
    let owners: BTreeSet<&str> = all.entities.iter().filter_map(|e| e.owner.as_deref()).collect();
    let csv = {
        let mut href = format!("/api/portal/scorecards/{}/{}?format=csv", urlencode(&ns), urlencode(&name));
        for k in ["owner", "level"] {
            if !g(k).is_empty() {
                href.push_str(&format!("&{k}={}", urlencode(g(k))));
            }
        }
        href
    };
    let total = v.entities.len();
    let body = html! {
        dl class="meta" {
            dt { "Scorecard" } dd { (entity_link(&v.entity_ref)) }
            dt { "Owner" } dd { @if let Some(o) = &v.owner { (entity_link(o)) } @else { "no owner" } }
            @if let Some(d) = &v.description { dt { "Description" } dd { (d) } }
        }
        p { a href="/scorecards" { "Every scorecard and campaign" } }
        h2 { "Levels" }
        (levels(&v))
        h2 { "Checks" }
        div class="wide" tabindex="0" { table {
            caption { "Checks, lowest level first; pass rates over the entities listed" }
            thead { tr { th scope="col" { "Check" } th scope="col" { "Level" } th scope="col" class="num" { "Passing" } th scope="col" { "What to do" } } }
            tbody { @for c in &v.checks {
                tr {
                    td { code { (c.id) } @if c.title != c.id { " " (c.title) } }
                    td { (c.level) }
                    td class="num" { (rate(c.pass_rate)) }
                    td { (c.message) }
                }
            } }
        } }
        h2 { "Trend" }
        (trend(&v, &history))
        h2 id="entities" { "Entities" }
        form class="search" method="get" action=(page_href("scorecards", &v.entity_ref)) {
            label { "Owner" select name="owner" {
                option value="" { "any" }
                @for o in &owners { option value=(o) selected[g("owner") == *o] { (o) } }
            } }
            label { "Level" select name="level" {
                option value="" { "any" }
                @for l in v.levels.iter().rev() { option value=(l.name) selected[g("level") == l.name] { (l.name) } }
                option value="none" selected[g("level") == "none"] { "unranked" }
            } }
            button type="submit" { "Filter" }
        }
        p class="muted" {
            (count(total)) " of " (count(all.entities.len())) " entities"
            @if total > MAX_ROWS { " (the first " (count(MAX_ROWS)) " listed)" }
            " · " a href=(csv) { "Download as CSV" }
        }
        @if total > 0 {
            div class="wide" tabindex="0" { table {
                caption { "Entities with their level, score and failing checks" }
                thead { tr { th scope="col" { "Entity" } th scope="col" { "Owner" } th scope="col" { "Level" } th scope="col" class="num" { "Score" } th scope="col" { "Failing checks" } } }
                tbody { @for e in v.entities.iter().take(MAX_ROWS) {
                    tr {
                        td { a href=(entity_href(&e.entity_ref)) { (e.entity_ref) } }
                        td { @if let Some(o) = &e.owner { (entity_link(o)) } }
                        td { @if let Some(l) = &e.level { (l) } @else { span class="muted" { "unranked" } } }
                        td class="num" { (percent(e.score)) }
                        td { @if e.failing.is_empty() { span class="muted" { "none" } } @else {
                            @for (i, f) in e.failing.iter().enumerate() {
                                @if i > 0 { ", " }
                                code title=(f.message) { (f.id) }
                                @if f.error.is_some() { " (could not run)" }
                            }
                        } }
                    }
                } }
            } }
        }
    };
    Ok(respond(page(&ctx, &v.title, body)))
}

fn levels(v: &ScorecardView) -> Markup {
    html! {
        div class="tiles" {
            @for l in v.levels.iter().rev() {
                div class="tile" { h3 { (l.name) } p class="value" { (count(l.entities)) } p { "entities at this level (highest reached)" } }
            }
            div class="tile" { h3 { "unranked" } p class="value" { (count(v.unranked)) } p { "entities below the lowest level" } }
        }
    }
}

/// The recorded days as lines (entities at each level, unranked), and as a table.
fn trend(v: &ScorecardView, h: &HistoryIn) -> Markup {
    if h.days.is_empty() {
        return html! { p class="muted" { "No day recorded yet: a day is recorded once a day." } };
    }
    if let [d] = h.days.as_slice() {
        return html! { p class="muted" { "One day recorded so far (" (d.day) ": " (count(d.entities)) " entities, " (count(d.unranked)) " unranked); the chart starts with the second." } };
    }
    let labels: Vec<String> = h.days.iter().map(|d| d.day.clone()).collect();
    let at = |d: &DayIn, name: &str| d.levels.iter().find(|l| l.name == name).map_or(0, |l| l.entities);
    let mut series: Vec<(&str, Vec<Option<f64>>)> = v
        .levels
        .iter()
        .rev()
        .map(|l| (l.name.as_str(), h.days.iter().map(|d| Some(at(d, &l.name) as f64)).collect()))
        .collect();
    series.push(("unranked", h.days.iter().map(|d| Some(d.unranked as f64)).collect()));
    html! {
        (chart::lines("Entities at each level by day", &labels, &series, None))
        details { summary { "The recorded days as a table" }
            div class="wide" tabindex="0" { table {
                thead { tr {
                    th scope="col" { "Day" }
                    @for l in v.levels.iter().rev() { th scope="col" class="num" { (l.name) } }
                    th scope="col" class="num" { "unranked" } th scope="col" class="num" { "entities" }
                } }
                tbody { @for d in &h.days {
                    tr {
                        td { (d.day) }
                        @for l in v.levels.iter().rev() { td class="num" { (count(at(d, &l.name))) } }
                        td class="num" { (count(d.unranked)) } td class="num" { (count(d.entities)) }
                    }
                } }
            } }
        }
    }
}

/// `GET /campaigns/{namespace}/{name}`.
pub async fn campaign(
    state: web::Data<AppState>,
    s: web::Data<Standards>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let key = key_of("campaign", &ns, &name)?;
    let k = key.clone();
    let mut found =
        blocking(&s, &state, move |s, pool| Ok(s.campaign_views(pool, Some(&k), crate::db::now_ms())?)).await?;
    let c = found.pop().ok_or_else(|| ApiError::not_found(format!("No campaign named '{key}' found")))?;
    let mut laggards: Vec<(&str, usize, usize)> = c
        .by_owner
        .iter()
        .filter(|o| o.in_scope > o.done)
        .map(|o| (o.owner.as_deref().unwrap_or(""), o.in_scope - o.done, o.in_scope))
        .collect();
    laggards.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let share = (c.in_scope > 0).then(|| c.done as f64 / c.in_scope as f64);
    let body = html! {
        @if let Some(d) = &c.description { p { (d) } }
        @if !c.problems.is_empty() {
            div class="notice" role="status" {
                p { strong { "This campaign names what its scorecard lacks, so it keeps no numbers:" } }
                ul { @for p in &c.problems { li { code { (p.path) } ": " (p.message) } } }
            }
        }
        dl class="meta" {
            dt { "Owner" } dd { @if let Some(o) = &c.owner { (entity_link(o)) } @else { "no owner" } }
            dt { "Scorecard" } dd { @if let Some(sc) = &c.scorecard { a href=(page_href("scorecards", sc)) { (sc) } } @else { "none" } }
            dt { "Start" } dd { (day(&c.start)) }
            dt { "Due" } dd { (day(&c.due)) @if c.overdue { " " span class="state state-late" { "overdue" } } }
        }
        @if c.problems.is_empty() {
            div class="tiles" {
                div class="tile" { h3 { "In scope" } p class="value" { (count(c.in_scope)) } p { "entities the campaign applies to" } }
                div class="tile" { h3 { "Done" } p class="value" { (count(c.done)) } p { @if let Some(s) = share { (percent(s)) " of those in scope" } @else { "nothing in scope" } } }
                div class="tile" { h3 { "Verdict" } p class="value" { (verdict(c.on_track)) } p { "the share done against the share of the time gone by" } }
            }
            h2 { "Burn-up" }
            (burn_up(&c))
            h2 { "Laggards by owner" }
            @if laggards.is_empty() {
                p class="muted" { "No owner has anything left to do." }
            } @else {
                div class="wide" tabindex="0" { table {
                    caption { "Owners with entities not done, most first" }
                    thead { tr { th scope="col" { "Owner" } th scope="col" class="num" { "Not done" } th scope="col" class="num" { "In scope" } } }
                    tbody { @for (o, left, n) in &laggards {
                        tr {
                            td { @if o.is_empty() { span class="muted" { "no owner" } } @else { (entity_link(o)) } }
                            td class="num" { (count(*left)) }
                            td class="num" { (count(*n)) }
                        }
                    } }
                } }
            }
        }
        p class="muted" { "As JSON: " a href={ "/api/portal/campaigns/" (urlencode(&ns)) "/" (urlencode(&name)) } { "this campaign" } " · " a href="/scorecards#campaigns" { "every campaign" } }
    };
    Ok(respond(page(&ctx, &c.title, body)))
}

fn parse_day(text: &Option<String>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&day(text), "%Y-%m-%d").ok()
}

/// `done` by recorded day against the straight line from the start (0) to the due date (in
/// scope), over the days from the start to the due date or the last recorded day.
fn burn_up(c: &CampaignView) -> Markup {
    let (Some(start), Some(due)) = (parse_day(&c.start), parse_day(&c.due)) else {
        return html! {};
    };
    let recorded: Vec<(NaiveDate, i32, i32)> = c
        .series
        .iter()
        .filter_map(|d| NaiveDate::parse_from_str(&d.day, "%Y-%m-%d").ok().map(|x| (x, d.done, d.in_scope)))
        .collect();
    let first = recorded.iter().map(|r| r.0).min().map_or(start, |r| r.min(start));
    let last = recorded.iter().map(|r| r.0).max().map_or(due, |r| r.max(due));
    let span = (due - start).num_days().max(1) as f64;
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).take(1000).collect();
    let labels: Vec<String> = days.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect();
    let done: Vec<Option<f64>> =
        days.iter().map(|d| recorded.iter().find(|r| r.0 == *d).map(|r| f64::from(r.1))).collect();
    let ideal: Vec<Option<f64>> = days
        .iter()
        .map(|d| {
            let t = ((*d - start).num_days() as f64 / span).clamp(0.0, 1.0);
            Some(t * c.in_scope as f64)
        })
        .collect();
    html! {
        @if recorded.len() < 2 {
            p class="muted" { "Fewer than two days recorded yet (a day is recorded once a day): the line of entities done starts with the second." }
        }
        (chart::lines("Entities done by day against the ideal line from the start to the due date", &labels, &[("done", done), ("ideal", ideal)], None))
        @if !recorded.is_empty() {
            details { summary { "The recorded days as a table" }
                div class="wide" tabindex="0" { table {
                    thead { tr { th scope="col" { "Day" } th scope="col" class="num" { "Done" } th scope="col" class="num" { "In scope" } } }
                    tbody { @for (d, done, n) in &recorded {
                        tr { td { (d.format("%Y-%m-%d").to_string()) } td class="num" { (count(usize::try_from(*done).unwrap_or(0))) } td class="num" { (count(usize::try_from(*n).unwrap_or(0))) } }
                    } }
                } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_follow_the_ref() {
        assert_eq!(page_href("scorecards", "scorecard:default/ready"), "/scorecards/default/ready");
        assert_eq!(page_href("campaigns", "campaign:ops/x y"), "/campaigns/ops/x+y");
    }
}
