//! Golden paths for people: `/create` lists the catalog's templates; a template's form is asked
//! one page at a time (the values of the other pages carried in the form as JSON), checked by
//! the scaffolder's own check of the values (`Template::check_values`, what the API's task
//! creation runs) and reviewed before the task is created through `Scaffolder::create`, as
//! `POST /api/scaffolder/v2/tasks` does. The form's HTML is [`super::create_form`]'s; the task's
//! page is [`super::create_task`]'s.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::catalog::params;
use super::create_form::{self as form, Drawn, Field, Input};
use super::layout::{Ctx, page, urlencode};
use super::{CsrfForm, html as respond, see_other};
use crate::catalog::validate::Problem;
use crate::catalog::{Catalog, entity_api};
use crate::error::ApiError;
use crate::rows::Param;
use crate::scaffolder::handlers::blocking;
use crate::scaffolder::task_handlers::user_of;
use crate::scaffolder::tasks::NewTask;
use crate::scaffolder::{Found, Scaffolder};
use crate::state::AppState;

/// `/create`'s query parameters.
pub const SEARCH: Param = Param::text("q", "Text to look for in a template's title, name, description and tags");
pub const TYPE: Param = Param::text("type", "Only templates of this spec.type (service, website, resource, ...)");
/// The form's page (1 to the number of pages, then one more for the Review).
pub const PAGE: Param = Param::count("page", "The form's page: 1 to its number of pages, then one more for the Review");

/// The newest tasks `/create` lists.
const RECENT: i64 = 10;

/// At most this many templates on `/create`, and choices in a picker.
const MAX_ITEMS: usize = 500;

/// The path of a template's form.
pub fn form_href(namespace: &str, name: &str) -> String {
    format!("/create/templates/{}/{}", urlencode(namespace), urlencode(name))
}

/// A catalog filter's value: the characters that separate its terms are left out.
fn filter_value(v: &str) -> String {
    v.chars().filter(|c| !matches!(c, ',' | '=')).collect()
}

/// `GET /create?q=&type=`: the templates of the catalog, searched by title, name, description
/// and tags, filtered by type.
pub async fn list(
    state: web::Data<AppState>,
    catalog: web::Data<Catalog>,
    scaffolder: web::Data<Scaffolder>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let p = params(&req);
    let (text, kind) = (p.get("q").cloned().unwrap_or_default(), p.get("type").cloned().unwrap_or_default());
    let mut filter = "kind=template".to_owned();
    if !kind.is_empty() {
        filter.push_str(&format!(",spec.type={}", filter_value(&kind)));
    }
    let mut q: Vec<(&str, String)> = vec![
        ("filter", filter),
        ("limit", MAX_ITEMS.to_string()),
        ("orderField", "metadata.name,asc".into()),
        ("fields", "kind,metadata.name,metadata.namespace,metadata.title,metadata.description,metadata.tags,spec.type,spec.owner".into()),
    ];
    if !text.trim().is_empty() {
        q.push(("fullTextFilterTerm", text.clone()));
        q.push(("fullTextFilterFields", "metadata.title,metadata.name,metadata.description,metadata.tags".into()));
    }
    let qs = serde_urlencoded::to_string(&q).map_err(anyhow::Error::from)?;
    let found = entity_api::query_page(&catalog, &qs).await?;
    let facet_qs = serde_urlencoded::to_string([("filter", "kind=template")]).map_err(anyhow::Error::from)?;
    let facets = entity_api::facet_counts(&catalog, vec!["spec.type".into()], &facet_qs).await?;
    let types: Vec<(String, u64)> = facets
        .facets
        .get("spec.type")
        .into_iter()
        .flatten()
        .filter_map(|f| f.value.clone().map(|v| (v, f.count)))
        .collect();
    let total = found.total_items.unwrap_or(found.items.len() as u64);
    let (tasks, _) = blocking(&scaffolder, |s| s.list(&[], &[], RECENT, 0)).await?;
    let body = html! {
        p { "Start something new from a golden path: choose a template, fill in its form, review and create. "
            "The task it starts shows its steps and log as it runs." }
        form class="search" method="get" action="/create" role="search" {
            label { "Search templates" input type="search" name="q" value=(text); }
            label {
                "Type"
                select name="type" {
                    option value="" selected[kind.is_empty()] { "any type" }
                    @for (t, n) in &types { option value=(t) selected[*t == kind] { (t) " (" (n) ")" } }
                }
            }
            button type="submit" { "Search" }
        }
        p class="muted" role="status" {
            (total) @if total == 1 { " template" } @else { " templates" }
            @if !kind.is_empty() { " of type " strong { (kind) } }
            @if !text.trim().is_empty() { " matching “" (text) "”" }
            @if !kind.is_empty() || !text.trim().is_empty() { " · " a href="/create" { "all templates" } }
        }
        @if found.items.is_empty() {
            p { "No template matches." }
        } @else {
            ul class="cards templates" {
                @for t in &found.items {
                    @let (ns, name) = (t.metadata.namespace.as_deref().unwrap_or("default"), t.metadata.name.as_deref().unwrap_or_default());
                    li class="card" {
                        h2 { (t.label()) }
                        @if let Some(d) = &t.metadata.description { p { (d) } }
                        dl class="meta" {
                            dt { "Owner" } dd { (t.spec.owner.as_deref().unwrap_or("none named")) }
                            dt { "Type" } dd { (t.spec.spec_type.as_deref().unwrap_or("none")) }
                        }
                        @if let Some(tags) = t.metadata.tags.as_ref().filter(|t| !t.is_empty()) {
                            p { span class="visually-hidden" { "Tags: " } @for tag in tags { span class="tag" { (tag) } } }
                        }
                        p { a class="button" href=(form_href(ns, name)) { "Choose" span class="visually-hidden" { " " (t.label()) } } }
                    }
                }
            }
        }
    };
    let body = html! {
        (body)
        h2 { "Recent tasks" }
        (super::create_task::recent(&tasks))
    };
    Ok(respond(page(&ctx, "Create", body)))
}

