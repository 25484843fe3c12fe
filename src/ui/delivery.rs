//! The delivery office's pages: `/delivery`, the portfolio (every product and platform with its
//! KPIs on track, commitments met and dependencies at risk in a period, and how its roadmap
//! stands), and `/reports`, a period's value report as tables, the history of stored periods as
//! a chart, and the CSV download. Both render the delivery domain's typed report
//! (`delivery::report`) and roadmap views; the roadmap sections of the product and platform
//! pages are in [`super::roadmap`].

use std::collections::{BTreeSet, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::catalog::params;
use super::chart;
use super::layout::{Ctx, page};
use super::numbers::{count, int};
use super::products::{metric_value, value};
use super::roadmap::{item_href, page_href};
use super::{blocking, html as respond};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::now_ms;
use crate::delivery::handlers::period_of;
use crate::delivery::model::{Period, Status, day_of};
use crate::delivery::report::{Report, Totals};
use crate::delivery::views::{self, Filter, ItemView};
use crate::delivery::{Delivery, ReportPeriod};
use crate::error::ApiError;
use crate::state::AppState;

/// The period and domain a page is asked for (`?period=&domain=`).
struct Scope {
    period: Period,
    /// A domain's ref key.
    domain: Option<String>,
}

fn scope(d: &Delivery, req: &HttpRequest) -> Result<Scope, ApiError> {
    let p = params(req);
    let period = period_of(d, p.get("period").map(String::as_str))?;
    let domain = p
        .get("domain")
        .map(|raw| {
            EntityRef::parse(raw, Some("domain"), DEFAULT_NAMESPACE)
                .map(|r| r.key())
                .map_err(|e| ApiError::input(format!("domain: {e}")))
        })
        .transpose()?;
    Ok(Scope { period, domain })
}

/// The last part of a ref key (`product:default/checkout` -> `checkout`).
fn short_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn month_name(p: Period) -> String {
    match p {
        Period::Month { .. } => p.start().format("%B %Y").to_string(),
        Period::Quarter { year, quarter } => format!("quarter {quarter} of {year}"),
    }
}

/// The periods the picker offers: the last twelve months (or eight quarters, as the office
/// reports), the last four quarters, the stored ones and the chosen one, newest first.
fn periods(d: &Delivery, chosen: Period, stored: &[String]) -> Vec<Period> {
    let current = d.current_period(now_ms());
    let mut out = vec![chosen];
    let mut p = current;
    let n = if d.settings.report_period == ReportPeriod::Quarter { 8 } else { 12 };
    for _ in 0..n {
        out.push(p);
        p = p.previous();
    }
    let mut q = Period::holding(day_of(now_ms()), true);
    for _ in 0..4 {
        out.push(q);
        q = q.previous();
    }
    out.extend(stored.iter().filter_map(|s| Period::parse(s)));
    out.sort_by_key(|p| std::cmp::Reverse((p.end(), p.start())));
    out.dedup();
    out
}

/// The GET form choosing the period and the domain.
fn picker(
    action: &str,
    s: &Scope,
    periods: &[Period],
    stored: &[String],
    domains: &[String],
    current: Period,
) -> Markup {
    html! {
        form class="search" method="get" action=(action) {
            label { "Period" select name="period" {
                @for p in periods {
                    @let v = p.to_string();
                    option value=(v) selected[*p == s.period] {
                        (v) " (" (month_name(*p)) ")"
                        @if *p == current { ", current" } @else if stored.contains(&v) { ", stored" }
                    }
                }
            } }
            label { "Domain" select name="domain" {
                option value="" { "every domain" }
                @for dm in domains { option value=(dm) selected[s.domain.as_deref() == Some(dm.as_str())] { (short_name(dm)) } }
            } }
            button type="submit" { "Show" }
        }
    }
}

/// The domains of a report's products and platforms.
fn domains_of(r: &Report) -> Vec<String> {
    let set: BTreeSet<String> = r
        .products
        .iter()
        .filter_map(|p| p.domain.clone())
        .chain(r.platforms.iter().filter_map(|p| p.domain.clone()))
        .collect();
    set.into_iter().collect()
}

/// The report page of a period (and domain), at an anchor.
fn reports_href(period: &str, domain: Option<&str>, anchor: &str) -> String {
    let mut q = vec![("period", period)];
    q.extend(domain.map(|d| ("domain", d)));
    format!("/reports?{}#{anchor}", serde_urlencoded::to_string(&q).unwrap_or_default())
}

/// "3 of 5", with "none due" for 0 of 0.
fn of(n: i64, total: i64, none: &str) -> Markup {
    html! { @if total == 0 { span class="muted" { (none) } } @else { (int(n)) " of " (int(total)) } }
}

/// A count of dependencies at risk, marked in words when there are any.
fn at_risk(n: i64, href: &str) -> Markup {
    html! { @if n == 0 { span class="muted" { "none" } } @else { a href=(href) { (int(n)) } " " span class="state state-late" { "at risk" } } }
}

/// Whether a report was stored at its period's end or computed now, in words.
fn provenance(r: &Report) -> Markup {
    html! {
        p class="muted" {
            @if r.snapshot { "Stored at the end of " (r.period) " (" (r.generated_at) "): what was true then." }
            @else { "Computed now (" (r.generated_at) "): the period is current, or nothing was stored for it." }
        }
    }
}

fn totals(t: &Totals) -> Markup {
    html! {
        div class="wide" tabindex="0" { table class="totals" {
            thead { tr { th { "KPIs on track" } th { "Commitments met" } th { "Dependencies at risk" } } }
            tbody { tr {
                td { (of(t.kpis_on_track, t.kpis_total, "no KPI with a target")) }
                td { (of(t.commitments_met, t.commitments_due, "none due")) }
                td { (int(t.dependencies_at_risk)) }
            } }
        } }
    }
}

/// How an entity's roadmap stands: open items, overdue ones, the next one, health of updates.
#[derive(Default)]
struct Standing<'a> {
    open: usize,
    overdue: usize,
    next: Option<&'a ItemView>,
    health: Vec<(&'a str, usize)>,
}

fn standing<'a>(items: &'a [ItemView], today: &str) -> HashMap<&'a str, Standing<'a>> {
    let mut out: HashMap<&str, Standing> = HashMap::new();
    for i in items.iter().filter(|i| i.status.open()) {
        let s = out.entry(i.entity_ref.as_str()).or_default();
        s.open += 1;
        if i.target_date.as_str() < today {
            s.overdue += 1;
        }
        if s.next.is_none_or(|n| i.target_date < n.target_date) {
            s.next = Some(i);
        }
        if i.status == Status::InProgress {
            let h = i.health.as_deref().unwrap_or("no update");
            match s.health.iter_mut().find(|(k, _)| *k == h) {
                Some(e) => e.1 += 1,
                None => s.health.push((h, 1)),
            }
        }
    }
    out
}

