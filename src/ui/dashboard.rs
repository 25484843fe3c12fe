//! The consumption dashboard (platform owners): calls and errors over time, latency
//! percentiles, top consumers, adoption, time to first call, approved but never used,
//! declared versus observed, targets; a time-range picker and a CSV download.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::catalog::{entity_link, params};
use super::chart;
use super::health::duration;
use super::layout::{Ctx, page, urlencode};
use super::numbers::{int, ms, percent};
use super::products::{metric_value, on_track, progress};
use super::{blocking, html as respond, opt};
use crate::catalog::view::or_empty;
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::views::{self as governance, ListQuery};
use crate::state::AppState;
use crate::usage::Usage;
use crate::usage::model::Bucket;
use crate::usage::views::{self, AdoptionQuery, ConsumptionQuery, ScopeQuery, TargetView};

/// The range picker: (value, label, days, bucket).
const RANGES: &[(&str, &str, i64, &str)] = &[
    ("1d", "last day", 1, "hour"),
    ("7d", "last 7 days", 7, "day"),
    ("30d", "last 30 days", 30, "day"),
    ("90d", "last 90 days", 90, "week"),
];

/// `GET /dashboard?platform=&api=&range=`.
pub async fn dashboard(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    usage: web::Data<Usage>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let range = RANGES.iter().find(|r| r.0 == g("range")).unwrap_or(&RANGES[2]);
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::days(range.2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let scope = [("platform", g("platform")), ("api", g("api"))];
    let request = views::consumption_request(ConsumptionQuery {
        platform: opt(g("platform")),
        api: opt(g("api")),
        from: opt(&from),
        to: opt(&to),
        bucket: opt(range.3),
        ..Default::default()
    })?;
    let bucket = request.bucket;
    let c = blocking(&usage, &state, move |u, pool| {
        let (graph, numbers) = views::consumption_of(u, pool, &request)?;
        Ok(views::consumption_view(&graph, &numbers))
    })
    .await?;
    let weeks = ((range.2 + 6) / 7).clamp(4, 13);
    let aq = AdoptionQuery { platform: opt(g("platform")), api: opt(g("api")), weeks: Some(weeks) };
    let a = blocking(&usage, &state, move |u, pool| views::adoption_of(u, pool, &aq)).await?;
    let sq = ScopeQuery { platform: opt(g("platform")), api: opt(g("api")) };
    let dvo = blocking(&usage, &state, move |u, pool| views::comparison_of(u, pool, &sq)).await?;
    let platforms =
        blocking(&gov, &state, |gov, pool| governance::list(gov, pool, &ListQuery::default(), "platform")).await?;
    let targets: Option<Vec<TargetView>> =
        match g("platform").split_once(':').map(|(_, r)| r.split_once('/').unwrap_or(("default", r))) {
            Some((ns, name)) => {
                let key = crate::catalog::model::EntityRef::new("platform", ns, name).key();
                blocking(&usage, &state, move |u, pool| {
                    let g = u.org.snapshot(pool)?;
                    Ok(match g.get(&key) {
                        Some(_) => Some(u.targets(pool, &g, &key)?),
                        None => None,
                    })
                })
                .await
                .ok()
                .flatten()
            }
            None => None,
        };
    let series = &c.series;
    let partial = in_progress(series.last().map(|x| x.t.as_str()), bucket, now);
    let labels: Vec<String> = series.iter().map(|x| x.t.clone()).collect();
    let calls: Vec<Option<f64>> = series.iter().map(|x| Some(x.calls as f64)).collect();
    let errors: Vec<Option<f64>> = series.iter().map(|x| Some(x.errors as f64)).collect();
    let pct = |f: fn(&views::SeriesPoint) -> Option<f64>| series.iter().map(f).collect::<Vec<_>>();
    let wk = &a.weeks;
    // The adoption's last week is the current one (still in progress).
    let wpartial: Vec<bool> = (0..wk.len()).map(|i| i + 1 == wk.len()).collect();
    let wlabels: Vec<String> = wk.iter().map(|x| x.week.clone()).collect();
    let wv = |f: fn(&views::AdoptionWeek) -> usize| wk.iter().map(|x| f(x) as f64).collect::<Vec<_>>();
    let mut csv = vec![("format", "csv"), ("from", from.as_str()), ("to", to.as_str()), ("bucket", range.3)];
    csv.extend(scope.iter().filter(|(_, v)| !v.is_empty()).copied());
    let csv_href = format!("/api/portal/consumption?{}", serde_urlencoded::to_string(&csv).unwrap_or_default());
    let t = &c.totals;
    let body = html! {
        form class="search" method="get" action="/dashboard" {
            label { "Platform" select name="platform" { option value="" { "every platform" }
                @for x in &platforms.items { option value=(x.entity_ref) selected[g("platform") == x.entity_ref] { (x.entity_ref) } } } }
            label { "API" input type="text" name="api" value=(g("api")) placeholder="api:default/name"; }
            label { "Time range" select name="range" { @for r in RANGES { option value=(r.0) selected[r.0 == range.0] { (r.1) } } } }
            button type="submit" { "Show" }
            a href=(csv_href) download="consumption.csv" { "Download CSV" }
        }
        p class="totals" { (int(t.calls)) " calls, " (int(t.errors)) " errors"
            @if let Some(r) = t.error_rate { " (" (percent(r)) ")" }
            @match (t.p50, t.p95, t.p99) {
                (Some(p50), Some(p95), Some(p99)) => { ", p50 " (ms(p50)) ", p95 " (ms(p95)) ", p99 " (ms(p99)) }
                _ => { ", " span class="muted" { "no latency recorded" } }
            }
            @if partial { " " span class="muted" { "(the last " (bucket_name(bucket)) " still in progress)" } }
        }
        h2 { "Calls and errors" }
        (chart::lines_partial("Calls and errors over time", &labels, &[("calls", calls), ("errors", errors)], None, partial))
        h2 { "Latency (ms)" }
        (chart::lines_partial("Latency percentiles over time", &labels, &[("p50", pct(|x| x.p50)), ("p95", pct(|x| x.p95)), ("p99", pct(|x| x.p99))], None, partial))
        h2 { "Top consumers" }
        div class="wide" tabindex="0" { table { thead { tr { th { "Consumer" } th { "Product" } th { "Team" } th class="num" { "Calls" } th class="num" { "Errors" } th class="num" { "Share" } } } tbody {
            @for x in &c.top {
                tr { td { (entity_link(&x.consumer)) } td { (or_empty(&x.product)) } td { (or_empty(&x.team)) } td class="num" { (int(x.calls)) } td class="num" { (int(x.errors)) }
                    td class="num" { (percent(x.share)) } }
            }
        } } }
        h2 { "Adoption per week" }
        (chart::grouped_bars("New, retained and churned consumers per week", &wlabels, &[("new", wv(|x| x.new)), ("retained", wv(|x| x.retained)), ("churned", wv(|x| x.churned))], &wpartial))
        p { "Median time to first call: " @match a.time_to_first_call { None => span class="muted" { "no first calls yet" }, Some(h) => (duration(h)) } }
        h2 { "Approved but never used" }
        @if !a.approved_never_called.is_empty() {
            div class="wide" tabindex="0" { table { thead { tr { th { "API" } th { "Consumer" } th { "Plan" } th { "Since" } } } tbody {
                @for x in &a.approved_never_called { tr { td { (entity_link(&x.api)) } td { (entity_link(&x.consumer)) } td { (x.plan) } td { (x.since) } } }
            } } }
        } @else { p class="muted" { "None." } }
        h2 { "Declared versus observed (28 days)" }
        h3 { "Declared, not called" }
        @if !dvo.declared_not_observed.is_empty() {
            ul { @for x in &dvo.declared_not_observed { li { (entity_link(&x.consumer)) " → " (entity_link(&x.api)) } } }
        } @else { p class="muted" { "None." } }
        h3 { "Called, not declared" }
        @if !dvo.observed_not_declared.is_empty() {
            ul { @for x in &dvo.observed_not_declared { li { (entity_link(&x.consumer)) " → " (entity_link(&x.api)) ": " (int(x.calls)) " calls" } } }
        } @else { p class="muted" { "None." } }
        @if let Some(ts) = &targets {
            h2 { "Targets" }
            div class="wide" tabindex="0" { table { thead { tr { th { "Metric" } th { "API" } th class="num" { "Target" } th class="num" { "Current" } th { "Progress" } } } tbody {
                @for x in ts {
                    tr { td { (x.metric) } td { (or_empty(&x.api)) } td class="num" { (metric_value(&x.metric, Some(x.target))) } td class="num" { (metric_value(&x.metric, x.current)) }
                        td { (progress(x.progress)) " " (on_track(x.on_track)) } }
                }
            } } }
        } @else if g("platform").is_empty() {
            p class="muted" { "Pick a platform to see its targets." }
        }
        p { a href={ "/platforms" } { "Platforms" } @if !g("platform").is_empty() { " · " a href={ "/governance/graph?entity=" (urlencode(g("platform"))) } { "Dependency graph" } } }
    };
    Ok(respond(page(&ctx, "Consumption dashboard", body)))
}

/// Is the bucket starting at `t` (RFC 3339) the one holding `now`, so still in progress?
fn in_progress(t: Option<&str>, bucket: Bucket, now: chrono::DateTime<chrono::Utc>) -> bool {
    let Some(start) = t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis()) else {
        return false;
    };
    let now = now.timestamp_millis();
    start <= now && now < bucket.next(start)
}

fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Minute => "minute",
        Bucket::Hour => "hour",
        Bucket::Day => "day",
        Bucket::Week => "week",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(t).unwrap().into()
    }

    #[test]
    fn the_bucket_holding_now_is_in_progress() {
        let now = at("2026-05-06T10:30:00Z");
        assert!(in_progress(Some("2026-05-06T10:00:00Z"), Bucket::Hour, now));
        assert!(!in_progress(Some("2026-05-06T09:00:00Z"), Bucket::Hour, now), "a bucket over");
        assert!(in_progress(Some("2026-05-06T00:00:00Z"), Bucket::Day, now));
        assert!(!in_progress(Some("2026-05-05T00:00:00Z"), Bucket::Day, now));
        assert!(in_progress(Some("2026-05-04T00:00:00Z"), Bucket::Week, now), "the week of Monday the 4th");
        assert!(!in_progress(None, Bucket::Day, now), "no series");
        assert!(!in_progress(Some("not a time"), Bucket::Day, now));
    }
}