/// The template at `{namespace}/{name}`.
async fn template(s: &web::Data<Scaffolder>, ns: &str, name: &str) -> Result<Found, ApiError> {
    let r = format!("template:{ns}/{name}");
    blocking(s, move |s| s.template_by_ref(&r)).await
}

/// A page number: 1 to the number of form pages, then one more for the Review.
fn page_number(raw: Option<&str>, last: usize) -> Result<usize, ApiError> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(1),
        Some(r) => r
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=last).contains(n))
            .ok_or_else(|| ApiError::input(format!("page: \"{r}\" is not a page of this form (1 to {last})"))),
    }
}

/// `GET /create/templates/{namespace}/{name}?page=N`: a page of the form (its defaults filled in).
pub async fn form_page(
    state: web::Data<AppState>,
    scaffolder: web::Data<Scaffolder>,
    catalog: web::Data<Catalog>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let found = template(&scaffolder, &ns, &name).await?;
    let n = page_number(params(&req).get("page").map(String::as_str), found.template.pages.len() + 1)?;
    step(&ctx, &catalog, &found, (ns.as_str(), name.as_str()), n, &Map::new(), &[]).await
}

/// `POST /create/templates/{namespace}/{name}`: `go=next` checks the page's values and shows the
/// next page (or the Review), `go=back` the page before, `go=create` checks every value and
/// creates the task (303 to its page); a problem shows on the page of its field.
pub async fn post_form(
    state: web::Data<AppState>,
    scaffolder: web::Data<Scaffolder>,
    catalog: web::Data<Catalog>,
    identity: crate::auth::Identity,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    posted: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let pairs = posted.0;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let found = template(&scaffolder, &ns, &name).await?;
    let pages = &found.template.pages;
    let review = pages.len() + 1;
    let n = page_number(Some(get("page").unwrap_or("")), review)?;
    let mut values = read_state(get("state").unwrap_or(""))?;
    if n < review {
        form::merge(&mut values, &form::fields(&pages[n - 1]), &pairs);
    }
    let at = (&ns[..], &name[..]);
    match get("go").unwrap_or("next") {
        "back" => step(&ctx, &catalog, &found, at, n.saturating_sub(1).max(1), &values, &[]).await,
        "next" => {
            let on_page: Vec<Problem> = if n < review {
                let fields = form::fields(&pages[n - 1]);
                problems(&found, &values)
                    .into_iter()
                    .filter(|p| form::property_of(&p.path).is_some_and(|k| fields.iter().any(|f| f.name == k)))
                    .collect()
            } else {
                Vec::new()
            };
            let next = if on_page.is_empty() { (n + 1).min(review) } else { n };
            step(&ctx, &catalog, &found, at, next, &values, &on_page).await
        }
        "create" => {
            let all = problems(&found, &values);
            if !all.is_empty() {
                // The first page holding a field at fault, with that page's problems (the
                // Review when no field of a page is named).
                let page_of = |p: &Problem| form::property_of(&p.path).and_then(|k| form::page_of(pages, &k));
                let first = all.iter().filter_map(&page_of).min();
                let shown: Vec<Problem> = all.iter().filter(|p| page_of(p) == first).cloned().collect();
                return step(&ctx, &catalog, &found, at, first.map_or(review, |i| i + 1), &values, &shown).await;
            }
            let task = NewTask {
                template_ref: found.key.clone(),
                values: Value::Object(values),
                secrets: Map::new(),
                base_url: None,
                rights: None,
            };
            let task = crate::scaffolder::task_handlers::with_caller(task, &req, &identity);
            let user = user_of(&identity);
            let id = blocking(&scaffolder, move |s| s.create(task, user)).await?;
            Ok(see_other(&format!("/create/tasks/{}", urlencode(&id))))
        }
        other => Err(ApiError::input(format!("go: \"{other}\" is not next, back or create"))),
    }
}