fn roadmap_cells(s: Option<&Standing>, key: &str) -> Markup {
    html! {
        @match s {
            None => { td class="num" { span class="muted" { "0" } } td { span class="muted" { "nothing open" } } td {} }
            Some(s) => {
                td class="num" {
                    a href={ (page_href(key)) "#roadmap" } { (count(s.open)) }
                    @if s.overdue > 0 { " " span class="state state-late" { (count(s.overdue)) " overdue" } }
                }
                td { @if let Some(n) = s.next { a href=(item_href(key, &n.id)) { (n.title) } br; span class="muted" { "due " (n.target_date) } } }
                td { @for (k, (h, c)) in s.health.iter().enumerate() {
                    @if k > 0 { ", " }
                    span class={ "state health-" (h.replace(' ', "-")) } { (count(*c)) " " (h.replace('-', " ")) }
                } }
            }
        }
    }
}

/// `GET /delivery?period=&domain=`: the portfolio.
pub async fn portfolio(
    state: web::Data<AppState>,
    delivery: web::Data<Delivery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let s = scope(&delivery, &req)?;
    let period = s.period;
    let (report, items, names) = blocking(&delivery, &state, move |d, pool| {
        let report = d.report(pool, period, now_ms())?;
        let snap = d.snapshot(pool)?;
        let items = views::roadmaps(&snap.context(), &Filter::default()).items;
        let names: HashMap<String, String> = snap
            .graph
            .entities
            .values()
            .filter(|e| e.is("product") || e.is("platform"))
            .map(|e| (e.key.clone(), e.title.clone().unwrap_or_else(|| e.name.clone())))
            .collect();
        Ok((report, items, names))
    })
    .await?;
    let domains = domains_of(&report);
    let r = report.within(s.domain.as_deref());
    let current = delivery.current_period(now_ms());
    let today = day_of(now_ms()).to_string();
    let stand = standing(&items, &today);
    let name = |k: &str| names.get(k).cloned().unwrap_or_else(|| short_name(k).to_owned());
    let report_href = |anchor: &str| reports_href(&r.period, s.domain.as_deref(), anchor);
    let body = html! {
        p { "Every product and platform: its KPIs on track and the commitments due in the period, its dependencies at risk and how its roadmap stands today." }
        (picker("/delivery", &s, &periods(&delivery, period, &[]), &[], &domains, current))
        (provenance(&r))
        (totals(&r.totals))
        p { a href=(report_href("products")) { "The value report of " (r.period) } " · " a href="/governance?rule=dependency-late" { "Late dependencies in governance" } }
        h2 id="products" { "Products" }
        @if r.products.is_empty() { p class="muted" { "No product." } } @else {
            div class="wide" tabindex="0" { table class="portfolio" {
                thead { tr { th { "Product" } th { "Team" } th { "KPIs on track" } th { "Commitments met" } th { "Dependencies at risk" } th class="num" { "Open items" } th { "Next" } th { "Health" } } }
                tbody { @for p in &r.products {
                    @let total = p.kpis.iter().filter(|k| k.target.is_some()).count() as i64;
                    @let on = p.kpis.iter().filter(|k| k.on_track == Some(true)).count() as i64;
                    tr {
                        th scope="row" { a href=(page_href(&p.entity_ref)) { (name(&p.entity_ref)) } }
                        td { @if let Some(t) = &p.team { (short_name(t)) } }
                        td { a href={ (page_href(&p.entity_ref)) "#kpis" } { (of(on, total, "no target")) } }
                        td { a href=(report_href(&format!("product-{}", short_name(&p.entity_ref)))) { (of(p.commitments_met, p.commitments_due, "none due")) } }
                        td { (at_risk(p.dependencies_at_risk, &format!("{}#roadmap", page_href(&p.entity_ref)))) }
                        (roadmap_cells(stand.get(p.entity_ref.as_str()), &p.entity_ref))
                    }
                } }
            } }
        }
        h2 id="platforms" { "Platforms" }
        @if r.platforms.is_empty() { p class="muted" { "No platform." } } @else {
            div class="wide" tabindex="0" { table class="portfolio" {
                thead { tr { th { "Platform" } th { "Team" } th { "Targets on track" } th { "Commitments met" } th { "Dependencies at risk" } th class="num" { "Open demand" } th class="num" { "Open items" } th { "Next" } th { "Health" } } }
                tbody { @for p in &r.platforms {
                    @let on = p.targets.iter().filter(|t| t.on_track == Some(true)).count() as i64;
                    tr {
                        th scope="row" { a href=(page_href(&p.entity_ref)) { (name(&p.entity_ref)) } }
                        td { @if let Some(t) = &p.team { (short_name(t)) } }
                        td { (of(on, p.targets.len() as i64, "no target")) }
                        td { a href=(report_href(&format!("platform-{}", short_name(&p.entity_ref)))) { (of(p.commitments_met, p.commitments_due, "none due")) } }
                        td { (at_risk(p.dependencies_at_risk, &format!("{}#roadmap", page_href(&p.entity_ref)))) }
                        td class="num" { @if p.open_demand == 0 { span class="muted" { "0" } } @else { a href={ (page_href(&p.entity_ref)) "#demand" } { (int(p.open_demand)) } } }
                        (roadmap_cells(stand.get(p.entity_ref.as_str()), &p.entity_ref))
                    }
                } }
            } }
        }
    };
    Ok(respond(page(&ctx, "Delivery", body)))
}

