//! What the delivery office answers, typed: roadmaps, a platform's demand, item updates. The API
//! serialises these structs; the web UI renders their fields. Refs are full and lower-cased.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::model::{Item, NeedState, Plans, Status};
use super::rules::affected;
use super::store::UpdateRow;
use crate::db::rfc3339;
use crate::org::Graph;

/// One status update of an item.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateView {
    pub id: i64,
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub item: String,
    pub health: String,
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<i32>,
    pub by: String,
    pub at: String,
}

impl From<&UpdateRow> for UpdateView {
    fn from(r: &UpdateRow) -> Self {
        UpdateView {
            id: r.id,
            entity_ref: r.entity_ref.clone(),
            item: r.item_id.clone(),
            health: r.health.clone(),
            note: r.note.clone(),
            progress: r.progress,
            by: r.author.clone(),
            at: rfc3339(r.created_at),
        }
    }
}

/// The item that answers a need.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredBy {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub item: String,
    pub target_date: String,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NeedView {
    pub on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    pub needed_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub answered_by: Option<AnsweredBy>,
    pub state: NeedState,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AffectedView {
    pub consumer: String,
    /// The product or platform the consumer plans under (the consumer itself when none).
    pub product: String,
    pub planned: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    pub api: String,
    pub kind: &'static str,
    pub effective: String,
    pub affected: Vec<AffectedView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImpactView {
    pub kpi: String,
    pub target: f64,
}

/// One roadmap item with how its needs stand, who its changes hit and its last update.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The target as a day (a quarter is its last day).
    pub target_date: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// The last update's health (on-track, at-risk, off-track), or none yet.
    pub health: Option<String>,
    pub last_update: Option<UpdateView>,
    pub needs: Vec<NeedView>,
    pub changes: Vec<ChangeView>,
    pub expected_impact: Vec<ImpactView>,
}

/// What the item views read besides the plans.
pub struct Context<'a> {
    pub g: &'a Graph,
    pub plans: &'a Plans,
    pub last: &'a HashMap<(String, String), UpdateRow>,
    pub observed: &'a [(String, String)],
}

fn answered_by(a: &Item) -> AnsweredBy {
    AnsweredBy {
        entity_ref: a.owner.clone(),
        item: a.id.clone(),
        target_date: a.target.to_string(),
        status: a.status.as_str(),
    }
}

/// One item as served.
pub fn item_view(cx: &Context, item: &Item) -> ItemView {
    let last = cx.last.get(&(item.owner.clone(), item.id.clone()));
    ItemView {
        entity_ref: item.owner.clone(),
        id: item.id.clone(),
        title: item.title.clone(),
        description: item.description.clone(),
        target_date: item.target.to_string(),
        status: item.status,
        delivered_at: item.delivered.map(|d| d.to_string()),
        health: last.map(|u| u.health.clone()),
        last_update: last.map(UpdateView::from),
        needs: item
            .needs
            .iter()
            .map(|n| {
                let (state, answer) = cx.plans.state(item, n);
                NeedView {
                    on: n.on.clone(),
                    item: n.item.clone(),
                    api: n.api.clone(),
                    needed_by: n.needed_by.to_string(),
                    note: n.note.clone(),
                    answered_by: answer.map(answered_by),
                    state,
                }
            })
            .collect(),
        changes: item
            .changes
            .iter()
            .map(|c| ChangeView {
                api: c.api.clone(),
                kind: c.kind.as_str(),
                effective: c.effective.to_string(),
                affected: affected(cx.g, cx.plans, item, &c.api, c.effective, cx.observed)
                    .into_iter()
                    .map(|a| AffectedView { consumer: a.consumer, product: a.unit, planned: a.planned })
                    .collect(),
            })
            .collect(),
        expected_impact: item.impact.iter().map(|i| ImpactView { kpi: i.kpi.clone(), target: i.target }).collect(),
    }
}

/// Which items a roadmap view shows (each set filter must hold).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub product: Option<String>,
    pub platform: Option<String>,
    /// The owning group's ref key.
    pub team: Option<String>,
    pub domain: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filter {
    fn keeps(&self, g: &Graph, item: &Item) -> bool {
        let owner = g.get(&item.owner);
        self.product.as_ref().is_none_or(|p| *p == item.owner)
            && self.platform.as_ref().is_none_or(|p| *p == item.owner)
            && self.team.as_ref().is_none_or(|t| owner.is_some_and(|o| o.owner.as_ref() == Some(t)))
            && self.domain.as_ref().is_none_or(|d| owner.is_some_and(|o| o.domain.as_ref() == Some(d)))
            && self.from.is_none_or(|f| item.target >= f)
            && self.to.is_none_or(|t| item.target <= t)
    }
}

