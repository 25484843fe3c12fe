//! Catalog pages: the list with facets and paging, and one entity's page.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::blocking;
use super::html as respond;
use super::layout::{Ctx, page, urlencode};
use super::numbers;
use crate::catalog::entity_api;
use crate::catalog::view::{self, or_empty};
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::views as governance;
use crate::state::AppState;

pub const PAGE_SIZE: u64 = 25;

/// The facets the list offers: (query parameter, catalog field, label).
const FACETS: &[(&str, &str, &str)] = &[
    ("kind", "kind", "Kind"),
    ("type", "spec.type", "Type"),
    ("owner", "relations.ownedBy", "Owner"),
    ("lifecycle", "spec.lifecycle", "Lifecycle"),
    ("tag", "metadata.tags", "Tag"),
];

/// The UI's query parameters.
pub fn params(req: &HttpRequest) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().filter(|(_, v)| !v.is_empty()).collect())
        .unwrap_or_default()
}

/// The link to an entity's page from its ref (`kind:namespace/name`).
pub fn entity_href(entity_ref: &str) -> String {
    let (kind, rest) = entity_ref.split_once(':').unwrap_or(("component", entity_ref));
    let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
    format!("/catalog/{}/{}/{}", urlencode(&kind.to_lowercase()), urlencode(namespace), urlencode(name))
}

/// Swagger UI on an API entity's own definition.
pub fn swagger_href(namespace: &str, name: &str) -> String {
    format!("/api/docs/apis/{}/{}/", urlencode(namespace), urlencode(name))
}

/// A ref as a link to its page.
pub fn entity_link(entity_ref: &str) -> Markup {
    html! { a href=(entity_href(entity_ref)) { (entity_ref) } }
}

/// The `filter=` value of the chosen facets (one AND-ed set).
fn filter_of(p: &HashMap<String, String>) -> Option<String> {
    let conds: Vec<String> =
        FACETS.iter().filter_map(|(param, field, _)| p.get(*param).map(|v| format!("{field}={v}"))).collect();
    (!conds.is_empty()).then(|| conds.join(","))
}

/// An entity's link (`metadata.links`): an `href` only for http, https and mailto URLs; any
/// other scheme (`javascript:`, `data:`, ...) or text that is no URL is shown as text.
pub fn link_item(url: &str, title: &str) -> Markup {
    let label = if title.is_empty() { url } else { title };
    match safe_href(url) {
        Some(href) => html! { a href=(href) rel="noopener noreferrer" { (label) } },
        None => html! { span class="muted" { (label) @if !title.is_empty() { " (" code { (url) } ")" } } },
    }
}

/// The URL as an `href`, when its scheme is http, https or mailto (as browsers parse it).
pub fn safe_href(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https" | "mailto").then(|| parsed.to_string())
}

