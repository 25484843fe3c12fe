//! The delivery office on the product and platform pages: the roadmap (its items on a time line,
//! each need drawn to the item that answers it, late and unplanned ones marked in words), the
//! form owners record an item's status update with, and a platform's demand.
//!
//! The sections render the delivery domain's typed views (`delivery::views`); the form acts
//! through `Delivery::record_update` after the same owner check the API's handler makes.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Ctx, urlencode};
use super::{CsrfForm, blocking, see_other};
use crate::auth::Identity;
use crate::catalog::model::EntityRef;
use crate::db::now_ms;
use crate::delivery::model::{NeedState, Status, day_of};
use crate::delivery::views::{self, Demand, ItemView, NeedView};
use crate::delivery::{Delivery, HEALTH, UpdateInput};
use crate::error::ApiError;
use crate::state::AppState;

/// What the roadmap and demand sections of one product or platform show.
pub struct Sections {
    /// The product's or platform's ref key.
    pub key: String,
    pub items: Vec<ItemView>,
    /// A platform's demand (none for a product).
    pub demand: Option<Demand>,
    /// Labels of the products and platforms named (their title, else their name), by key.
    pub names: HashMap<String, String>,
    /// Titles of the items named on other plans, by (owner key, item id).
    pub titles: HashMap<(String, String), String>,
    pub today: NaiveDate,
    /// Whether this person may record updates (the API handler's check).
    pub may_update: bool,
}

/// Who may record an update of `key`'s items: exactly the API handler's check
/// (`delivery::handlers::post_update`): admins, `plan:write` tokens, else the owner.
pub async fn may_update(state: &AppState, identity: &Identity, key: &str) -> Result<(), ApiError> {
    if identity.admin || identity.has_scope("plan:write") {
        return Ok(());
    }
    crate::auth::require_owner(&state.pool, identity, vec![key.to_owned()], "record updates of this roadmap").await
}

/// Reads the sections of the product or platform `key`.
pub async fn load(
    state: &web::Data<AppState>,
    delivery: &web::Data<Delivery>,
    identity: &Identity,
    key: String,
    platform: bool,
) -> Result<Sections, ApiError> {
    let may = may_update(state, identity, &key).await.is_ok();
    let k = key.clone();
    let (items, demand, names, titles) = blocking(delivery, state, move |d, pool| {
        let snap = d.snapshot(pool)?;
        let cx = snap.context();
        let items = views::roadmap_of(&cx, &k);
        let demand = platform.then(|| views::demand(&cx, &k));
        let mut names = HashMap::new();
        let mut titles = HashMap::new();
        let mut name = |key: &str| {
            if let Some(e) = snap.graph.get(key) {
                names.insert(key.to_owned(), e.title.clone().unwrap_or_else(|| e.name.clone()));
            }
        };
        let mut title = |owner: &str, id: &str| {
            if let Some(i) = snap.plans.get(owner, id) {
                titles.insert((owner.to_owned(), id.to_owned()), i.title.clone());
            }
        };
        for i in &items {
            for n in &i.needs {
                name(&n.on);
                if let Some(a) = &n.answered_by {
                    title(&a.entity_ref, &a.item);
                }
            }
            for c in &i.changes {
                for a in &c.affected {
                    name(&a.product);
                }
            }
        }
        for n in demand.iter().flat_map(|d| &d.needs) {
            name(&n.from);
        }
        for c in demand.iter().flat_map(|d| &d.conflicts) {
            for n in &c.needed_by {
                name(&n.product);
                title(&n.product, &n.item);
            }
        }
        Ok((items, demand, names, titles))
    })
    .await?;
    Ok(Sections { key, items, demand, names, titles, today: day_of(now_ms()), may_update: may })
}

/// The page of a product or platform (by key), else its catalog page.
pub fn page_href(key: &str) -> String {
    let (kind, rest) = key.split_once(':').unwrap_or(("", key));
    let (ns, name) = rest.split_once('/').unwrap_or(("default", rest));
    match kind {
        "product" | "platform" => format!("/{kind}s/{}/{}", urlencode(ns), urlencode(name)),
        _ => super::catalog::entity_href(key),
    }
}

/// The anchor of an item's row on its owner's page.
pub fn item_href(owner: &str, item: &str) -> String {
    format!("{}#{}", page_href(owner), item_anchor(item))
}

fn item_anchor(item: &str) -> String {
    format!("item-{}", urlencode(item))
}

