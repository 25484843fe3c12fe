//! Release plans as the delivery office reads them (pure): the roadmap items of every product
//! and platform, who answers each need, and report periods.
//!
//! Items come from `spec.roadmap` (already validated by the catalog: dates, kinds of refs,
//! KPIs); an item that does not parse here is skipped rather than guessed at.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::model::EntityRef;
use crate::catalog::roadmap::parse_plan_date;
use crate::org::Graph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Planned,
    InProgress,
    Done,
    Dropped,
}

impl Status {
    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "planned" => Status::Planned,
            "in-progress" => Status::InProgress,
            "done" => Status::Done,
            "dropped" => Status::Dropped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::InProgress => "in-progress",
            Status::Done => "done",
            Status::Dropped => "dropped",
        }
    }

    /// Planned or in progress: the item still has to be delivered.
    pub fn open(self) -> bool {
        matches!(self, Status::Planned | Status::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Breaking,
    Deprecation,
    NewVersion,
}

impl ChangeKind {
    fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "breaking" => ChangeKind::Breaking,
            "deprecation" => ChangeKind::Deprecation,
            "new-version" => ChangeKind::NewVersion,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Breaking => "breaking",
            ChangeKind::Deprecation => "deprecation",
            ChangeKind::NewVersion => "new-version",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The ref key of the product or platform whose plan should answer it.
    pub on: String,
    pub item: Option<String>,
    pub api: Option<String>,
    pub needed_by: NaiveDate,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub api: String,
    pub kind: ChangeKind,
    pub effective: NaiveDate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Impact {
    pub kpi: String,
    pub target: f64,
}

/// One roadmap item of a product or platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The ref key of the product or platform whose descriptor holds it.
    pub owner: String,
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub target: NaiveDate,
    pub status: Status,
    pub delivered: Option<NaiveDate>,
    pub impact: Vec<Impact>,
    pub needs: Vec<Need>,
    /// Needs this item answers without being named: (the needing entity's key, its item id).
    pub answers: Vec<(String, String)>,
    pub changes: Vec<Change>,
}

impl Item {
    pub fn on_product(&self) -> bool {
        self.owner.starts_with("product:")
    }
}

fn key_of(raw: &str, default_kind: &str, namespace: &str) -> Option<String> {
    EntityRef::parse(raw, Some(default_kind), namespace).ok().map(|r| r.key())
}

fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn date(v: &Value, field: &str) -> Option<NaiveDate> {
    v.get(field).and_then(Value::as_str).and_then(parse_plan_date)
}

fn list<'a>(v: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    v.get(field).and_then(Value::as_array).into_iter().flatten()
}

/// One item from its JSON, on the entity `owner` of `namespace`.
pub fn parse_item(owner: &str, namespace: &str, v: &Value) -> Option<Item> {
    Some(Item {
        owner: owner.to_owned(),
        id: text(v, "id")?,
        title: text(v, "title")?,
        description: text(v, "description"),
        target: date(v, "targetDate")?,
        status: Status::parse(v.get("status")?.as_str()?)?,
        delivered: date(v, "deliveredAt"),
        impact: list(v, "expectedImpact")
            .filter_map(|i| Some(Impact { kpi: text(i, "kpi")?, target: i.get("target")?.as_f64()? }))
            .collect(),
        needs: list(v, "needs")
            .filter_map(|n| {
                Some(Need {
                    on: key_of(n.get("on")?.as_str()?, "platform", namespace)?,
                    item: text(n, "item"),
                    api: n.get("api").and_then(Value::as_str).and_then(|a| key_of(a, "api", namespace)),
                    needed_by: date(n, "neededBy")?,
                    note: text(n, "note"),
                })
            })
            .collect(),
        answers: list(v, "answers")
            .filter_map(|a| Some((key_of(a.get("product")?.as_str()?, "product", namespace)?, text(a, "item")?)))
            .collect(),
        changes: list(v, "changes")
            .filter_map(|c| {
                Some(Change {
                    api: key_of(c.get("api")?.as_str()?, "api", namespace)?,
                    kind: ChangeKind::parse(c.get("kind")?.as_str()?)?,
                    effective: date(c, "effective")?,
                })
            })
            .collect(),
    })
}

/// Where an item sits: its owner's key and its id.
pub type ItemKey = (String, String);

