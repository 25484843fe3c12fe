//! A roadmap's time line, drawn by the server as inline `<svg class="timeline">`: one row per
//! item (a diamond on its target date, the time left as a bar, an overdue stretch marked), and
//! under it one row per need (a flag on the date it is needed by, a line to the target of the
//! item answering it); on a platform's, under each item the needs of other plans it answers, and
//! at the end the needs aimed at the platform that nothing answers. Every mark has words next to
//! it (late, unplanned, overdue), and the tables under the time line say the same in text.
//! Colours come from the stylesheet.

use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};

use super::roadmap::Sections;
use crate::delivery::model::{NeedState, Status};
use crate::delivery::views::{DemandView, ItemView, NeedView};

const W: f64 = 960.0;
/// Where the plot starts (labels on the left) and how much room is kept on the right for words.
const X0: f64 = 290.0;
const RIGHT: f64 = 120.0;
const TOP: f64 = 26.0;
const ROW: f64 = 24.0;

enum Row<'a> {
    Item(&'a ItemView),
    Need(&'a NeedView),
    /// A need of another plan aimed at this platform, with the target of the item answering it.
    Demand(&'a DemandView, Option<NaiveDate>),
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

/// Every date the time line shows.
fn dates(s: &Sections) -> Vec<NaiveDate> {
    let mut out = vec![s.today];
    for i in &s.items {
        out.extend(day(&i.target_date));
        out.extend(i.delivered_at.as_deref().and_then(day));
        for n in &i.needs {
            out.extend(day(&n.needed_by));
            out.extend(n.answered_by.as_ref().and_then(|a| day(&a.target_date)));
        }
    }
    out.extend(s.demand.iter().flat_map(|d| &d.needs).filter_map(|n| day(&n.needed_by)));
    out
}

/// The rows: each item, then its needs, then the demand it answers; unanswered demand last.
fn rows(s: &Sections) -> Vec<Row<'_>> {
    let demand: &[DemandView] = s.demand.as_ref().map_or(&[], |d| &d.needs);
    let mut out = Vec::new();
    for i in &s.items {
        out.push(Row::Item(i));
        out.extend(i.needs.iter().map(Row::Need));
        let target = day(&i.target_date);
        out.extend(
            demand
                .iter()
                .filter(|n| n.answered_by.as_ref().is_some_and(|a| a.entity_ref == s.key && a.item == i.id))
                .map(|n| Row::Demand(n, target)),
        );
    }
    out.extend(demand.iter().filter(|n| n.answered_by.is_none()).map(|n| Row::Demand(n, None)));
    out
}

/// The time line of `s`'s items and needs.
pub fn draw(s: &Sections) -> Markup {
    let all = dates(s);
    let (Some(min), Some(max)) = (all.iter().min(), all.iter().max()) else { return html! {} };
    let from = month_start(*min);
    let to = next_month(*max);
    let span = (to - from).num_days().max(1) as f64;
    let plot = W - X0 - RIGHT;
    let x = |d: NaiveDate| X0 + plot * (d - from).num_days() as f64 / span;
    let rows = rows(s);
    let h = TOP + ROW * rows.len() as f64 + 8.0;
    // Month ticks, as many as fit a label each (every month, two, a quarter, half a year, a year).
    let months = ((to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32).max(1) as u32;
    let every = [1, 2, 3, 6, 12].into_iter().find(|e| plot * *e as f64 / months as f64 >= 64.0).unwrap_or(12);
    let mut ticks = Vec::new();
    let mut t = from;
    while t <= to {
        if (t.month() - 1).is_multiple_of(every) {
            ticks.push(t);
        }
        t = next_month(t);
    }
    let label = format!(
        "Time line of {} roadmap items from {} to {}, with the date each need is needed by and the target of the item answering it; the table below lists the same",
        s.items.len(),
        from.format("%B %Y"),
        to.pred_opt().unwrap_or(to).format("%B %Y")
    );
    html! {
        svg class="timeline" viewBox={ "0 0 " (W) " " (h) } role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            @for t in &ticks {
                line class="tick" x1=(f(x(*t))) x2=(f(x(*t))) y1=(TOP - 6.0) y2=(h) {}
                text class="tick" x=(f(x(*t) + 3.0)) y="14" { (t.format(if every == 12 { "%Y" } else { "%b %Y" })) }
            }
            line class="today" x1=(f(x(s.today))) x2=(f(x(s.today))) y1=(TOP - 6.0) y2=(h) {}
            text class="today" x=(f(x(s.today) - 3.0)) y=(h - 2.0) text-anchor="end" { "today" }
            @for (n, row) in rows.iter().enumerate() {
                @let y = TOP + ROW * n as f64 + ROW / 2.0;
                @match row {
                    Row::Item(i) => (item_row(s, i, y, &x)),
                    Row::Need(need) => (need_row(s, need, y, &x)),
                    Row::Demand(need, target) => (demand_row(s, need, *target, y, &x)),
                }
            }
        }
        p class="muted" {
            "Diamonds: targets (hollow: planned). Dots: delivery days. Bars: the time left to a target (red, dashed: overdue). "
            "Flags: the day a need is needed by, joined to the target of the item answering it (red, dashed: late)."
        }
    }
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

fn diamond(cx: f64, cy: f64, r: f64) -> String {
    format!("{},{} {},{} {},{} {},{}", f(cx), f(cy - r), f(cx + r), f(cy), f(cx), f(cy + r), f(cx - r), f(cy))
}

/// Words after the furthest mark of a row, or before it when there is no room left.
fn words(at: f64, y: f64, class: &str, text: &str) -> Markup {
    if at + 8.0 + 7.0 * text.len() as f64 > W {
        html! { text class=(class) x=(f(at - 10.0)) y=(f(y + 4.0)) text-anchor="end" { (text) } }
    } else {
        html! { text class=(class) x=(f(at + 10.0)) y=(f(y + 4.0)) { (text) } }
    }
}

fn item_row(s: &Sections, i: &ItemView, y: f64, x: &dyn Fn(NaiveDate) -> f64) -> Markup {
    let Some(target) = day(&i.target_date) else { return html! {} };
    let overdue = i.status.open() && target < s.today;
    let status = match i.status {
        Status::Planned => "planned",
        Status::InProgress => "in progress",
        Status::Done => "done",
        Status::Dropped => "dropped",
    };
    let delivered = i.delivered_at.as_deref().and_then(day);
    let furthest = [Some(target), delivered, overdue.then_some(s.today)].into_iter().flatten().max().unwrap_or(target);
    let said = if overdue { "overdue".to_owned() } else { status.to_owned() };
    html! {
        text class="label" x="6" y=(f(y + 4.0)) { (cut(&i.title, 38)) }
        @if overdue {
            line class="overdue" x1=(f(x(target))) x2=(f(x(s.today))) y1=(f(y)) y2=(f(y)) {}
        } @else if i.status.open() {
            line class="left" x1=(f(x(s.today))) x2=(f(x(target))) y1=(f(y)) y2=(f(y)) {}
        }
        polygon class={ "item " (i.status.as_str()) } points=(diamond(x(target), y, 7.0)) {}
        @if let Some(d) = delivered { circle class="delivered" cx=(f(x(d))) cy=(f(y)) r="4" {} }
        (words(x(furthest), y, if overdue { "late" } else { "status" }, &said))
    }
}

fn need_row(s: &Sections, n: &NeedView, y: f64, x: &dyn Fn(NaiveDate) -> f64) -> Markup {
    let what = n.item.as_deref().or(n.api.as_deref()).unwrap_or("anything");
    let label = format!("needs {} · {}", cut(s.name(&n.on), 16), cut(what, 18));
    let answer = n.answered_by.as_ref().and_then(|a| day(&a.target_date));
    flag_row(&label, &n.needed_by, n.state, answer, y, x)
}

fn demand_row(s: &Sections, n: &DemandView, answer: Option<NaiveDate>, y: f64, x: &dyn Fn(NaiveDate) -> f64) -> Markup {
    let label = format!("needed by {} · {}", cut(s.name(&n.from), 14), cut(&n.title, 16));
    flag_row(&label, &n.needed_by, n.state, answer, y, x)
}

/// A need: a flag on the day it is needed by, a line to the answering item's target.
fn flag_row(
    label: &str,
    needed_by: &str,
    state: NeedState,
    answer: Option<NaiveDate>,
    y: f64,
    x: &dyn Fn(NaiveDate) -> f64,
) -> Markup {
    let Some(by) = day(needed_by) else { return html! {} };
    let (class, said) = match (state, answer) {
        (NeedState::Late, Some(a)) => ("late", format!("late by {} days", (a - by).num_days())),
        (NeedState::Late, None) => ("late", "late".to_owned()),
        (NeedState::Unplanned, _) => ("late", "unplanned".to_owned()),
        (NeedState::Planned, _) => ("status", "planned in time".to_owned()),
        (NeedState::Done, _) => ("status", "done".to_owned()),
    };
    let furthest = answer.map_or(by, |a| a.max(by));
    html! {
        text class="need" x="18" y=(f(y + 4.0)) { (label) }
        @if let Some(a) = answer {
            line class={ "link " (state.as_str()) } x1=(f(x(by))) x2=(f(x(a))) y1=(f(y)) y2=(f(y)) {}
            polygon class="answer" points=(diamond(x(a), y, 6.0)) {}
        }
        polygon class={ "flag " (state.as_str()) } points={ (f(x(by))) "," (f(y - 7.0)) " " (f(x(by) + 8.0)) "," (f(y - 3.5)) " " (f(x(by))) "," (f(y)) } {}
        line class="pole" x1=(f(x(by))) x2=(f(x(by))) y1=(f(y - 7.0)) y2=(f(y + 7.0)) {}
        (words(x(furthest), y, class, &said))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::delivery::views::AnsweredBy;

    fn item(id: &str, target: &str, status: Status, needs: Vec<NeedView>) -> ItemView {
        ItemView {
            entity_ref: "product:default/shop".into(),
            id: id.into(),
            title: format!("Item {id}"),
            description: None,
            target_date: target.into(),
            status,
            delivered_at: None,
            health: None,
            last_update: None,
            needs,
            changes: Vec::new(),
            expected_impact: Vec::new(),
        }
    }

    #[test]
    fn a_late_need_is_drawn_to_its_answer_and_said_in_words() {
        let late = NeedView {
            on: "platform:default/pay".into(),
            item: Some("tokens".into()),
            api: None,
            needed_by: "2027-03-31".into(),
            note: None,
            answered_by: Some(AnsweredBy {
                entity_ref: "platform:default/pay".into(),
                item: "tokens".into(),
                target_date: "2027-04-30".into(),
                status: "planned",
            }),
            state: NeedState::Late,
        };
        let s = Sections {
            key: "product:default/shop".into(),
            items: vec![
                item("one-click", "2027-06-30", Status::Planned, vec![late]),
                item("old", "2026-11-15", Status::InProgress, Vec::new()),
            ],
            demand: None,
            names: HashMap::from([("platform:default/pay".to_owned(), "Payments".to_owned())]),
            titles: HashMap::new(),
            today: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            may_update: false,
        };
        let svg = draw(&s).into_string();
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-label=\"Time line of 2 roadmap items"), "{svg}");
        assert_eq!(svg.matches("<polygon class=\"item ").count(), 2);
        assert!(svg.contains("late by 30 days"), "the late need in words");
        assert!(svg.contains("needs Payments · tokens"));
        assert!(svg.contains("class=\"link late\""), "the need is joined to its answer");
        assert!(svg.contains(">overdue<") && svg.contains("class=\"overdue\""), "the overdue item, in words and drawn");
    }
}