/// The values the form carries (`state`: a JSON object).
fn read_state(raw: &str) -> Result<Map<String, Value>, ApiError> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ApiError::input("The form's values could not be read: start again from the template's first page.")),
    }
}

/// The scaffolder's check of the values (the API's).
fn problems(found: &Found, values: &Map<String, Value>) -> Vec<Problem> {
    found.template.check_values(&Value::Object(values.clone()))
}

/// A problem in words: its place (`tags › item 2`) and what is wrong.
fn said(p: &Problem) -> String {
    format!("{}: {}", form::path_words(&p.path), p.message)
}

/// The catalog's choices of a picker: (ref, title or name), by name.
async fn choices_of(catalog: &Catalog, filters: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    let mut q: Vec<(&str, String)> = filters.iter().map(|f| ("filter", f.clone())).collect();
    q.push(("limit", MAX_ITEMS.to_string()));
    q.push(("orderField", "metadata.name,asc".into()));
    q.push(("fields", "kind,metadata.name,metadata.namespace,metadata.title".into()));
    let qs = serde_urlencoded::to_string(&q).map_err(anyhow::Error::from)?;
    let page = entity_api::query_page(catalog, &qs).await?;
    Ok(page.items.iter().map(|e| (e.entity_ref(), e.label().to_owned())).collect())
}