impl Sections {
    pub(super) fn name<'a>(&'a self, key: &'a str) -> &'a str {
        self.names.get(key).map(String::as_str).unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key))
    }

    pub(super) fn title<'a>(&'a self, owner: &str, id: &'a str) -> &'a str {
        if owner == self.key
            && let Some(i) = self.items.iter().find(|i| i.id == id)
        {
            return &i.title;
        }
        self.titles.get(&(owner.to_owned(), id.to_owned())).map(String::as_str).unwrap_or(id)
    }

    fn overdue(&self, i: &ItemView) -> bool {
        i.status.open() && date(&i.target_date).is_some_and(|t| t < self.today)
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A need's state in words, marked (`state-late` ...).
pub fn state_badge(s: NeedState) -> Markup {
    let text = match s {
        NeedState::Done => "done",
        NeedState::Planned => "planned in time",
        NeedState::Late => "late",
        NeedState::Unplanned => "unplanned",
    };
    html! { span class={ "state state-" (s.as_str()) } { (text) } }
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Planned => "planned",
        Status::InProgress => "in progress",
        Status::Done => "done",
        Status::Dropped => "dropped",
    }
}

fn health_badge(h: &str) -> Markup {
    html! { span class={ "state health-" (h) } { (h.replace('-', " ")) } }
}

/// The roadmap section: the time line, then every item as a table row (its needs, changes,
/// expected impact and last update), with the update form for owners.
pub fn roadmap_section(ctx: &Ctx, s: &Sections, updated: Option<&str>) -> Markup {
    html! {
        h2 id="roadmap" { "Roadmap" }
        @if let Some(item) = updated { p class="notice" role="status" { "Your update of " a href={ "#" (item_anchor(item)) } { (item) } " was recorded." } }
        @if s.items.is_empty() {
            p class="muted" { "No roadmap: the descriptor declares no " code { "spec.roadmap" } "." }
        } @else {
            (super::timeline::draw(s))
            div class="wide" tabindex="0" { table class="roadmap" {
                caption class="muted" { "Every item in descriptor order; a need shows the item of the other plan that answers it." }
                thead { tr { th { "Item" } th { "Target" } th { "Status" } th { "Needs and changes" } th { "Last update" } } }
                tbody { @for i in &s.items { (item_row(ctx, s, i)) } }
            } }
        }
    }
}

fn item_row(ctx: &Ctx, s: &Sections, i: &ItemView) -> Markup {
    html! {
        tr id=(item_anchor(&i.id)) {
            td {
                strong { (i.title) } br;
                code { (i.id) }
                @if let Some(d) = &i.description { br; span class="muted" { (d) } }
                @for x in &i.expected_impact { br; span class="muted" { "Expected: " (x.kpi) " to " (super::numbers::decimal(x.target)) } }
            }
            td {
                (i.target_date)
                @if let Some(d) = &i.delivered_at {
                    br; span class="muted" { "delivered " (d) }
                    @if *d > i.target_date { " " span class="state state-late" { "after its target" } }
                }
            }
            td {
                (status_text(i.status))
                @if s.overdue(i) { br; span class="state state-late" { "overdue" } }
            }
            td {
                @if i.needs.is_empty() && i.changes.is_empty() { span class="muted" { "none" } }
                @if !i.needs.is_empty() { ul class="plain" { @for n in &i.needs { li { (need(s, n)) } } } }
                @if !i.changes.is_empty() { ul class="plain" { @for c in &i.changes {
                    li {
                        strong { (c.kind) } " change to " (super::catalog::entity_link(&c.api)) ", effective " (c.effective)
                        @if !c.affected.is_empty() {
                            ": "
                            @for (n, a) in c.affected.iter().enumerate() {
                                @if n > 0 { ", " }
                                a href=(page_href(&a.product)) { (s.name(&a.product)) }
                                " "
                                @if a.planned { span class="state state-planned" { "migration planned" } }
                                @else { span class="state state-unplanned" { "no migration planned" } }
                            }
                        }
                    }
                } } }
            }
            td {
                @match &i.last_update {
                    Some(u) => {
                        (health_badge(&u.health))
                        @if let Some(p) = u.progress { " " (p) " %" }
                        br; (u.note) br;
                        span class="muted" { (u.by) ", " (u.at.get(..10).unwrap_or(&u.at)) }
                    }
                    None => span class="muted" { "no update yet" },
                }
                @if s.may_update && i.status.open() { (update_form(ctx, s, i)) }
            }
        }
    }
}

/// One need: on whom, by when, what answers it and how it stands.
fn need(s: &Sections, n: &NeedView) -> Markup {
    html! {
        "Needs " a href=(page_href(&n.on)) { (s.name(&n.on)) }
        @if let Some(item) = &n.item { " · " (item) }
        @if let Some(api) = &n.api { " (" (api) ")" }
        " by " (n.needed_by) ": "
        (state_badge(n.state))
        @match &n.answered_by {
            Some(a) => {
                br; span class="muted" { "answered by " }
                a href=(item_href(&a.entity_ref, &a.item)) { (s.title(&a.entity_ref, &a.item)) }
                span class="muted" { ", due " (a.target_date) " (" (a.status.replace('-', " ")) ")" }
            }
            None => { br; span class="muted" { "no item of that plan answers it" } }
        }
        @if let Some(note) = &n.note { br; span class="muted" { "“" (note) "”" } }
    }
}

