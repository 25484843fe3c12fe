//! Governance: findings by rule, severity and owner (each linking to its entity and file), and
//! the dependency graph of an entity drawn as SVG from the graph endpoint's data.

use std::collections::{BTreeMap, HashMap, VecDeque};

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::catalog::{entity_href, entity_link, params};
use super::layout::{Ctx, page, urlencode};
use super::{blocking, html as respond, opt};
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::graph::{self, GraphQuery, GraphView};
use crate::governance::rules::Finding;
use crate::governance::views::{self, FindingsQuery};
use crate::state::AppState;

/// `GET /governance?rule=&severity=&owner=`.
pub async fn findings(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let g = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let filter = views::finding_filter_with(
        FindingsQuery { rule: opt(g("rule")), severity: opt(g("severity")), owner: opt(g("owner")), entity: None },
        &gov.external_rules(),
    )?;
    let (all, found) = blocking(&gov, &state, move |_, pool| {
        Ok((views::findings(pool, &Default::default())?.items, views::findings(pool, &filter)?.items))
    })
    .await?;
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut owners: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &all {
        *rules.entry(&f.rule).or_default() += 1;
        *owners.entry(f.owner.as_deref().unwrap_or("")).or_default() += 1;
    }
    let body = html! {
        form class="search" method="get" action="/governance" {
            label { "Rule" select name="rule" { option value="" { "any" } @for (r, n) in &rules { option value=(r) selected[g("rule") == *r] { (r) " (" (n) ")" } } } }
            label { "Severity" select name="severity" { option value="" { "any" } @for x in ["error", "warning", "info"] { option value=(x) selected[g("severity") == x] { (x) } } } }
            label { "Owner" select name="owner" { option value="" { "any" } @for (o, n) in owners.iter().filter(|(o, _)| !o.is_empty()) { option value=(o) selected[g("owner") == *o] { (o) " (" (n) ")" } } } }
            button type="submit" { "Filter" }
        }
        p class="muted" { (super::numbers::count(found.len())) " findings" }
        div class="wide" tabindex="0" { table {
            thead { tr { th { "Severity" } th { "Rule" } th { "Entity" } th { "Owner" } th { "Message" } th { "File" } } }
            tbody { @for f in &found {
                tr {
                    td { span class={ "sev-" (f.severity.as_str()) } { (f.severity.as_str()) } }
                    td { (f.rule) }
                    td { (entity_link(&f.entity_ref)) }
                    td { (f.owner.as_deref().unwrap_or("")) }
                    td { (f.message) }
                    td { (file_link(f)) }
                }
            } }
        } }
    };
    Ok(respond(page(&ctx, "Governance findings", body)))
}

fn file_link(f: &Finding) -> Markup {
    let file = f.file.as_deref().unwrap_or("");
    let line = f.line.filter(|l| *l >= 0);
    let label = match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_owned(),
    };
    html! {
        @if file.starts_with("https://") || file.starts_with("http://") { a href=(file) rel="noopener" { (label) } }
        @else if !file.is_empty() { a href=(entity_href(&f.entity_ref)) title="the entity's page shows its location" { code { (label) } } }
    }
}

/// `GET /governance/graph?entity=&depth=`.
pub async fn graph(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let entity = p.get("entity").cloned().unwrap_or_default();
    let depth = p.get("depth").cloned().unwrap_or_else(|| "1".into());
    let body = if entity.is_empty() {
        html! {
            form class="search" method="get" action="/governance/graph" {
                label { "Entity" input type="text" name="entity" placeholder="component:default/name" required; }
                button type="submit" { "Draw" }
            }
        }
    } else {
        let q = GraphQuery {
            entity: opt(&entity),
            depth: Some(depth.parse().map_err(|e: std::num::ParseIntError| {
                ApiError::input(crate::error::plain_serde_message(&e.to_string()))
            })?),
            ..Default::default()
        };
        let checked = graph::check(q)?;
        let v = blocking(&gov, &state, move |gov, pool| graph::graph(gov, pool, &checked)).await?;
        html! {
            form class="search" method="get" action="/governance/graph" {
                label { "Entity" input type="text" name="entity" value=(entity); }
                label { "Depth" select name="depth" { @for d in ["1", "2", "3"] { option value=(d) selected[d == depth] { (d) } } } }
                button type="submit" { "Draw" }
            }
            p { "Around " (entity_link(&entity)) ": " (super::numbers::count(v.nodes.len())) " entities, " (super::numbers::count(v.edges.len())) " edges." }
            (draw(&entity, &v))
            details { summary { "The edges as a list" }
                ul { @for e in &v.edges { li { (entity_link(&e.source)) " " (e.relation) " " (entity_link(&e.target)) } } }
            }
        }
    };
    Ok(respond(page(&ctx, "Dependency graph", body)))
}

