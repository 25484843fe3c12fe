//! The delivery rules (pure): findings on products and platforms about their release plans,
//! handed to governance through the findings-source list (`crate::domain::hooks`).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::json;

use super::model::{ChangeKind, Item, NeedState, Plans, Status};
use crate::domain::hooks::{Level, SourcedFinding};
use crate::org::Graph;

pub const DEPENDENCY_NOT_PLANNED: &str = "dependency-not-planned";
pub const DEPENDENCY_LATE: &str = "dependency-late";
pub const PLATFORM_NEEDS_PRODUCT: &str = "platform-needs-product";
pub const BREAKING_CHANGE_UNPLANNED: &str = "breaking-change-unplanned";
pub const PLAN_ITEM_OVERDUE: &str = "plan-item-overdue";
pub const PLAN_ITEM_STALE: &str = "plan-item-stale";

/// Every rule of the delivery office, with its default severity and what it checks.
pub const RULES: &[(&str, &str, &str)] = &[
    (DEPENDENCY_NOT_PLANNED, "warning", "a need on another team's plan that no item of that plan answers"),
    (
        DEPENDENCY_LATE,
        "warning",
        "the item answering a need is due after the need's date (an error once that date has passed)",
    ),
    (PLATFORM_NEEDS_PRODUCT, "error", "a platform's plan item needs a product (or a product's API)"),
    (
        BREAKING_CHANGE_UNPLANNED,
        "warning",
        "a consumer of an API a platform item breaks or deprecates has no item that needs it before it takes effect",
    ),
    (PLAN_ITEM_OVERDUE, "warning", "an item's target date has passed and it is not done or dropped"),
    (PLAN_ITEM_STALE, "info", "an item in progress has had no status update for delivery.update_days"),
];

/// The rule ids, for the findings source.
pub const RULE_IDS: &[&str] = &[
    DEPENDENCY_NOT_PLANNED,
    DEPENDENCY_LATE,
    PLATFORM_NEEDS_PRODUCT,
    BREAKING_CHANGE_UNPLANNED,
    PLAN_ITEM_OVERDUE,
    PLAN_ITEM_STALE,
];

/// What the rules read besides the plans.
pub struct Facts<'a> {
    pub today: NaiveDate,
    /// The last status update of each item, in ms: (owner key, item id) -> time.
    pub last_update: &'a HashMap<(String, String), i64>,
    /// How many days without an update make an item in progress stale.
    pub update_days: i64,
    /// (API, consumer) pairs observed in the last 28 days, for the APIs items change.
    pub observed: &'a [(String, String)],
    /// Now, in ms.
    pub now: i64,
}

fn finding(
    entity: &str,
    rule: &str,
    level: Option<Level>,
    message: String,
    details: serde_json::Value,
) -> SourcedFinding {
    SourcedFinding { entity_ref: entity.to_owned(), rule: rule.to_owned(), message, details, level }
}

fn name(g: &Graph, key: &str) -> String {
    g.get(key).map(|e| e.entity_ref.clone()).unwrap_or_else(|| key.to_owned())
}

/// The product (or platform) a consumer plans under: the product or platform it belongs to, or
/// itself when it belongs to none.
pub fn planning_unit(g: &Graph, consumer: &str) -> String {
    let members = g.membership(consumer);
    let products = Graph::of_kind(&members, "product");
    let platforms = Graph::of_kind(&members, "platform");
    products.into_iter().chain(platforms).next().unwrap_or_else(|| consumer.to_owned())
}

/// One affected consumer of a planned API change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    pub consumer: String,
    /// The product or platform it plans under (the consumer itself when it belongs to none).
    pub unit: String,
    pub planned: bool,
}

/// The consumers of `api` (declared, and observed in `observed`), each with its planning unit
/// and whether that unit's plan needs `item` by `effective`.
pub fn affected(
    g: &Graph,
    plans: &Plans,
    item: &Item,
    api: &str,
    effective: NaiveDate,
    observed: &[(String, String)],
) -> Vec<Affected> {
    let mut consumers: BTreeSet<String> = g.declarers(api, "consumesApi").map(str::to_owned).collect();
    consumers.extend(observed.iter().filter(|(a, _)| a == api).map(|(_, c)| c.clone()));
    let mut out = Vec::new();
    for consumer in consumers {
        let unit = planning_unit(g, &consumer);
        if unit == item.owner {
            continue;
        }
        let planned = plans.of_owner(&unit).any(|mine| {
            mine.status != Status::Dropped
                && mine.needs.iter().any(|n| {
                    n.on == item.owner
                        && n.needed_by <= effective
                        && (n.item.as_deref() == Some(item.id.as_str())
                            || plans.answer(mine, n).is_some_and(|a| a.id == item.id))
                })
        });
        out.push(Affected { consumer, unit, planned });
    }
    out
}

