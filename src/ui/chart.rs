//! Charts drawn on the server as inline `<svg class="chart">`: they show without JavaScript
//! and need no chart library. Colours come from the stylesheet (classes `s0..s2`, `b0..b2`).

use maud::{Markup, html};

use super::numbers::{decimal, short};

const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Round ticks for values up to `max`: steps of 1, 2 or 5 times a power of ten ("nice numbers"),
/// from 0 to the first step at or above `max`: 2 to 4 steps (3 to 5 ticks); 0 and 1 when every
/// value is 0 (or none is finite).
pub fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(raw);
    let steps = (max / step - 1e-9).ceil().max(1.0) as usize;
    // Products, not sums, so that 0.1 steps stay 0.3 and not 0.30000000000000004.
    (0..=steps).map(|k| round_to(k as f64 * step, step)).collect()
}

/// [`ticks`] for counts: no step below 1 (no `0.5` consumers).
pub fn whole_ticks(max: f64) -> Vec<f64> {
    let t = ticks(max);
    if t.get(1).is_some_and(|s| *s < 1.0) {
        (0..=(max.ceil().max(1.0) as usize)).map(|k| k as f64).collect()
    } else {
        t
    }
}

/// `v` rounded to the precision of `step` (a power of ten times 1, 2 or 5).
fn round_to(v: f64, step: f64) -> f64 {
    let places = (-step.log10().floor()).max(0.0) as i32 + 1;
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn frame(title: &str, ticks: &[f64], labels: &[String], inner: Markup) -> Markup {
    let plot_h = H - TOP - BOTTOM;
    let step = (labels.len() / 6).max(1);
    let plot_w = W - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / labels.len().max(1) as f64;
    let top = ticks.last().copied().unwrap_or(1.0);
    html! {
        svg class="chart" viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            @for t in ticks {
                @let y = TOP + plot_h * (1.0 - t / top);
                line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) {}
                text x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (short(*t)) }
            }
            line class="axis" x1=(LEFT) x2=(W - RIGHT) y1=(H - BOTTOM) y2=(H - BOTTOM) {}
            @for (i, l) in labels.iter().enumerate() {
                @if i % step == 0 { text x=(x(i)) y=(H - 8.0) text-anchor="middle" { (l.get(..10).unwrap_or(l)) } }
            }
            (inner)
        }
    }
}

/// The ticks of the largest of some values (whole ones when every value is whole: counts),
/// and the top of the scale (the last tick).
fn scale(values: impl Iterator<Item = f64>) -> (Vec<f64>, f64) {
    let (max, whole) = values.fold((0.0, true), |(m, w), v| (f64::max(m, v), w && v.fract() == 0.0));
    let t = if whole { whole_ticks(max) } else { ticks(max) };
    let top = t.last().copied().unwrap_or(1.0);
    (t, top)
}

/// Lines over shared labels (None: no value there); an optional dashed target line.
pub fn lines(title: &str, labels: &[String], series: &[(&str, Vec<Option<f64>>)], target: Option<f64>) -> Markup {
    lines_partial(title, labels, series, target, false)
}

/// [`lines`] where the last label may be a bucket still in progress (`partial_last`): its
/// values are joined to the line by a dashed segment and drawn as hollow points, with a legend
/// note, so that a bucket not over does not read as a drop.
pub fn lines_partial(
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    target: Option<f64>,
    partial_last: bool,
) -> Markup {
    let (ticks, top) = scale(series.iter().flat_map(|(_, v)| v.iter().flatten().copied()).chain(target));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / labels.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let point = |i: usize, v: f64| format!("{:.1},{:.1}", x(i), y(v));
    // The index of the bucket in progress, if any.
    let open = partial_last.then(|| labels.len().checked_sub(1)).flatten();
    let label = |i: usize| labels.get(i).map(String::as_str).unwrap_or("");
    let inner = html! {
        @for (n, (name, values)) in series.iter().enumerate() {
            @let done: Vec<(usize, f64)> = values.iter().enumerate().filter(|(i, _)| Some(*i) != open).filter_map(|(i, v)| v.map(|v| (i, v))).collect();
            @let pts: Vec<String> = done.iter().map(|(i, v)| point(*i, *v)).collect();
            polyline class={ "s" (n % 3) } points=(pts.join(" ")) { title { (name) } }
            @if let Some((i, v)) = open.and_then(|i| values.get(i).copied().flatten().map(|v| (i, v))) {
                @if let Some((j, w)) = done.last() {
                    polyline class={ "s" (n % 3) " partial" } points={ (point(*j, *w)) " " (point(i, v)) } { title { (name) ": partial, in progress" } }
                }
                circle class={ "s" (n % 3) " partial" } cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(v))) r="3.5" {
                    title { (name) " " (label(i)) ": " (decimal(v)) " so far (partial: in progress)" }
                }
            }
        }
        @if let Some(t) = target {
            line class="s1" stroke-dasharray="6 4" x1=(LEFT) x2=(W - RIGHT) y1=(y(t)) y2=(y(t)) { title { "target " (decimal(t)) } }
        }
    };
    html! {
        (frame(title, &ticks, labels, inner))
        p class="legend" {
            @for (n, (name, _)) in series.iter().enumerate() { span class={ "k" (n % 3) } { "▬ " (name) } }
            @if target.is_some() { span class="k1" { "- - target" } }
            @if open.is_some() { span class="partial" { "╌ ○ partial: in progress (the last point, not over yet)" } }
        }
    }
}