/// Everything but `skip` (and the page), as a query string, for facet and pager links.
fn link_with(p: &HashMap<String, String>, set: &[(&str, Option<&str>)]) -> String {
    let mut pairs: Vec<(String, String)> = p
        .iter()
        .filter(|(k, _)| k.as_str() != "page" && !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in set {
        if let Some(v) = v {
            pairs.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    pairs.sort();
    let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if qs.is_empty() { "/catalog".into() } else { format!("/catalog?{qs}") }
}

/// `GET /catalog?q=&kind=&type=&owner=&lifecycle=&tag=&page=`.
pub async fn list(
    state: web::Data<AppState>,
    catalog: web::Data<crate::catalog::Catalog>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let page_no: u64 = p.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut q: Vec<(&str, String)> = vec![
        ("limit", PAGE_SIZE.to_string()),
        ("offset", ((page_no - 1) * PAGE_SIZE).to_string()),
        ("orderField", "metadata.name,asc".into()),
        ("fields", "kind,metadata.name,metadata.namespace,metadata.title,metadata.description,spec.type,spec.lifecycle,spec.owner,metadata.tags".into()),
    ];
    let filter = filter_of(&p);
    if let Some(f) = &filter {
        q.push(("filter", f.clone()));
    }
    if let Some(text) = p.get("q") {
        q.push(("fullTextFilterTerm", text.clone()));
    }
    let qs = serde_urlencoded::to_string(&q).map_err(anyhow::Error::from)?;
    let result = entity_api::query_page(&catalog, &qs).await?;
    let facet_qs =
        filter.as_ref().map(|f| serde_urlencoded::to_string([("filter", f)]).unwrap_or_default()).unwrap_or_default();
    let facets =
        entity_api::facet_counts(&catalog, FACETS.iter().map(|(_, f, _)| (*f).to_owned()).collect(), &facet_qs).await?;
    let total = result.total_items.unwrap_or(0);
    let items = result.items;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let body = html! {
        // htmx (vendored) swaps the page in place for searches, facets and pages when scripts
        // run; without them these are plain links and a plain form.
        form class="search" method="get" action="/catalog" role="search" hx-boost="true" {
            label { "Search the catalog" input type="search" name="q" value=(p.get("q").map(String::as_str).unwrap_or("")); }
            @for (param, _, _) in FACETS {
                @if let Some(v) = p.get(*param) { input type="hidden" name=(param) value=(v); }
            }
            button type="submit" { "Search" }
        }
        div class="layout" hx-boost="true" {
            aside class="facets" aria-label="Facets" {
                @for (param, field, label) in FACETS {
                    fieldset {
                        legend { (label) }
                        @if let Some(v) = p.get(*param) {
                            p { strong { (v) } " · " a href=(link_with(&p, &[(param, None)])) { "any " (label.to_lowercase()) } }
                        } @else {
                            @for f in facets.facets.get(*field).map(|a| &a[..a.len().min(12)]).unwrap_or(&[]) {
                                a href=(link_with(&p, &[(param, f.value.as_deref())])) { (or_empty(&f.value)) } " "
                                span class="muted" { "(" (numbers::count(f.count)) ")" } br;
                            }
                        }
                    }
                }
            }
            section aria-label="Entities" {
                p class="muted" { (numbers::count(total)) " entities" @if pages > 1 { ", page " (numbers::count(page_no)) " of " (numbers::count(pages)) } }
                div class="wide" tabindex="0" { table {
                    thead { tr { th { "Name" } th { "Kind" } th { "Type" } th { "Owner" } th { "Lifecycle" } th { "Description" } } }
                    tbody {
                        @for e in &items {
                            tr {
                                td { a href=(entity_href(&e.entity_ref())) { (e.label()) } }
                                td { (or_empty(&e.kind)) }
                                td { (or_empty(&e.spec.spec_type)) }
                                td { (or_empty(&e.spec.owner)) }
                                td { (or_empty(&e.spec.lifecycle)) }
                                td { (or_empty(&e.metadata.description)) }
                            }
                        }
                    }
                } }
                nav class="pager" aria-label="Pages" {
                    @if page_no > 1 { a href=(page_link(&p, page_no - 1)) rel="prev" { "← Previous" } }
                    @if page_no < pages { a href=(page_link(&p, page_no + 1)) rel="next" { "Next →" } }
                }
            }
        }
    };
    Ok(respond(page(&ctx, "Catalog", body)))
}

/// One scorecard's standing of the entity, from its status item.
struct Standing {
    scorecard_ref: String,
    title: String,
    level: Option<String>,
    lowest: String,
    score: f64,
    failing: Vec<String>,
}

/// The scorecards the entity is judged by (standards' status items), by title.
fn standings(e: &view::EntityView) -> Vec<Standing> {
    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    let mut out: Vec<Standing> = e
        .items_of_type(crate::standards::status::ITEM_TYPE)
        .filter_map(|i| i.more.get("scorecard"))
        .filter_map(|s| {
            Some(Standing {
                scorecard_ref: text(s, "ref")?,
                title: text(s, "title").unwrap_or_default(),
                level: text(s, "level"),
                lowest: s
                    .get("levels")
                    .and_then(|l| l.get(0))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("the lowest level")
                    .to_owned(),
                score: s.get("score").and_then(serde_json::Value::as_f64).unwrap_or(0.0),
                failing: s
                    .get("failing")
                    .and_then(serde_json::Value::as_array)
                    .map(|f| f.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.title.cmp(&b.title));
    out
}

fn page_link(p: &HashMap<String, String>, n: u64) -> String {
    let base = link_with(p, &[]);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}page={n}")
}

/// `GET /catalog/{kind}/{namespace}/{name}`.
pub async fn entity(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    catalog: web::Data<crate::catalog::Catalog>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (kind, namespace, name) = path.into_inner();
    let e = view::entity(&catalog, &kind, &namespace, &name).await?;
    let entity_ref = format!("{}:{}/{}", kind.to_lowercase(), namespace, name);
    let location = view::entity_location(&catalog, &kind, &namespace, &name).await.ok().flatten();
    let errors: &[String] = location.as_ref().map_or(&[], |l| &l.errors);
    let kind_l = kind.to_lowercase();
    let scorecard = if kind_l == "product" || kind_l == "platform" {
        let all = blocking(&gov, &state, governance::scorecards).await?;
        all.items.into_iter().find(|c| c.entity_ref == entity_ref)
    } else {
        None
    };
    let findings: Vec<&view::StatusItem> = e.findings().collect();
    let standings = standings(&e);
    let definition = e.definition_text();
    let description = or_empty(&e.metadata.description);
    let fields = [
        ("Type", &e.spec.spec_type),
        ("Lifecycle", &e.spec.lifecycle),
        ("Owner", &e.spec.owner),
        ("System", &e.spec.system),
        ("Domain", &e.spec.domain),
    ];
    let body = html! {
        @if !description.is_empty() { p { (description) } }
        dl class="meta" {
            dt { "Ref" } dd { code { (entity_ref) } }
            dt { "Kind" } dd { (or_empty(&e.kind)) }
            @for (label, value) in fields {
                @if !or_empty(value).is_empty() { dt { (label) } dd { (or_empty(value)) } }
            }
            @if let Some(tags) = &e.metadata.tags {
                dt { "Tags" } dd { @for t in tags { span class="tag" { (t) } } }
            }
        }
        p {
            @if kind_l == "product" { a href={ "/products/" (urlencode(&namespace)) "/" (urlencode(&name)) } { "Product page" } " · " }
            @if kind_l == "platform" { a href={ "/platforms/" (urlencode(&namespace)) "/" (urlencode(&name)) } { "Platform page" } " · " a href={ "/dashboard?platform=" (urlencode(&entity_ref)) } { "Consumption dashboard" } " · " }
            @if kind_l == "api" { a href={ "/apis/" (urlencode(&namespace)) "/" (urlencode(&name)) } { "In the API marketplace" } " · " }
            @if kind_l == "group" { a href=(super::teams::href(&namespace, &name)) { "Team page" } " · " }
            a href={ "/governance/graph?entity=" (urlencode(&entity_ref)) } { "Dependency graph" }
        }
        @if let Some(links) = &e.metadata.links {
            h2 { "Links" }
            ul { @for l in links { li { (link_item(or_empty(&l.url), or_empty(&l.title))) } } }
        }
        h2 { "Governance findings" }
        @if findings.is_empty() { p class="muted" { "None." } } @else {
            ul {
                @for f in &findings {
                    @let rule = or_empty(&f.error.name);
                    li { span class={ "sev-" (or_empty(&f.level)) } { (or_empty(&f.level)) } " "
                        a href={ "/governance?rule=" (urlencode(rule)) } { (rule) } ": " (or_empty(&f.message)) }
                }
            }
        }
        @if let Some(card) = &scorecard {
            h2 { "Scorecard: " (card.level.as_str()) }
            ul { @for c in &card.checks {
                li { @if c.passed { span class="ok" { "✓ " } } @else { span class="bad" { "✗ " } } (c.id) " " span class="muted" { "(" (c.level.as_str()) ")" } }
            } }
        }
        @if !standings.is_empty() {
            h2 { "Scorecards" }
            div class="wide" tabindex="0" { table { thead { tr { th { "Scorecard" } th { "Level" } th class="num" { "Score" } th { "Failing checks" } } } tbody {
                @for s in &standings { tr {
                    td { a href=(super::standards::page_href("scorecards", &s.scorecard_ref)) { (s.title) } }
                    td { @if let Some(l) = &s.level { (l) } @else { span class="muted" { "below " (s.lowest) } } }
                    td class="num" { (numbers::percent(s.score)) }
                    td { @if s.failing.is_empty() { span class="ok" { "none" } } @else { (s.failing.join(", ")) } }
                } }
            } } }
        }
        h2 { "Relations" }
        @if let Some(rels) = e.relations.as_ref().filter(|r| !r.is_empty()) {
            div class="wide" tabindex="0" { table { thead { tr { th { "Relation" } th { "Target" } } } tbody {
                @for r in rels { tr { td { (or_empty(&r.relation)) } td { (entity_link(or_empty(&r.target_ref))) } } }
            } } }
        } @else { p class="muted" { "None." } }
        h2 { "Location" }
        @if let Some(l) = &location { p { code { (l.kind) ":" (l.target) } } } @else { p class="muted" { "Unknown." } }
        @if !errors.is_empty() {
            h2 { "Processing errors" }
            ul { @for x in errors { li class="error" { (x) } } }
        }
        @if let Some(d) = &definition {
            h2 { "Definition" }
            @if kind_l == "api" && or_empty(&e.spec.spec_type).eq_ignore_ascii_case("openapi") {
                @let swagger = swagger_href(&namespace, &name);
                p { a href=(swagger) { "Open in Swagger UI" } " · " a href={ (swagger) "definition" } { "the document itself" } }
                iframe class="swagger" title={ "Swagger UI: " (e.label()) } src=(swagger) loading="lazy" {}
                details { summary { "Source" } (super::highlight::render(d)) }
            } @else {
                (super::highlight::render(d))
            }
        }
    };
    Ok(respond(page(&ctx, e.label(), body)))
}