/// Whether an API belongs to a product (for the platform-needs-product rule).
fn product_api(g: &Graph, api: &str) -> bool {
    !Graph::of_kind(&g.api_membership(api), "product").is_empty()
}

/// Every delivery finding over the plans.
pub fn evaluate(g: &Graph, plans: &Plans, facts: &Facts) -> Vec<SourcedFinding> {
    let mut out = Vec::new();
    let mut seen_breaking: HashSet<(String, String, String)> = HashSet::new();
    for item in &plans.items {
        let who = name(g, &item.owner);
        if item.status.open() {
            for need in &item.needs {
                let on = name(g, &need.on);
                let (state, answer) = plans.state(item, need);
                let details = json!({"item": item.id, "on": need.on, "neededBy": need.needed_by.to_string(),
                                     "answeredBy": answer.map(|a| &a.id)});
                match state {
                    NeedState::Unplanned => {
                        let why = match (&need.item, g.get(&need.on)) {
                            (_, None) => format!("{on} is not in the catalog"),
                            (Some(id), _) => format!("{on} has no item '{id}' on its roadmap"),
                            (None, _) => format!("no item of {on}'s roadmap answers it"),
                        };
                        out.push(finding(
                            &item.owner,
                            DEPENDENCY_NOT_PLANNED,
                            Some(Level::Warning),
                            format!(
                                "{who} item '{}' needs {on} by {}, but {why}; ask {on}'s owner to plan it (an item with answers: [{{product: {who}, item: {}}}]), or name the answering item in needs[].item",
                                item.id, need.needed_by, item.id
                            ),
                            details,
                        ));
                    }
                    NeedState::Late => {
                        let answer = answer.expect("a late need has an answer");
                        let passed = facts.today > need.needed_by;
                        out.push(finding(
                            &item.owner,
                            DEPENDENCY_LATE,
                            Some(if passed { Level::Error } else { Level::Warning }),
                            format!(
                                "{who} item '{}' needs {on} item '{}' by {}, but it is planned for {}{}; agree a date with {on}'s owner, or move neededBy and this item's targetDate",
                                item.id,
                                answer.id,
                                need.needed_by,
                                answer.target,
                                if passed { " and the date has passed" } else { "" },
                            ),
                            details,
                        ));
                    }
                    NeedState::Planned | NeedState::Done => {}
                }
                let on_product =
                    need.on.starts_with("product:") || need.api.as_deref().is_some_and(|a| product_api(g, a));
                if !item.on_product() && on_product {
                    out.push(finding(
                        &item.owner,
                        PLATFORM_NEEDS_PRODUCT,
                        Some(Level::Error),
                        format!(
                            "platform {who} item '{}' needs {}; platforms never depend on products: move what it needs into a platform, or drop the need",
                            item.id,
                            need.api.as_deref().map(|a| name(g, a)).unwrap_or(on)
                        ),
                        json!({"item": item.id, "on": need.on, "api": need.api}),
                    ));
                }
            }
            if item.target < facts.today {
                out.push(finding(
                    &item.owner,
                    PLAN_ITEM_OVERDUE,
                    Some(Level::Warning),
                    format!(
                        "{who} item '{}' was due on {} and is {}; deliver it and set status: done with deliveredAt, move targetDate, or set status: dropped",
                        item.id,
                        item.target,
                        item.status.as_str()
                    ),
                    json!({"item": item.id, "targetDate": item.target.to_string()}),
                ));
            }
            if item.status == Status::InProgress {
                let last = facts.last_update.get(&(item.owner.clone(), item.id.clone())).copied();
                let limit = facts.now - facts.update_days * 86_400_000;
                if last.is_none_or(|t| t < limit) {
                    let since = match last {
                        Some(t) => format!("since {}", super::model::day_of(t)),
                        None => "ever".to_owned(),
                    };
                    out.push(finding(
                        &item.owner,
                        PLAN_ITEM_STALE,
                        Some(Level::Info),
                        format!(
                            "{who} item '{}' is in progress with no status update {since} (more than {} days); record one (health and a note) from the item's page or POST .../updates",
                            item.id, facts.update_days
                        ),
                        json!({"item": item.id, "lastUpdate": last.map(crate::db::rfc3339)}),
                    ));
                }
            }
        }
        // Planned API changes: every consumer's plan should need the changing item in time.
        // A change made by a done item no longer fires once its own effective date has passed.
        if item.on_product() || item.status == Status::Dropped {
            continue;
        }
        let live = |c: &&super::model::Change| !(item.status == Status::Done && c.effective < facts.today);
        for change in item
            .changes
            .iter()
            .filter(|c| matches!(c.kind, ChangeKind::Breaking | ChangeKind::Deprecation))
            .filter(live)
        {
            for a in affected(g, plans, item, &change.api, change.effective, facts.observed) {
                if a.planned
                    || !seen_breaking.insert((
                        a.unit.clone(),
                        item.owner.clone(),
                        format!("{}#{}", item.id, change.api),
                    ))
                {
                    continue;
                }
                let unit = name(g, &a.unit);
                let via =
                    if a.unit == a.consumer { String::new() } else { format!(" (through {})", name(g, &a.consumer)) };
                out.push(finding(
                    &a.unit,
                    BREAKING_CHANGE_UNPLANNED,
                    Some(Level::Warning),
                    format!(
                        "{} makes a {} change to {} on {} ({who} item '{}'), and {unit}, which consumes it{via}, has no roadmap item that needs it by then; add one with needs: [{{on: {who}, item: {}, neededBy: {} or earlier}}]",
                        who,
                        change.kind.as_str(),
                        name(g, &change.api),
                        change.effective,
                        item.id,
                        item.id,
                        change.effective
                    ),
                    json!({"platform": item.owner, "item": item.id, "api": change.api, "kind": change.kind.as_str(),
                           "effective": change.effective.to_string(), "consumer": a.consumer}),
                ));
            }
        }
    }
    out
}

