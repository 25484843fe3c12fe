//! Numbers as people read them, the one place every page formats a number.
//!
//! - Whole numbers with thousands separators: [`int`] / [`count`] (`300,000,000`, `-1,234`).
//! - Measured values with three significant digits below 1,000 and whole numbers (with
//!   separators) from 1,000 up: [`decimal`] (`34.9`, `0.0123`, `1,235`). So a value never shows
//!   more than three significant digits after its point, and never a trailing `.0`.
//! - At most one decimal, whole from 1,000 up: [`tenths`] (`7`, `4.5`, `18.2`), for rates and
//!   durations read on tiles, where `7.0` and `7.03` would only be noise.
//! - Latencies: [`ms`] (`34.9 ms`, `1.23 s` from 1,000 ms).
//! - Shares (0..1) in per cent: [`percent`], one decimal at most from 1 % up, two significant
//!   digits below so that a small rate does not read as zero (`2.5 %`, `66.7 %`, `0.01 %`).
//! - Chart axes: [`short`] (`1.2k`, `15k`, `3M`, `0.25`).
//!
//! Values that are not finite (which no view should hold) read `n/a`.

/// What a value that is not a finite number reads as.
const NOT_A_NUMBER: &str = "n/a";

/// A run of digits (no sign) with a comma every three from the right.
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` rounded to `places` decimals, with separators and without trailing zeros (nor `-0`).
fn fixed(v: f64, places: usize) -> String {
    if !v.is_finite() {
        return NOT_A_NUMBER.to_owned();
    }
    let text = format!("{:.*}", places, v.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let fraction = fraction.trim_end_matches('0');
    let mut out = grouped(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// A whole number with thousands separators: `300,000,000`, `-1,234`, `0`.
pub fn int(n: i64) -> String {
    let digits = grouped(&n.unsigned_abs().to_string());
    if n < 0 { format!("-{digits}") } else { digits }
}

/// A count (never negative) with thousands separators: `12,345`; any unsigned or signed integer
/// type (a negative one, which no count is, reads `n/a`).
pub fn count(n: impl TryInto<u64>) -> String {
    n.try_into().map_or_else(|_| NOT_A_NUMBER.to_owned(), |n: u64| grouped(&n.to_string()))
}

/// A measured value: three significant digits below 1,000 (`34.933` → `34.9`, `0.012345` →
/// `0.0123`, `2.0` → `2`), the whole number with separators from 1,000 up (`1234.5` → `1,235`,
/// halves away from zero; `300000000.0` → `300,000,000`).
pub fn decimal(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a == 0.0 || a >= 999.5 {
        return fixed(v.round(), 0);
    }
    // Digits after the point that leave three significant ones (at most 15: beyond, noise).
    let places = (2 - a.log10().floor() as i32).clamp(0, 15) as usize;
    fixed(v, places)
}

/// At most one decimal, whole with separators from 1,000 up: `7.0` → `7`, `4.54` → `4.5`,
/// `1234.56` → `1,235`.
pub fn tenths(v: f64) -> String {
    if v.abs() >= 999.95 { fixed(v.round(), 0) } else { fixed(v, 1) }
}

/// A latency in milliseconds: `34.9 ms`, seconds from 1,000 ms (`1.23 s`, `1.2 s`).
pub fn ms(v: f64) -> String {
    if v.is_finite() && v.abs() >= 999.5 { format!("{} s", decimal(v / 1000.0)) } else { format!("{} ms", decimal(v)) }
}

/// A share (0..1) in per cent: at most one decimal from 1 % up (`2.5 %`, `66.7 %`, `100 %`), two
/// significant digits below (`0.01 %`, `0.12 %`), so that a small rate does not read as `0 %`.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    let a = p.abs();
    let text = if !p.is_finite() || a == 0.0 || a >= 0.995 {
        tenths(p)
    } else {
        let places = (1 - a.log10().floor() as i32).clamp(0, 15) as usize;
        fixed(p, places)
    };
    format!("{text} %")
}

/// A short number for a chart's axis: below 1,000 as [`decimal`] (`0.25`, `42`, `999`), then
/// k, M, G, T with one decimal below 10 of the unit and none above (`1.2k`, `15k`, `3M`, `1.2M`).
pub fn short(v: f64) -> String {
    if !v.is_finite() || v.abs() < 999.5 {
        return decimal(v);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let units = [(1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")];
    for (n, (unit, suffix)) in units.iter().enumerate() {
        let s = v.abs() / unit;
        let r = if s < 9.95 { (s * 10.0).round() / 10.0 } else { s.round() };
        if r < 1000.0 || n == units.len() - 1 {
            return format!("{sign}{}{suffix}", fixed(r, 1));
        }
    }
    unreachable!("the last unit returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_have_thousands_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(300_000_000), "300,000,000");
        assert_eq!(int(-1234), "-1,234");
        assert_eq!(int(-999), "-999");
        assert_eq!(int(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(count(1_234_567usize), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(count(-1i64), "n/a");
    }

    #[test]
    fn decimals_keep_three_significant_digits_below_a_thousand() {
        assert_eq!(decimal(34.933), "34.9");
        assert_eq!(decimal(0.012345), "0.0123");
        assert_eq!(decimal(1.2345), "1.23");
        assert_eq!(decimal(123.456), "123");
        assert_eq!(decimal(0.5), "0.5");
        assert_eq!(decimal(2.0), "2");
        assert_eq!(decimal(0.0), "0");
        assert_eq!(decimal(-0.0001), "-0.0001");
        assert_eq!(decimal(-34.933), "-34.9");
        assert_eq!(decimal(9.9996), "10", "rounding up drops the zeros");
        assert_eq!(decimal(999.7), "1,000");
    }

    #[test]
    fn decimals_from_a_thousand_are_whole_with_separators() {
        assert_eq!(decimal(1234.5), "1,235");
        assert_eq!(decimal(300_000_000.0), "300,000,000");
        assert_eq!(decimal(-1234.4), "-1,234");
        assert_eq!(decimal(f64::NAN), "n/a");
        for v in [0.1, 1.0, 7.0, 10.0, 100.0, 1e3, 1e6, 2.5e8] {
            assert!(!decimal(v).ends_with(".0"), "{v}: {}", decimal(v));
        }
    }

    #[test]
    fn tenths_keep_one_decimal_at_most() {
        assert_eq!(tenths(7.0), "7");
        assert_eq!(tenths(4.54), "4.5");
        assert_eq!(tenths(18.25), "18.2");
        assert_eq!(tenths(0.04), "0");
        assert_eq!(tenths(1234.56), "1,235");
    }

    #[test]
    fn latencies_read_in_ms_then_seconds() {
        assert_eq!(ms(34.933), "34.9 ms");
        assert_eq!(ms(0.25), "0.25 ms");
        assert_eq!(ms(120.0), "120 ms");
        assert_eq!(ms(999.0), "999 ms");
        assert_eq!(ms(999.7), "1 s");
        assert_eq!(ms(1200.0), "1.2 s");
        assert_eq!(ms(1234.0), "1.23 s");
        assert_eq!(ms(65_000.0), "65 s");
    }

    #[test]
    fn shares_read_in_per_cent() {
        assert_eq!(percent(0.025), "2.5 %");
        assert_eq!(percent(0.0001), "0.01 %");
        assert_eq!(percent(0.001234), "0.12 %");
        assert_eq!(percent(2.0 / 3.0), "66.7 %");
        assert_eq!(percent(1.0 / 30.0), "3.3 %");
        assert_eq!(percent(0.4000001), "40 %");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.00999), "1 %");
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(42.0), "42");
        assert_eq!(short(999.0), "999");
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(1234.0), "1.2k");
        assert_eq!(short(2500.0), "2.5k");
        assert_eq!(short(15_000.0), "15k");
        assert_eq!(short(999_999.0), "1M");
        assert_eq!(short(1_234_567.0), "1.2M");
        assert_eq!(short(3_000_000.0), "3M");
        assert_eq!(short(-1500.0), "-1.5k");
        assert_eq!(short(4.5e9), "4.5G");
    }
}