fn update_form(ctx: &Ctx, s: &Sections, i: &ItemView) -> Markup {
    let (kind, rest) = s.key.split_once(':').unwrap_or(("product", &s.key));
    let (ns, name) = rest.split_once('/').unwrap_or(("default", rest));
    let action = format!("/roadmap/{kind}/{}/{}/{}/updates", urlencode(ns), urlencode(name), urlencode(&i.id));
    let health = i.health.as_deref().unwrap_or("on-track");
    let progress = i.last_update.as_ref().and_then(|u| u.progress);
    html! {
        details class="update" {
            summary { "Record an update" span class="visually-hidden" { " of " (i.title) } }
            form method="post" action=(action) {
                (ctx.csrf_field())
                label { "Health" select name="health" { @for h in HEALTH { option value=(h) selected[*h == health] { (h.replace('-', " ")) } } } }
                label { "Progress (%)" input type="number" name="progress" min="0" max="100" step="1" value=[progress]; }
                label { "Note" textarea name="note" rows="3" maxlength="4000" required placeholder="What moved since the last update, and what is in the way" {} }
                button type="submit" { "Record the update" }
            }
        }
    }
}

/// A platform's demand: every need aimed at it, earliest first, and its conflicts.
pub fn demand_section(s: &Sections) -> Markup {
    let Some(d) = &s.demand else { return html! {} };
    html! {
        h2 id="demand" { "Demand" }
        @if d.needs.is_empty() {
            p class="muted" { "No plan needs anything from this platform." }
        } @else {
            div class="wide" tabindex="0" { table class="demand" {
                caption class="muted" { "What other plans need from this platform, earliest first." }
                thead { tr { th { "Needed by" } th { "From" } th { "Their item" } th { "API" } th { "Answered by" } th { "State" } } }
                tbody { @for n in &d.needs {
                    tr {
                        td { (n.needed_by) }
                        td { a href=(page_href(&n.from)) { (s.name(&n.from)) } }
                        td { a href=(item_href(&n.from, &n.item)) { (n.title) } }
                        td { @if let Some(api) = &n.api { (api) } }
                        td { @match &n.answered_by {
                            Some(a) => { a href={ "#" (item_anchor(&a.item)) } { (s.title(&a.entity_ref, &a.item)) } span class="muted" { ", due " (a.target_date) } }
                            None => span class="muted" { "nothing" },
                        } }
                        td { (state_badge(n.state)) }
                    }
                } }
            } }
        }
        h3 { "Conflicts" }
        @if d.conflicts.is_empty() {
            p class="muted" { "None: no item is needed by several products at different dates." }
        } @else {
            ul class="conflicts" { @for c in &d.conflicts {
                li {
                    span class="state state-late" { "conflict" } " "
                    a href={ "#" (item_anchor(&c.item)) } { (s.title(&s.key, &c.item)) }
                    " (due " (c.target_date) ") is needed at different dates: "
                    @for (k, n) in c.needed_by.iter().enumerate() {
                        @if k > 0 { "; " }
                        a href=(item_href(&n.product, &n.item)) { (s.name(&n.product)) " · " (s.title(&n.product, &n.item)) }
                        " by " (n.date)
                        @if n.date < c.target_date { " " span class="state state-late" { "before it is due" } }
                    }
                }
            } }
        }
    }
}

#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    health: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    progress: String,
}

/// `POST /roadmap/{kind}/{namespace}/{name}/{item}/updates`: records a status update through
/// `Delivery::record_update`, after the API handler's owner check; back to the item.
pub async fn record(
    state: web::Data<AppState>,
    delivery: web::Data<Delivery>,
    identity: Identity,
    path: web::Path<(String, String, String, String)>,
    form: CsrfForm<UpdateForm>,
) -> Result<HttpResponse, ApiError> {
    let (kind, ns, name, item) = path.into_inner();
    let kind = kind.to_ascii_lowercase();
    if kind != "product" && kind != "platform" {
        return Err(ApiError::not_found(format!(
            "No roadmap of kind '{kind}': roadmaps belong to a product or a platform"
        )));
    }
    let entity = EntityRef::new(&kind, &ns, &name).key();
    may_update(&state, &identity, &entity).await?;
    let f = form.0;
    let progress = match f.progress.trim() {
        "" => None,
        p => Some(
            p.parse::<serde_json::Number>()
                .map_err(|_| ApiError::input(format!("progress: \"{p}\" is not a whole number from 0 to 100")))?,
        ),
    };
    let input = UpdateInput { health: super::opt(f.health.trim()), note: Some(f.note), progress };
    let by = identity.actor();
    let it = item.clone();
    blocking(&delivery, &state, move |d, pool| d.record_update(pool, &entity, &it, input, &by)).await?;
    Ok(see_other(&format!(
        "/{kind}s/{}/{}?updated={}#{}",
        urlencode(&ns),
        urlencode(&name),
        urlencode(&item),
        item_anchor(&item)
    )))
}