/// The APIs some live item changes (breaking or deprecation), for the observed consumers.
pub fn changed_apis(plans: &Plans) -> Vec<String> {
    let set: BTreeSet<String> = plans
        .items
        .iter()
        .filter(|i| i.status != Status::Dropped && !i.on_product())
        .flat_map(|i| i.changes.iter())
        .filter(|c| matches!(c.kind, ChangeKind::Breaking | ChangeKind::Deprecation))
        .map(|c| c.api.clone())
        .collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn graph(docs: &[Value]) -> Graph {
        Graph::new(docs.iter().filter_map(|v| crate::org::Entity::from_value(v, None, None)))
    }

    fn day(s: &str) -> NaiveDate {
        crate::catalog::roadmap::parse_plan_date(s).unwrap()
    }

    fn run(docs: &[Value], today: &str) -> Vec<(String, String, Option<Level>)> {
        let g = graph(docs);
        let plans = Plans::of(&g);
        let last = HashMap::new();
        let now = super::super::model::ms_of(day(today));
        let facts = Facts { today: day(today), last_update: &last, update_days: 14, observed: &[], now };
        let mut out: Vec<_> =
            evaluate(&g, &plans, &facts).into_iter().map(|f| (f.rule, f.entity_ref, f.level)).collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    fn doc(kind: &str, name: &str, spec: Value) -> Value {
        let mut spec = spec;
        spec["owner"] = json!("team");
        json!({"apiVersion": "portolan.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
    }

    #[test]
    fn a_late_need_is_a_warning_then_an_error_and_clears_when_the_platform_moves_its_date() {
        let shop = doc(
            "Product",
            "shop",
            json!({"roadmap": [{"id": "a", "title": "A", "targetDate": "2027-06-30", "status": "planned",
            "needs": [{"on": "pay", "item": "t", "neededBy": "2027-03-01"}]}]}),
        );
        let late = doc(
            "Platform",
            "pay",
            json!({"roadmap": [{"id": "t", "title": "T", "targetDate": "2027-04-01", "status": "planned"}]}),
        );
        let on_time = doc(
            "Platform",
            "pay",
            json!({"roadmap": [{"id": "t", "title": "T", "targetDate": "2027-02-01", "status": "planned"}]}),
        );
        assert_eq!(
            run(&[shop.clone(), late.clone()], "2027-01-01"),
            [(DEPENDENCY_LATE.into(), "product:default/shop".into(), Some(Level::Warning))]
        );
        let after = run(&[shop.clone(), late], "2027-03-02");
        assert!(
            after.contains(&(DEPENDENCY_LATE.into(), "product:default/shop".into(), Some(Level::Error))),
            "{after:?}"
        );
        assert_eq!(run(&[shop, on_time], "2027-01-01"), []);
    }

    #[test]
    fn a_breaking_change_fires_on_the_consuming_product_until_it_plans_the_migration() {
        let api = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": {"name": "pay-api"},
            "spec": {"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x", "platform": "pay"}});
        let pay = doc(
            "Platform",
            "pay",
            json!({"roadmap": [{"id": "v2", "title": "v2", "targetDate": "2027-03-01", "status": "planned",
            "changes": [{"api": "pay-api", "kind": "breaking", "effective": "2027-04-01"}]}]}),
        );
        let shop = doc("Product", "shop", json!({"consumesApis": ["pay-api"]}));
        let planned = doc(
            "Product",
            "shop",
            json!({"consumesApis": ["pay-api"], "roadmap": [{"id": "migrate", "title": "M", "targetDate": "2027-03-15", "status": "planned",
            "needs": [{"on": "pay", "item": "v2", "neededBy": "2027-03-01"}]}]}),
        );
        assert_eq!(
            run(&[api.clone(), pay.clone(), shop], "2027-01-01"),
            [(BREAKING_CHANGE_UNPLANNED.into(), "product:default/shop".into(), Some(Level::Warning))]
        );
        assert_eq!(run(&[api, pay, planned], "2027-01-01"), []);
    }

    #[test]
    fn a_done_items_change_stops_firing_once_its_own_date_has_passed() {
        let api = |name: &str| {
            json!({"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": {"name": name},
                "spec": {"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x", "platform": "pay"}})
        };
        let pay = doc(
            "Platform",
            "pay",
            json!({"roadmap": [{"id": "v2", "title": "v2", "targetDate": "2027-01-01", "status": "done", "deliveredAt": "2027-01-01",
            "changes": [{"api": "old-api", "kind": "deprecation", "effective": "2027-02-01"},
                        {"api": "new-api", "kind": "breaking", "effective": "2027-06-01"}]}]}),
        );
        let shop = doc("Product", "shop", json!({"consumesApis": ["old-api", "new-api"]}));
        let docs = [api("old-api"), api("new-api"), pay, shop];
        let apis_of = |today: &str| -> Vec<String> {
            let g = graph(&docs);
            let plans = Plans::of(&g);
            let last = HashMap::new();
            let facts = Facts { today: day(today), last_update: &last, update_days: 14, observed: &[], now: 0 };
            evaluate(&g, &plans, &facts).into_iter().map(|f| f.details["api"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(apis_of("2027-01-15"), ["api:default/old-api", "api:default/new-api"]);
        assert_eq!(apis_of("2027-03-01"), ["api:default/new-api"]);
        assert_eq!(apis_of("2027-07-01"), Vec::<String>::new());
    }

    #[test]
    fn platforms_never_need_products_and_overdue_items_are_named() {
        let pay = doc(
            "Platform",
            "pay",
            json!({"roadmap": [{"id": "x", "title": "X", "targetDate": "2026-01-01", "status": "in-progress",
            "needs": [{"on": "product:shop", "item": "y", "neededBy": "2027-01-01"}]}]}),
        );
        let shop = doc(
            "Product",
            "shop",
            json!({"roadmap": [{"id": "y", "title": "Y", "targetDate": "2026-06-01", "status": "done", "deliveredAt": "2026-05-01"}]}),
        );
        let found: Vec<String> = run(&[pay, shop], "2026-12-06").into_iter().map(|f| f.0).collect();
        assert_eq!(found, [PLAN_ITEM_OVERDUE, PLAN_ITEM_STALE, PLATFORM_NEEDS_PRODUCT]);
    }
}