/// Grouped bars over shared labels.
pub fn bars(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> Markup {
    grouped_bars(title, labels, series, &[])
}

/// [`bars`] where some labels are partial (a week still in progress): their bars are drawn
/// hollow with a dashed edge, with a legend note.
pub fn grouped_bars(title: &str, labels: &[String], series: &[(&str, Vec<f64>)], partial: &[bool]) -> Markup {
    let (ticks, top) = scale(series.iter().flat_map(|(_, v)| v.iter().copied()));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let slot = plot_w / labels.len().max(1) as f64;
    let bw = (slot * 0.8) / series.len().max(1) as f64;
    let inner = html! {
        @for (n, (name, values)) in series.iter().enumerate() {
            @for (i, v) in values.iter().enumerate() {
                @let h = plot_h * v / top;
                @let part = partial.get(i).copied().unwrap_or(false);
                rect class={ "b" (n % 3) @if part { " partial" } } x=(format!("{:.1}", LEFT + slot * i as f64 + slot * 0.1 + bw * n as f64)) y=(format!("{:.1}", TOP + plot_h - h)) width=(format!("{bw:.1}")) height=(format!("{h:.1}")) {
                    title { (name) " " (labels.get(i).map(String::as_str).unwrap_or("")) ": " (decimal(*v)) @if part { " so far (partial: in progress)" } }
                }
            }
        }
    };
    html! {
        (frame(title, &ticks, labels, inner))
        p class="legend" {
            @for (n, (name, _)) in series.iter().enumerate() { span class={ "c" (n % 3) } { "■ " (name) } }
            @if partial.contains(&true) { span class="partial" { "▭ partial: in progress (the last week, not over yet)" } }
        }
    }
}

/// One series of bars over labels where some bars are partial (a week still in progress, or cut
/// by the window): those are drawn hollow with a dashed edge and labelled "partial", so that a
/// week not over does not read as a drop.
pub fn bars_partial(title: &str, labels: &[String], name: &str, values: &[f64], partial: &[bool]) -> Markup {
    let (ticks, top) = scale(values.iter().copied());
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let slot = plot_w / labels.len().max(1) as f64;
    let inner = html! {
        @for (i, v) in values.iter().enumerate() {
            @let h = plot_h * v / top;
            @let part = partial.get(i).copied().unwrap_or(false);
            @let label = labels.get(i).map(String::as_str).unwrap_or("");
            rect class={ "b0" @if part { " partial" } } x=(format!("{:.1}", LEFT + slot * i as f64 + slot * 0.15)) y=(format!("{:.1}", TOP + plot_h - h)) width=(format!("{:.1}", slot * 0.7)) height=(format!("{h:.1}")) {
                title { (name) " " (label) ": " (decimal(*v)) @if part { " (partial week, so far)" } }
            }
            @if part {
                text class="partial" x=(format!("{:.1}", LEFT + slot * (i as f64 + 0.5))) y=(format!("{:.1}", TOP + plot_h - h - 4.0)) text-anchor="middle" { "partial" }
            }
        }
    };
    html! {
        (frame(title, &ticks, labels, inner))
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
    fn ticks_are_round_numbers() {
        assert_eq!(ticks(1234.0), vec![0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(ticks(7.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(3.0), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(0.3), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(ticks(300_000_000.0), vec![0.0, 1e8, 2e8, 3e8]);
        assert_eq!(ticks(1.0), vec![0.0, 0.5, 1.0]);
        assert_eq!(whole_ticks(1.0), vec![0.0, 1.0], "no half a consumer");
        assert_eq!(whole_ticks(2.0), vec![0.0, 1.0, 2.0]);
        assert_eq!(whole_ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(whole_ticks(7.0), ticks(7.0));
        for max in [0.07, 1.0, 9.0, 34.933, 99.0, 101.0, 4321.0, 1e6 + 1.0, 123_456_789.0] {
            let t = ticks(max);
            assert!((3..=6).contains(&t.len()), "{max}: {t:?}");
            assert!(*t.last().unwrap() >= max, "{max}: the top tick is above every value: {t:?}");
            let step = t[1];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!([1.0, 2.0, 5.0].iter().any(|m| (m - mantissa).abs() < 1e-9), "{max}: step {step}");
            for (k, v) in t.iter().enumerate() {
                assert!((v - k as f64 * step).abs() < step * 1e-9, "{max}: evenly spaced: {t:?}");
            }
        }
    }

    #[test]
    fn axis_labels_are_short_and_round() {
        let labels: Vec<String> = (1..=3).map(|d| format!("2026-11-0{d}")).collect();
        let svg =
            lines("calls", &labels, &[("calls", vec![Some(1200.0), Some(900.0), Some(80.0)])], None).into_string();
        for tick in [">0</text>", ">500</text>", ">1k</text>", ">1.5k</text>"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
    }

    #[test]
    fn a_bucket_in_progress_is_drawn_as_partial() {
        let labels: Vec<String> = (1..=3).map(|d| format!("2026-11-0{d}")).collect();
        let series = [("calls", vec![Some(1000.0), Some(1200.0), Some(40.0)])];
        let svg = lines_partial("calls", &labels, &series, None, true).into_string();
        let solid = svg.split("<polyline class=\"s0\" points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(solid.split(' ').count(), 2, "the solid line stops before the bucket in progress: {solid}");
        assert_eq!(svg.matches("<polyline class=\"s0 partial\"").count(), 1, "a dashed last segment");
        assert_eq!(svg.matches("<circle class=\"s0 partial\"").count(), 1, "a hollow last point");
        assert!(svg.contains("calls 2026-11-03: 40 so far (partial: in progress)"), "{svg}");
        assert!(svg.contains("partial: in progress (the last point"), "the legend says so");
        let whole = lines("calls", &labels, &series, None).into_string();
        assert!(!whole.contains("partial"), "no partial without a bucket in progress");
    }
}
