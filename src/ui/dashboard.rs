//! The consumption dashboard (platform owners): calls and errors over time, latency
//! percentiles, top consumers, adoption, time to first call, approved but never used,
//! declared versus observed, targets; a time-range picker and a CSV download.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde_json::Value;

use super::catalog::{entity_link, params};
use super::chart;
use super::layout::{Ctx, page, urlencode};
use super::{html as respond, json_of, query, s};
use crate::error::ApiError;
use crate::governance::handlers as portal;
use crate::state::AppState;
use crate::usage::handlers as usage;

/// The range picker: (value, label, days, bucket).
const RANGES: &[(&str, &str, i64, &str)] = &[
    ("1d", "last day", 1, "hour"),
    ("7d", "last 7 days", 7, "day"),
    ("30d", "last 30 days", 30, "day"),
    ("90d", "last 90 days", 90, "week"),
];

/// `GET /dashboard?platform=&api=&range=`.
pub async fn dashboard(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let range = RANGES.iter().find(|r| r.0 == g("range")).unwrap_or(&RANGES[2]);
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::days(range.2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let scope = [("platform", g("platform")), ("api", g("api"))];
    let mut cq = scope.to_vec();
    cq.extend([("from", from.as_str()), ("to", to.as_str()), ("bucket", range.3)]);
    let c = json_of(usage::consumption(state.clone(), query(&cq)?).await).await?;
    let weeks = ((range.2 + 6) / 7).clamp(4, 13).to_string();
    let mut aq = scope.to_vec();
    aq.push(("weeks", &weeks));
    let a = json_of(usage::adoption(state.clone(), query(&aq)?).await).await?;
    let dvo = json_of(usage::declared_vs_observed(state.clone(), query(&scope)?).await).await?;
    let platforms = json_of(portal::list_platforms(state.clone(), query(&[])?).await).await?;
    let targets = match g("platform").split_once(':').map(|(_, r)| r.split_once('/').unwrap_or(("default", r))) {
        Some((ns, name)) => {
            json_of(portal::get_platform(state.clone(), web::Path::from((ns.to_owned(), name.to_owned()))).await)
                .await
                .ok()
                .map(|v| v["targets"].clone())
        }
        None => None,
    };
    let series = c["series"].as_array().cloned().unwrap_or_default();
    let labels: Vec<String> = series.iter().map(|x| s(x, "/t").to_owned()).collect();
    let num = |x: &Value, k: &str| x[k].as_f64();
    let calls: Vec<Option<f64>> = series.iter().map(|x| num(x, "calls")).collect();
    let errors: Vec<Option<f64>> = series.iter().map(|x| num(x, "errors")).collect();
    let pct = |k: &str| series.iter().map(|x| num(x, k)).collect::<Vec<_>>();
    let wk = a["weeks"].as_array().cloned().unwrap_or_default();
    let wlabels: Vec<String> = wk.iter().map(|x| s(x, "/week").to_owned()).collect();
    let wv = |k: &str| wk.iter().map(|x| x[k].as_f64().unwrap_or(0.0)).collect::<Vec<_>>();
    let mut csv = vec![("format", "csv"), ("from", from.as_str()), ("to", to.as_str()), ("bucket", range.3)];
    csv.extend(scope.iter().filter(|(_, v)| !v.is_empty()).copied());
    let csv_href = format!("/api/portal/consumption?{}", serde_urlencoded::to_string(&csv).unwrap_or_default());
    let t = &c["totals"];
    let body = html! {
        form class="search" method="get" action="/dashboard" {
            label { "Platform" select name="platform" { option value="" { "every platform" }
                @for x in platforms["items"].as_array().into_iter().flatten() { option value=(s(x, "/entityRef")) selected[g("platform") == s(x, "/entityRef")] { (s(x, "/entityRef")) } } } }
            label { "API" input type="text" name="api" value=(g("api")) placeholder="api:default/name"; }
            label { "Time range" select name="range" { @for r in RANGES { option value=(r.0) selected[r.0 == range.0] { (r.1) } } } }
            button type="submit" { "Show" }
            a href=(csv_href) download="consumption.csv" { "Download CSV" }
        }
        p { (chart::short(t["calls"].as_f64().unwrap_or(0.0))) " calls, " (chart::short(t["errors"].as_f64().unwrap_or(0.0))) " errors ("
            (format!("{:.2}", t["errorRate"].as_f64().unwrap_or(0.0) * 100.0)) "%), p50 " (t["p50"]) " ms, p95 " (t["p95"]) " ms, p99 " (t["p99"]) " ms" }
        h2 { "Calls and errors" }
        (chart::lines("Calls and errors over time", &labels, &[("calls", calls), ("errors", errors)], None))
        h2 { "Latency (ms)" }
        (chart::lines("Latency percentiles over time", &labels, &[("p50", pct("p50")), ("p95", pct("p95")), ("p99", pct("p99"))], None))
        h2 { "Top consumers" }
        table { thead { tr { th { "Consumer" } th { "Product" } th { "Team" } th class="num" { "Calls" } th class="num" { "Errors" } th class="num" { "Share" } } } tbody {
            @for x in c["top"].as_array().into_iter().flatten() {
                tr { td { (entity_link(s(x, "/consumer"))) } td { (s(x, "/product")) } td { (s(x, "/team")) } td class="num" { (x["calls"]) } td class="num" { (x["errors"]) }
                    td class="num" { (format!("{:.1}%", x["share"].as_f64().unwrap_or(0.0) * 100.0)) } }
            }
        } }
        h2 { "Adoption per week" }
        (chart::bars("New, retained and churned consumers per week", &wlabels, &[("new", wv("new")), ("retained", wv("retained")), ("churned", wv("churned"))]))
        p { "Median time to first call: " @if a["timeToFirstCall"].is_null() { span class="muted" { "no first calls yet" } } @else { (a["timeToFirstCall"].to_string()) } }
        h2 { "Approved but never used" }
        @if let Some(list) = a["approvedNeverCalled"].as_array().filter(|l| !l.is_empty()) {
            table { thead { tr { th { "API" } th { "Consumer" } th { "Plan" } th { "Since" } } } tbody {
                @for x in list { tr { td { (entity_link(s(x, "/api"))) } td { (entity_link(s(x, "/consumer"))) } td { (s(x, "/plan")) } td { (s(x, "/since")) } } }
            } }
        } @else { p class="muted" { "None." } }
        h2 { "Declared versus observed (28 days)" }
        h3 { "Declared, not called" }
        @if let Some(list) = dvo["declaredNotObserved"].as_array().filter(|l| !l.is_empty()) {
            ul { @for x in list { li { (entity_link(s(x, "/consumer"))) " → " (entity_link(s(x, "/api"))) } } }
        } @else { p class="muted" { "None." } }
        h3 { "Called, not declared" }
        @if let Some(list) = dvo["observedNotDeclared"].as_array().filter(|l| !l.is_empty()) {
            ul { @for x in list { li { (entity_link(s(x, "/consumer"))) " → " (entity_link(s(x, "/api"))) ": " (x["calls"]) " calls" } } }
        } @else { p class="muted" { "None." } }
        @if let Some(ts) = targets.as_ref().and_then(Value::as_array) {
            h2 { "Targets" }
            table { thead { tr { th { "Metric" } th { "API" } th class="num" { "Target" } th class="num" { "Current" } th { "Progress" } } } tbody {
                @for x in ts {
                    @let pr = (x["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0) * 10.0).round() as u32 * 10;
                    tr { td { (s(x, "/metric")) } td { (s(x, "/api")) } td class="num" { (x["target"]) } td class="num" { (x["current"]) }
                        td { span class="progress" role="img" aria-label={ (pr) "% of target" } { span class={ "w" (pr) } {} } " "
                            @if x["onTrack"] == Value::Bool(true) { span class="ok" { "on track" } } @else { span class="bad" { "off track" } } } }
                }
            } }
        } @else if g("platform").is_empty() {
            p class="muted" { "Pick a platform to see its targets." }
        }
        p { a href={ "/platforms" } { "Platforms" } @if !g("platform").is_empty() { " · " a href={ "/governance/graph?entity=" (urlencode(g("platform"))) } { "Dependency graph" } } }
    };
    Ok(respond(page(&ctx, "Consumption dashboard", body)))
}