/// Columns by distance from the focus (sources to its left, targets to its right), rows in order.
fn draw(focus: &str, v: &GraphView) -> Markup {
    let nodes: Vec<&str> = v.nodes.iter().map(|n| n.id.as_str()).collect();
    let edges: Vec<(&str, &str, &str)> =
        v.edges.iter().map(|e| (e.source.as_str(), e.target.as_str(), e.relation)).collect();
    // Signed distance: negative for what leads to the focus, positive for what it leads to.
    let mut col: HashMap<&str, i32> = HashMap::new();
    col.insert(focus, 0);
    let mut queue = VecDeque::from([focus]);
    while let Some(n) = queue.pop_front() {
        let c = col[n];
        for (a, b, _) in &edges {
            let next = if *a == n {
                Some((*b, c + 1))
            } else if *b == n {
                Some((*a, c - 1))
            } else {
                None
            };
            if let Some((m, d)) = next
                && !col.contains_key(m)
            {
                col.insert(m, d);
                queue.push_back(m);
            }
        }
    }
    for n in &nodes {
        col.entry(n).or_insert(0);
    }
    let min = col.values().copied().min().unwrap_or(0);
    let mut columns: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for n in &nodes {
        columns.entry(col[n]).or_default().push(n);
    }
    for c in columns.values_mut() {
        c.sort();
    }
    let (bw, bh, gx, gy) = (210.0, 26.0, 60.0, 12.0);
    let mut pos: HashMap<&str, (f64, f64)> = HashMap::new();
    for (c, list) in &columns {
        for (i, n) in list.iter().enumerate() {
            pos.insert(n, (10.0 + (c - min) as f64 * (bw + gx), 10.0 + i as f64 * (bh + gy)));
        }
    }
    let width = 20.0 + columns.len() as f64 * (bw + gx);
    let height = 20.0 + columns.values().map(Vec::len).max().unwrap_or(1) as f64 * (bh + gy);
    let short = |r: &str| -> String {
        let t: String = r.chars().take(32).collect();
        if r.chars().count() > 32 { format!("{t}…") } else { t }
    };
    html! {
        svg class="graph" viewBox={ "0 0 " (width) " " (height) } aria-labelledby="graph-title" xmlns="http://www.w3.org/2000/svg" {
            title id="graph-title" { "Dependency graph around " (focus) }
            @for (a, b, t) in &edges {
                @if let (Some(p), Some(q)) = (pos.get(a), pos.get(b)) {
                    line x1=(p.0 + bw) y1=(p.1 + bh / 2.0) x2=(q.0) y2=(q.1 + bh / 2.0) { title { (a) " " (t) " " (b) } }
                }
            }
            @for n in &nodes {
                @let (x, y) = pos[n];
                a href=(entity_href(n)) {
                    rect class=[(*n == focus).then_some("focus")] x=(x) y=(y) width=(bw) height=(bh) rx="4" {}
                    text x=(x + 6.0) y=(y + 17.0) { (short(n)) }
                }
            }
        }
        p class="muted" { "Each box links to its entity; " a href={ "/api/portal/graph?format=dot&entity=" (urlencode(focus)) } { "Graphviz dot" } "." }
    }
}