/// `{items}`: roadmap items in target-date order.
#[derive(Debug, Clone, Serialize)]
pub struct RoadmapsView {
    pub items: Vec<ItemView>,
}

pub fn roadmaps(cx: &Context, f: &Filter) -> RoadmapsView {
    let mut items: Vec<&Item> = cx.plans.items.iter().filter(|i| f.keeps(cx.g, i)).collect();
    items.sort_by(|a, b| (a.target, &a.owner, &a.id).cmp(&(b.target, &b.owner, &b.id)));
    RoadmapsView { items: items.into_iter().map(|i| item_view(cx, i)).collect() }
}

/// The items of one product or platform, in descriptor order (its view's `roadmap`).
pub fn roadmap_of(cx: &Context, key: &str) -> Vec<ItemView> {
    cx.plans.of_owner(key).map(|i| item_view(cx, i)).collect()
}

/// One need aimed at a platform.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DemandView {
    /// The product or platform whose item needs it.
    pub from: String,
    pub item: String,
    pub title: String,
    pub needed_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    pub answered_by: Option<AnsweredBy>,
    pub state: NeedState,
}

/// One needing product's date for a conflicting item.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NeededByView {
    pub product: String,
    pub item: String,
    pub date: String,
}

/// A platform item needed by several products at different dates.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    pub item: String,
    pub target_date: String,
    pub needed_by: Vec<NeededByView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Demand {
    pub needs: Vec<DemandView>,
    pub conflicts: Vec<ConflictView>,
}

/// Every need aimed at `platform` from items still open, earliest first, and the conflicts.
pub fn demand(cx: &Context, platform: &str) -> Demand {
    let mut needs = Vec::new();
    let mut by_item: BTreeMap<String, (String, Vec<NeededByView>)> = BTreeMap::new();
    for (item, need) in cx.plans.aimed_at(platform) {
        if item.status == Status::Dropped {
            continue;
        }
        let (state, answer) = cx.plans.state(item, need);
        if let Some(a) = answer {
            let entry = by_item.entry(a.id.clone()).or_insert_with(|| (a.target.to_string(), Vec::new()));
            entry.1.push(NeededByView {
                product: item.owner.clone(),
                item: item.id.clone(),
                date: need.needed_by.to_string(),
            });
        }
        needs.push(DemandView {
            from: item.owner.clone(),
            item: item.id.clone(),
            title: item.title.clone(),
            needed_by: need.needed_by.to_string(),
            api: need.api.clone(),
            answered_by: answer.map(answered_by),
            state,
        });
    }
    needs.sort_by(|a, b| (&a.needed_by, &a.from, &a.item).cmp(&(&b.needed_by, &b.from, &b.item)));
    let mut conflicts: Vec<ConflictView> = by_item
        .into_iter()
        .filter_map(|(item, (target_date, mut list))| {
            list.sort_by(|a, b| (&a.date, &a.product).cmp(&(&b.date, &b.product)));
            let products: std::collections::BTreeSet<&str> = list.iter().map(|n| n.product.as_str()).collect();
            let dates: std::collections::BTreeSet<&str> = list.iter().map(|n| n.date.as_str()).collect();
            (products.len() > 1 && dates.len() > 1).then_some(ConflictView { item, target_date, needed_by: list })
        })
        .collect();
    conflicts.sort_by(|a, b| (&a.needed_by[0].date, &a.item).cmp(&(&b.needed_by[0].date, &b.item)));
    Demand { needs, conflicts }
}

/// `GET .../updates`: the item (as it stands, or as history when the descriptor dropped it) and
/// its updates, newest first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatesView {
    #[serde(rename = "ref")]
    pub entity_ref: String,
    pub item: String,
    /// The item's status; `dropped` when the descriptor no longer has it.
    pub status: &'static str,
    /// Whether the descriptor still has the item.
    pub current: bool,
    pub updates: Vec<UpdateView>,
}
