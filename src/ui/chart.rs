//! Charts drawn on the server as inline `<svg class="chart">`: they show without JavaScript
//! and need no chart library. Colours come from the stylesheet (classes `s0..s2`, `b0..b2`).

use maud::{Markup, html};

const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A short number: 1234567 -> 1.2M.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn frame(title: &str, max: f64, labels: &[String], inner: Markup) -> Markup {
    let plot_h = H - TOP - BOTTOM;
    let step = (labels.len() / 6).max(1);
    let plot_w = W - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / labels.len().max(1) as f64;
    html! {
        svg class="chart" viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            @for k in 0..=4 {
                @let y = TOP + plot_h * (1.0 - k as f64 / 4.0);
                line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) {}
                text x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (short(max * k as f64 / 4.0)) }
            }
            line class="axis" x1=(LEFT) x2=(W - RIGHT) y1=(H - BOTTOM) y2=(H - BOTTOM) {}
            @for (i, l) in labels.iter().enumerate() {
                @if i % step == 0 { text x=(x(i)) y=(H - 8.0) text-anchor="middle" { (l.get(..10).unwrap_or(l)) } }
            }
            (inner)
        }
    }
}

fn nice_max(m: f64) -> f64 {
    if m <= 0.0 || !m.is_finite() { 1.0 } else { m * 1.1 }
}

/// Lines over shared labels (None: no value there); an optional dashed target line.
pub fn lines(title: &str, labels: &[String], series: &[(&str, Vec<Option<f64>>)], target: Option<f64>) -> Markup {
    let max = nice_max(series.iter().flat_map(|(_, v)| v.iter().flatten().copied()).chain(target).fold(0.0, f64::max));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / labels.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / max);
    let inner = html! {
        @for (n, (name, values)) in series.iter().enumerate() {
            @let pts: Vec<String> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v)))).collect();
            polyline class={ "s" (n % 3) } points=(pts.join(" ")) { title { (name) } }
        }
        @if let Some(t) = target {
            line class="s1" stroke-dasharray="6 4" x1=(LEFT) x2=(W - RIGHT) y1=(y(t)) y2=(y(t)) { title { "target " (short(t)) } }
        }
    };
    html! {
        (frame(title, max, labels, inner))
        p class="legend" { @for (n, (name, _)) in series.iter().enumerate() { span class={ "k" (n % 3) } { "▬ " (name) } } @if target.is_some() { span class="k1" { "- - target" } } }
    }
}

/// Grouped bars over shared labels.
pub fn bars(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> Markup {
    let max = nice_max(series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let slot = plot_w / labels.len().max(1) as f64;
    let bw = (slot * 0.8) / series.len().max(1) as f64;
    let inner = html! {
        @for (n, (name, values)) in series.iter().enumerate() {
            @for (i, v) in values.iter().enumerate() {
                @let h = plot_h * v / max;
                rect class={ "b" (n % 3) } x=(format!("{:.1}", LEFT + slot * i as f64 + slot * 0.1 + bw * n as f64)) y=(format!("{:.1}", TOP + plot_h - h)) width=(format!("{bw:.1}")) height=(format!("{h:.1}")) {
                    title { (name) " " (labels.get(i).map(String::as_str).unwrap_or("")) ": " (short(*v)) }
                }
            }
        }
    };
    html! {
        (frame(title, max, labels, inner))
        p class="legend" { @for (n, (name, _)) in series.iter().enumerate() { span class={ "c" (n % 3) } { "■ " (name) } } }
    }
}

/// One series of bars over labels where some bars are partial (a week still in progress, or cut
/// by the window): those are drawn hollow with a dashed edge and labelled "partial", so that a
/// week not over does not read as a drop.
pub fn bars_partial(title: &str, labels: &[String], name: &str, values: &[f64], partial: &[bool]) -> Markup {
    let max = nice_max(values.iter().copied().fold(0.0, f64::max));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let slot = plot_w / labels.len().max(1) as f64;
    let inner = html! {
        @for (i, v) in values.iter().enumerate() {
            @let h = plot_h * v / max;
            @let part = partial.get(i).copied().unwrap_or(false);
            @let label = labels.get(i).map(String::as_str).unwrap_or("");
            rect class={ "b0" @if part { " partial" } } x=(format!("{:.1}", LEFT + slot * i as f64 + slot * 0.15)) y=(format!("{:.1}", TOP + plot_h - h)) width=(format!("{:.1}", slot * 0.7)) height=(format!("{h:.1}")) {
                title { (name) " " (label) ": " (short(*v)) @if part { " (partial week, so far)" } }
            }
            @if part {
                text class="partial" x=(format!("{:.1}", LEFT + slot * (i as f64 + 0.5))) y=(format!("{:.1}", TOP + plot_h - h - 4.0)) text-anchor="middle" { "partial" }
            }
        }
    };
    html! {
        (frame(title, max, labels, inner))
        p class="legend" {
            span class="c0" { "■ " (name) }
            @if partial.contains(&true) { span class="partial" { "▭ partial week (so far): not over, or cut by the window" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_draws_one_polyline_per_series_with_every_point() {
        let labels: Vec<String> = (1..=3).map(|d| format!("2026-11-0{d}")).collect();
        let svg = lines("calls", &labels, &[("calls", vec![Some(1.0), None, Some(3.0)])], Some(2.0)).into_string();
        assert!(svg.contains("<svg class=\"chart\""));
        assert_eq!(svg.matches("<polyline").count(), 1);
        let points = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split(' ').count(), 2, "the missing value is skipped: {points}");
    }

    #[test]
    fn partial_bars_are_hollow_and_say_so() {
        let labels: Vec<String> = ["2026-04-27", "2026-05-04"].iter().map(|s| s.to_string()).collect();
        let svg = bars_partial("deployments", &labels, "deployments", &[7.0, 2.0], &[false, true]).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert_eq!(svg.matches("class=\"b0 partial\"").count(), 1);
        assert!(svg.contains(">partial</text>") && svg.contains("partial week (so far)"));
    }

    #[test]
    fn short_numbers_read_as_people_write_them() {
        assert_eq!(short(1_234_567.0), "1.2M");
        assert_eq!(short(42.0), "42");
        assert_eq!(short(0.25), "0.25");
    }
}
