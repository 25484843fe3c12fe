//! A team's page, `/teams/{namespace}/{name}`: what the group owns, the teams it depends on and
//! through what, and its team health (governance's team view and team health's section).

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::catalog::{entity_href, entity_link};
use super::layout::{Ctx, page, urlencode};
use super::{blocking, html as respond};
use crate::catalog::model::EntityRef;
use crate::error::ApiError;
use crate::governance::Governance;
use crate::governance::views;
use crate::health::Health;
use crate::health::views::Scope;
use crate::state::AppState;

/// The page of the group `namespace/name`.
pub fn href(namespace: &str, name: &str) -> String {
    format!("/teams/{}/{}", urlencode(namespace), urlencode(name))
}

/// The page of a group's ref (`group:namespace/name`), when it is one.
pub fn href_of(entity_ref: &str) -> Option<String> {
    let rest = entity_ref.strip_prefix("group:")?;
    let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
    Some(href(namespace, name))
}

/// A product's or platform's page from its ref, else the catalog's.
fn owned_href(entity_ref: &str) -> String {
    match entity_ref.split_once(':') {
        Some((kind @ ("product" | "platform"), rest)) => {
            let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
            format!("/{kind}s/{}/{}", urlencode(namespace), urlencode(name))
        }
        _ => entity_href(entity_ref),
    }
}

/// `GET /teams/{namespace}/{name}`.
pub async fn team(
    state: web::Data<AppState>,
    gov: web::Data<Governance>,
    health: web::Data<Health>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Ctx::new(&req, &state);
    let (ns, name) = path.into_inner();
    let key = EntityRef::new("group", &ns, &name).key();
    let t = blocking(&gov, &state, move |g, pool| views::team(g, pool, &ns, &name)).await?;
    let section = super::health::load(&state, &health, Scope::Team(key)).await?;
    let title = t.title.clone().unwrap_or_else(|| t.entity_ref.rsplit('/').next().unwrap_or(&t.entity_ref).to_owned());
    let owned: Vec<(&str, &std::collections::BTreeSet<String>)> =
        t.owns.iter().filter(|(_, set)| !set.is_empty()).map(|(k, v)| (*k, v)).collect();
    let body = html! {
        dl class="meta" {
            dt { "Ref" } dd { (entity_link(&t.entity_ref)) }
        }
        p {
            a href={ "/governance?owner=" (urlencode(&t.entity_ref)) } { "Its findings" } " · "
            a href="/health" { "Every team's health" }
        }
        h2 id="owns" { "Owns" }
        @if owned.is_empty() { p class="muted" { "Nothing in the catalog names this group as its owner." } } @else {
            dl class="meta owns" {
                @for (bucket, set) in &owned {
                    dt { (bucket) } dd { @for (n, r) in set.iter().enumerate() { @if n > 0 { ", " } a href=(owned_href(r)) { (r) } } }
                }
            }
        }
        h2 id="depends-on" { "Depends on" }
        @if t.depends_on.is_empty() { p class="muted" { "No other team." } } @else {
            div class="wide" tabindex="0" { table {
                thead { tr { th { "Team" } th { "Through" } } }
                tbody { @for d in &t.depends_on {
                    tr {
                        th scope="row" { @match href_of(&d.team) { Some(h) => a href=(h) { (d.team) }, None => (d.team) } }
                        td { ul class="plain" { @for v in &d.via { li { (entity_link(&v.source)) " " (v.relation) " " (entity_link(&v.target)) } } } }
                    }
                } }
            } }
        }
        (super::health::section(&section))
    };
    Ok(respond(page(&ctx, &title, body)))
}