/// Answers page `n` of the form (the Review after the last), with the values so far and the
/// problems to show on it.
async fn step(
    ctx: &Ctx,
    catalog: &Catalog,
    found: &Found,
    (ns, name): (&str, &str),
    n: usize,
    values: &Map<String, Value>,
    problems: &[Problem],
) -> Result<HttpResponse, ApiError> {
    let t = &found.template;
    let review = t.pages.len() + 1;
    let titles: Vec<String> = t
        .pages
        .iter()
        .enumerate()
        .map(|(i, p)| p["title"].as_str().map(str::to_owned).unwrap_or_else(|| format!("Page {}", i + 1)))
        .chain(std::iter::once("Review".to_owned()))
        .collect();
    let fields = if n < review { form::fields(&t.pages[n - 1]) } else { Vec::new() };
    let mut choices: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for f in &fields {
        if let Input::Pick(p) = &f.input {
            choices.insert(f.name.clone(), choices_of(catalog, &p.filters).await?);
        }
    }
    let cannot = t.unsupported(&crate::scaffolder::expr::Templater::new(false));
    let index_of = |p: &Problem| form::property_of(&p.path).and_then(|k| fields.iter().position(|f| f.name == k));
    let state = serde_json::to_string(values).map_err(anyhow::Error::from)?;
    let body = html! {
        @if let Some(d) = &t.description { p { (d) } }
        @if !cannot.is_empty() {
            div class="notice" role="status" {
                p { strong { "This template cannot run here:" } }
                ul { @for c in &cannot { li { (c) } } }
            }
        }
        nav aria-label="Form pages" {
            ol class="form-steps" {
                @for (i, title) in titles.iter().enumerate() {
                    @if i + 1 == n { li aria-current="step" { strong { (title) } } } @else { li { (title) } }
                }
            }
        }
        @if !problems.is_empty() {
            div class="error-summary" role="alert" {
                h2 { "Check these values" }
                ul {
                    @for p in problems {
                        @match index_of(p) {
                            Some(i) => li { a href={ "#f-" (i) } { (said(p)) } },
                            None => li { (said(p)) },
                        }
                    }
                }
            }
        }
        form method="post" action=(form_href(ns, name)) novalidate class="template-form" {
            (ctx.csrf_field())
            input type="hidden" name="page" value=(n);
            input type="hidden" name="state" value=(state);
            h2 { (titles[n - 1]) }
            @if n < review {
                @if let Some(d) = t.pages[n - 1]["description"].as_str() { p class="hint" { (d) } }
                @if fields.is_empty() { p class="muted" { "Nothing to fill in on this page." } }
                @for (i, f) in fields.iter().enumerate() {
                    (form::render(f, &Drawn {
                        index: i,
                        value: values.get(&f.name),
                        errors: problems.iter().filter(|p| index_of(p) == Some(i)).map(said).collect(),
                        choices: choices.get(&f.name).map(Vec::as_slice).unwrap_or(&[]),
                    }))
                }
                div class="actions" {
                    button type="submit" name="go" value="next" { @if n + 1 == review { "Review" } @else { "Next" } }
                    @if n > 1 { " " button type="submit" name="go" value="back" class="secondary" { "Back" } }
                }
            } @else {
                (review_of(t, values))
                div class="actions" {
                    button type="submit" name="go" value="create" { "Create" }
                    @if n > 1 { " " button type="submit" name="go" value="back" class="secondary" { "Back" } }
                }
            }
        }
    };
    let mut res = respond(page(ctx, &t.title, body));
    // The values (passwords among them) are in the page: not kept by the browser's cache.
    res.headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The Review: every page's values, secrets masked.
fn review_of(t: &crate::scaffolder::template::Template, values: &Map<String, Value>) -> Markup {
    html! {
        p { "Check the values, then create the task. Back returns to the form with them kept." }
        @for (i, p) in t.pages.iter().enumerate() {
            @let fields: Vec<Field> = form::fields(p);
            h3 { (p["title"].as_str().map(str::to_owned).unwrap_or_else(|| format!("Page {}", i + 1))) }
            @if fields.is_empty() {
                p class="muted" { "Nothing to fill in." }
            } @else {
                dl class="meta review" {
                    @for f in &fields { dt { (f.title) } dd { (form::display(f, values.get(&f.name))) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_stay_inside_the_form() {
        assert_eq!(page_number(None, 3).unwrap(), 1);
        assert_eq!(page_number(Some("3"), 3).unwrap(), 3);
        for bad in ["0", "4", "x", "-1"] {
            assert!(page_number(Some(bad), 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_carried_state_is_an_object_or_refused() {
        assert!(read_state("").unwrap().is_empty());
        assert_eq!(read_state(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert!(read_state("[1]").is_err() && read_state("{").is_err());
    }

    #[test]
    fn filter_values_cannot_add_terms() {
        assert_eq!(filter_value("service,kind=user"), "servicekinduser");
    }
}