/// `GET /reports?period=&domain=`: a period's value report, the history, the CSV download.
pub async fn reports(
    state: web::Data<AppState>,
    delivery: web::Data<Delivery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let s = scope(&delivery, &req)?;
    let (period, domain) = (s.period, s.domain.clone());
    let (report, history) = blocking(&delivery, &state, move |d, pool| {
        Ok((d.report(pool, period, now_ms())?, d.history(pool, domain.as_deref())?))
    })
    .await?;
    let domains = domains_of(&report);
    let r = report.within(s.domain.as_deref());
    let stored: Vec<String> = history.periods.iter().map(|p| p.period.clone()).collect();
    let current = delivery.current_period(now_ms());
    let mut csv = vec![("period", r.period.clone())];
    csv.extend(s.domain.clone().map(|d| ("domain", d)));
    csv.push(("format", "csv".into()));
    let csv_href = format!("/api/portal/reports/value?{}", serde_urlencoded::to_string(&csv).unwrap_or_default());
    let labels: Vec<String> = history.periods.iter().map(|p| p.period.clone()).collect();
    let series = |f: fn(&Totals) -> i64| history.periods.iter().map(|p| f(&p.totals) as f64).collect::<Vec<f64>>();
    let delivered: Vec<(&str, &crate::delivery::report::Delivered)> = r
        .products
        .iter()
        .flat_map(|p| p.delivered.iter().map(move |x| (p.entity_ref.as_str(), x)))
        .chain(r.platforms.iter().flat_map(|p| p.delivered.iter().map(move |x| (p.entity_ref.as_str(), x))))
        .collect();
    let slipped: Vec<(&str, &crate::delivery::report::Slipped)> = r
        .products
        .iter()
        .flat_map(|p| p.slipped.iter().map(move |x| (p.entity_ref.as_str(), x)))
        .chain(r.platforms.iter().flat_map(|p| p.slipped.iter().map(move |x| (p.entity_ref.as_str(), x))))
        .collect();
    let body = html! {
        (picker("/reports", &s, &periods(&delivery, period, &stored), &stored, &domains, current))
        p { a href=(csv_href) download={ "value-report-" (r.period) ".csv" } { "Download " (r.period) " as CSV" } " · " a href="/delivery" { "The portfolio" } }
        (provenance(&r))
        h2 id="totals" { "Totals of " (r.period) }
        (totals(&r.totals))
        h2 id="products" { "Products" }
        @if r.products.is_empty() { p class="muted" { "No product." } } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Product" } th { "Team" } th { "Domain" } th { "KPIs on track" } th { "Commitments met" } th class="num" { "Delivered" } th class="num" { "Slipped" } th class="num" { "Dependencies at risk" } } }
                tbody { @for p in &r.products {
                    @let total = p.kpis.iter().filter(|k| k.target.is_some()).count() as i64;
                    @let on = p.kpis.iter().filter(|k| k.on_track == Some(true)).count() as i64;
                    tr id={ "product-" (short_name(&p.entity_ref)) } {
                        th scope="row" { a href=(page_href(&p.entity_ref)) { (short_name(&p.entity_ref)) } }
                        td { @if let Some(t) = &p.team { (short_name(t)) } }
                        td { @if let Some(d) = &p.domain { (short_name(d)) } }
                        td { (of(on, total, "no target")) }
                        td { (of(p.commitments_met, p.commitments_due, "none due")) }
                        td class="num" { (count(p.delivered.len())) }
                        td class="num" { (count(p.slipped.len())) }
                        td class="num" { (int(p.dependencies_at_risk)) }
                    }
                } }
            } }
            h3 { "KPIs" }
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Product" } th { "KPI" } th class="num" { "Target" } th { "Direction" } th class="num" { "At the start" } th class="num" { "At the end" } th { "On track" } } }
                tbody { @for p in &r.products { @for k in &p.kpis {
                    tr { td { (short_name(&p.entity_ref)) } td { (k.name) } td class="num" { (value(k.target)) } td { (k.direction) }
                        td class="num" { (value(k.at_start)) } td class="num" { (value(k.at_end)) } td { (on_track(k.on_track)) } }
                } } }
            } }
            h3 { "Expected impact of what was delivered" }
            @let impact: Vec<_> = r.products.iter().flat_map(|p| p.expected_impact.iter().map(move |x| (p, x))).collect();
            @if impact.is_empty() { p class="muted" { "Nothing delivered in the period promised to move a KPI." } } @else {
                div class="wide" tabindex="0" { table {
                    thead { tr { th { "Product" } th { "Item" } th { "KPI" } th class="num" { "Target" } th class="num" { "Actual" } th { "Met" } } }
                    tbody { @for (p, x) in &impact {
                        tr { td { (short_name(&p.entity_ref)) } td { a href=(item_href(&p.entity_ref, &x.item)) { (x.item) } } td { (x.kpi) }
                            td class="num" { (value(Some(x.target))) } td class="num" { (value(x.actual)) } td { (yes_no(x.met, "met", "not met")) } }
                    } }
                } }
            }
        }
        h2 id="platforms" { "Platforms" }
        @if r.platforms.is_empty() { p class="muted" { "No platform." } } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Platform" } th { "Team" } th { "Targets on track" } th { "Commitments met" } th class="num" { "Active consumers" } th class="num" { "New" } th class="num" { "Churned" } th class="num" { "Open demand" } th class="num" { "Dependencies at risk" } } }
                tbody { @for p in &r.platforms {
                    @let on = p.targets.iter().filter(|t| t.on_track == Some(true)).count() as i64;
                    tr id={ "platform-" (short_name(&p.entity_ref)) } {
                        th scope="row" { a href=(page_href(&p.entity_ref)) { (short_name(&p.entity_ref)) } }
                        td { @if let Some(t) = &p.team { (short_name(t)) } }
                        td { (of(on, p.targets.len() as i64, "no target")) }
                        td { (of(p.commitments_met, p.commitments_due, "none due")) }
                        td class="num" { (int(p.adoption.active)) } td class="num" { (int(p.adoption.new)) } td class="num" { (int(p.adoption.churned)) }
                        td class="num" { (int(p.open_demand)) } td class="num" { (int(p.dependencies_at_risk)) }
                    }
                } }
            } }
            h3 { "Targets (last 30 days)" }
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Platform" } th { "Metric" } th class="num" { "Target" } th class="num" { "Current" } th { "On track" } } }
                tbody { @for p in &r.platforms { @for t in &p.targets {
                    tr { td { (short_name(&p.entity_ref)) } td { (t.metric) } td class="num" { (metric_value(&t.metric, Some(t.target))) } td class="num" { (metric_value(&t.metric, t.current)) } td { (on_track(t.on_track)) } }
                } } }
            } }
        }
        h2 id="delivered" { "Delivered in " (r.period) }
        @if delivered.is_empty() { p class="muted" { "Nothing was delivered in the period." } } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Of" } th { "Item" } th { "Target" } th { "Delivered" } th { "On time" } } }
                tbody { @for (owner, x) in &delivered {
                    tr { td { a href=(page_href(owner)) { (short_name(owner)) } } td { a href=(item_href(owner, &x.item)) { (x.title) } } td { (x.target_date) } td { (x.delivered_at) }
                        td { (yes_no(x.on_time, "on time", "late")) } }
                } }
            } }
        }
        h2 id="slipped" { "Slipped in " (r.period) }
        @if slipped.is_empty() { p class="muted" { "No commitment of the period slipped." } } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Of" } th { "Item" } th { "Target" } } }
                tbody { @for (owner, x) in &slipped {
                    tr { td { a href=(page_href(owner)) { (short_name(owner)) } } td { a href=(item_href(owner, &x.item)) { (x.title) } } td { (x.target_date) " " span class="state state-late" { "slipped" } } }
                } }
            } }
        }
        h2 id="history" { "History" }
        @if history.periods.is_empty() {
            p class="muted" { "No period is stored yet: each period's report is stored when it ends." }
        } @else {
            (chart::bars("KPIs on track, commitments met and dependencies at risk per stored period", &labels,
                &[("KPIs on track", series(|t| t.kpis_on_track)), ("commitments met", series(|t| t.commitments_met)), ("dependencies at risk", series(|t| t.dependencies_at_risk))]))
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Period" } th { "KPIs on track" } th { "Commitments met" } th class="num" { "Dependencies at risk" } th { "Stored" } } }
                tbody { @for h in &history.periods {
                    tr { td { a href=(reports_href(&h.period, s.domain.as_deref(), "totals")) { (h.period) } }
                        td { (of(h.totals.kpis_on_track, h.totals.kpis_total, "no KPI with a target")) }
                        td { (of(h.totals.commitments_met, h.totals.commitments_due, "none due")) }
                        td class="num" { (int(h.totals.dependencies_at_risk)) }
                        td { (h.generated_at) } }
                } }
            } }
        }
    };
    Ok(respond(page(&ctx, &format!("Value report {}", period_title(&r.period)), body)))
}

/// A period as a page title says it.
fn period_title(p: &str) -> String {
    Period::parse(p).map_or_else(|| p.to_owned(), |x| format!("{p} ({})", month_name(x)))
}

fn on_track(v: Option<bool>) -> Markup {
    match v {
        Some(b) => yes_no(b, "on track", "off track"),
        None => html! { span class="muted" { "no target" } },
    }
}

fn yes_no(b: bool, yes: &str, no: &str) -> Markup {
    html! { @if b { span class="state state-done" { (yes) } } @else { span class="state state-late" { (no) } } }
}