/// Every roadmap item of the catalog, indexed.
#[derive(Debug, Clone, Default)]
pub struct Plans {
    pub items: Vec<Item>,
    /// Items by (owner key, id).
    by_key: HashMap<ItemKey, usize>,
    /// Items of each owner, in descriptor order.
    by_owner: HashMap<String, Vec<usize>>,
    /// Items that declare they answer (needing key, item id).
    answering: HashMap<ItemKey, Vec<usize>>,
    /// Needs aimed at each entity: (index of the needing item, index of the need).
    aimed_at: HashMap<String, Vec<(usize, usize)>>,
}

/// How a need stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeedState {
    /// An item of the other plan answers it in time.
    Planned,
    /// The answering item is due after the need's date and is not done.
    Late,
    /// No item of the other plan answers it.
    Unplanned,
    /// The answering item is done.
    Done,
}

impl NeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            NeedState::Planned => "planned",
            NeedState::Late => "late",
            NeedState::Unplanned => "unplanned",
            NeedState::Done => "done",
        }
    }

    /// Late or unplanned: what the office calls a dependency at risk.
    pub fn at_risk(self) -> bool {
        matches!(self, NeedState::Late | NeedState::Unplanned)
    }
}

impl Plans {
    /// The plans of every product and platform of the graph.
    pub fn of(g: &Graph) -> Plans {
        let mut owners: Vec<&crate::org::Entity> =
            g.entities.values().filter(|e| (e.is("product") || e.is("platform")) && !e.roadmap.is_empty()).collect();
        owners.sort_by(|a, b| a.key.cmp(&b.key));
        let mut plans = Plans::default();
        for e in owners {
            for raw in &e.roadmap {
                if let Some(item) = parse_item(&e.key, &e.namespace, raw) {
                    plans.push(item);
                }
            }
        }
        plans
    }

    fn push(&mut self, item: Item) {
        let i = self.items.len();
        let key = (item.owner.clone(), item.id.clone());
        if self.by_key.contains_key(&key) {
            return;
        }
        self.by_key.insert(key, i);
        self.by_owner.entry(item.owner.clone()).or_default().push(i);
        for a in &item.answers {
            self.answering.entry(a.clone()).or_default().push(i);
        }
        for (j, n) in item.needs.iter().enumerate() {
            self.aimed_at.entry(n.on.clone()).or_default().push((i, j));
        }
        self.items.push(item);
    }

    pub fn get(&self, owner: &str, id: &str) -> Option<&Item> {
        self.by_key.get(&(owner.to_owned(), id.to_owned())).map(|&i| &self.items[i])
    }

    /// The items of one product or platform, in descriptor order.
    pub fn of_owner(&self, owner: &str) -> impl Iterator<Item = &Item> {
        self.by_owner.get(owner).into_iter().flatten().map(|&i| &self.items[i])
    }

    /// Needs aimed at `key`: (the needing item, the need).
    pub fn aimed_at(&self, key: &str) -> impl Iterator<Item = (&Item, &Need)> {
        self.aimed_at.get(key).into_iter().flatten().map(|&(i, j)| (&self.items[i], &self.items[i].needs[j]))
    }

    /// The item of the other plan that answers `need` of `item`: the one it names, or one that
    /// lists it in `answers`. A dropped item answers nothing.
    pub fn answer(&self, item: &Item, need: &Need) -> Option<&Item> {
        match &need.item {
            Some(id) => self.get(&need.on, id).filter(|a| a.status != Status::Dropped),
            None => self
                .answering
                .get(&(item.owner.clone(), item.id.clone()))
                .into_iter()
                .flatten()
                .map(|&i| &self.items[i])
                .find(|a| a.owner == need.on && a.status != Status::Dropped),
        }
    }

    /// How `need` of `item` stands, with the answering item.
    pub fn state<'a>(&'a self, item: &Item, need: &Need) -> (NeedState, Option<&'a Item>) {
        let answer = self.answer(item, need);
        let state = match answer {
            None => NeedState::Unplanned,
            Some(a) if a.status == Status::Done => NeedState::Done,
            Some(a) if a.target > need.needed_by => NeedState::Late,
            Some(_) => NeedState::Planned,
        };
        (state, answer)
    }
}

/// The day of a time in milliseconds (UTC).
pub fn day_of(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().date_naive()
}

/// Milliseconds at the start of a day (UTC).
pub fn ms_of(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis()
}

/// A report period: a month (`2026-11`) or a quarter (`2026-Q4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
}

impl Period {
    pub fn parse(raw: &str) -> Option<Period> {
        let (year, rest) = raw.trim().split_once('-')?;
        let year: i32 = year.parse().ok().filter(|y| (1000..=9999).contains(y))?;
        if let Some(q) = rest.strip_prefix('Q') {
            let quarter: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
            return (q.len() == 1).then_some(Period::Quarter { year, quarter });
        }
        let month: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m))?;
        (rest.len() == 2).then_some(Period::Month { year, month })
    }

    /// The period of this kind (`quarter` or month) that holds `day`.
    pub fn holding(day: NaiveDate, quarter: bool) -> Period {
        if quarter {
            Period::Quarter { year: day.year(), quarter: (day.month() - 1) / 3 + 1 }
        } else {
            Period::Month { year: day.year(), month: day.month() }
        }
    }

    /// The first day of the period.
    pub fn start(self) -> NaiveDate {
        let (y, m) = match self {
            Period::Month { year, month } => (year, month),
            Period::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1),
        };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default()
    }

    /// The first day after the period.
    pub fn end(self) -> NaiveDate {
        self.next().start()
    }

    /// The last day of the period.
    pub fn last_day(self) -> NaiveDate {
        self.end().pred_opt().unwrap_or_default()
    }

    pub fn next(self) -> Period {
        match self {
            Period::Month { year, month: 12 } => Period::Month { year: year + 1, month: 1 },
            Period::Month { year, month } => Period::Month { year, month: month + 1 },
            Period::Quarter { year, quarter: 4 } => Period::Quarter { year: year + 1, quarter: 1 },
            Period::Quarter { year, quarter } => Period::Quarter { year, quarter: quarter + 1 },
        }
    }

    pub fn previous(self) -> Period {
        match self {
            Period::Month { year, month: 1 } => Period::Month { year: year - 1, month: 12 },
            Period::Month { year, month } => Period::Month { year, month: month - 1 },
            Period::Quarter { year, quarter: 1 } => Period::Quarter { year: year - 1, quarter: 4 },
            Period::Quarter { year, quarter } => Period::Quarter { year, quarter: quarter - 1 },
        }
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        day >= self.start() && day < self.end()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        parse_plan_date(s).unwrap()
    }

    #[test]
    fn periods_parse_print_and_bound() {
        let m = Period::parse("2026-11").unwrap();
        assert_eq!((m.to_string(), m.start(), m.last_day()), ("2026-11".into(), d("2026-11-01"), d("2026-11-30")));
        let q = Period::parse("2026-Q4").unwrap();
        assert_eq!((q.start(), q.end()), (d("2026-10-01"), d("2027-01-01")));
        assert_eq!(Period::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert_eq!(Period::parse("2026-Q1").unwrap().previous().to_string(), "2025-Q4");
        assert_eq!(Period::holding(d("2026-12-06"), true).to_string(), "2026-Q4");
        for bad in ["2026-13", "2026-Q5", "2026-1", "26-11", "november", "2026-Q12"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    fn graph(docs: &[Value]) -> Graph {
        Graph::new(docs.iter().filter_map(|v| crate::org::Entity::from_value(v, None, None)))
    }

    fn entity(kind: &str, name: &str, roadmap: Value) -> Value {
        json!({"apiVersion": "portolan.dev/v1alpha1", "kind": kind, "metadata": {"name": name},
               "spec": {"owner": "team", "roadmap": roadmap}})
    }

    #[test]
    fn needs_are_answered_by_name_or_by_answers_and_judged_by_date() {
        let g = graph(&[
            entity(
                "Product",
                "shop",
                json!([
                {"id": "one-click", "title": "1-click", "targetDate": "2027-Q2", "status": "planned",
                 "needs": [{"on": "payments", "item": "tokens", "neededBy": "2027-03-01"},
                           {"on": "payments", "neededBy": "2027-05-01"},
                           {"on": "search", "neededBy": "2027-05-01"}]}]),
            ),
            entity(
                "Platform",
                "payments",
                json!([
                {"id": "tokens", "title": "Tokens", "targetDate": "2027-04-15", "status": "in-progress"},
                {"id": "wallets", "title": "Wallets", "targetDate": "2027-04-01", "status": "planned",
                 "answers": [{"product": "shop", "item": "one-click"}]}]),
            ),
        ]);
        let plans = Plans::of(&g);
        let item = plans.get("product:default/shop", "one-click").unwrap();
        let states: Vec<(NeedState, Option<&str>)> =
            item.needs.iter().map(|n| plans.state(item, n)).map(|(s, a)| (s, a.map(|a| a.id.as_str()))).collect();
        assert_eq!(
            states,
            [(NeedState::Late, Some("tokens")), (NeedState::Planned, Some("wallets")), (NeedState::Unplanned, None)]
        );
        assert_eq!(plans.aimed_at("platform:default/payments").count(), 2);
    }
}
