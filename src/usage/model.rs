//! The pure part of consumption: events as sent, the latency histogram, bucket arithmetic.
//!
//! The histogram has fixed log-scale buckets: bucket `i` (1..) holds latencies in
//! `(MIN_MS * G^(i-1), MIN_MS * G^i]` with `G = (1 + A) / (1 - A)`, and is read back as
//! `MIN_MS * 2 G^i / (G + 1)`, which is within `A` (2%) of every value in it. Merging is adding
//! counts bucket by bucket, so percentiles of any sum of rows (minutes into hours, hours into
//! days, consumers into an API) stay within 2% of the exact nearest-rank percentile.

use serde::Deserialize;

/// The relative accuracy of every percentile.
pub const ACCURACY: f64 = 0.02;
/// Latencies at or below this (ms) share bucket 0.
pub const MIN_MS: f64 = 0.001;
/// The last bucket (about 11 days in ms): anything longer is counted there.
pub const MAX_BUCKET: u16 = 1000;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-01 was a Thursday: weeks start on Monday, four days later.
const WEEK_OFFSET_MS: i64 = 4 * DAY_MS;

fn gamma() -> f64 {
    (1.0 + ACCURACY) / (1.0 - ACCURACY)
}

/// The bucket of a latency in ms.
pub fn bucket_of(ms: f64) -> u16 {
    if ms.is_nan() || ms <= MIN_MS {
        return 0;
    }
    let i = ((ms / MIN_MS).ln() / gamma().ln()).ceil();
    if i >= MAX_BUCKET as f64 { MAX_BUCKET } else { (i as u16).max(1) }
}

/// The value a bucket stands for.
pub fn value_of(bucket: u16) -> f64 {
    if bucket == 0 {
        return MIN_MS;
    }
    let g = gamma();
    MIN_MS * 2.0 * g.powi(bucket as i32) / (g + 1.0)
}

/// A latency histogram: (bucket, count) sorted by bucket, no zero counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: Vec<(u16, u64)>,
}

impl Histogram {
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
    }

    /// Counts `n` calls of `ms` milliseconds.
    pub fn add(&mut self, ms: f64, n: u64) {
        self.add_bucket(bucket_of(ms), n);
    }

    fn add_bucket(&mut self, b: u16, n: u64) {
        if n == 0 {
            return;
        }
        match self.buckets.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(n),
            Err(i) => self.buckets.insert(i, (b, n)),
        }
    }

    /// Adds another histogram's counts, in place: merged histograms mostly share their
    /// buckets, so this rarely inserts and allocates nothing then (a fold merges millions).
    pub fn merge(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        for &(b, n) in &other.buckets {
            match self.buckets.binary_search_by_key(&b, |(k, _)| *k) {
                Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(n),
                Err(i) => self.buckets.insert(i, (b, n)),
            }
        }
    }

    /// The nearest-rank quantile (`q` in 0..=1): the value of the bucket holding the
    /// `ceil(q * n)`-th smallest latency.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in &self.buckets {
            seen = c.saturating_add(seen);
            if seen >= rank {
                return Some(value_of(*b));
            }
        }
        self.buckets.last().map(|(b, _)| value_of(*b))
    }

    /// Compact bytes: varint (bucket delta, count) pairs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * 3);
        let mut last = 0u16;
        for (b, n) in &self.buckets {
            put_varint(&mut out, (b - last) as u64);
            put_varint(&mut out, *n);
            last = *b;
        }
        out
    }

    /// Reads [`Histogram::encode`]'s bytes; nonsense reads as an empty histogram.
    pub fn decode(bytes: &[u8]) -> Histogram {
        let mut buckets = Vec::new();
        let mut pos = 0;
        let mut last = 0u64;
        while pos < bytes.len() {
            let (Some(d), Some(n)) = (get_varint(bytes, &mut pos), get_varint(bytes, &mut pos)) else {
                return Histogram::default();
            };
            last += d;
            if last > MAX_BUCKET as u64 {
                return Histogram::default();
            }
            if n > 0 {
                buckets.push((last as u16, n));
            }
        }
        Histogram { buckets }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The start of the bucket of `t` (ms) for a bucket width.
pub fn floor(t: i64, width: i64) -> i64 {
    t - t.rem_euclid(width)
}

/// The Monday 00:00 UTC starting the week of `t`.
pub fn week_of(t: i64) -> i64 {
    floor(t - WEEK_OFFSET_MS, WEEK_MS) + WEEK_OFFSET_MS
}

/// A series bucket of the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
    Week,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "minute" => Some(Bucket::Minute),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            _ => None,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn start(self, t: i64) -> i64 {
        match self {
            Bucket::Minute => floor(t, MINUTE_MS),
            Bucket::Hour => floor(t, HOUR_MS),
            Bucket::Day => floor(t, DAY_MS),
            Bucket::Week => week_of(t),
        }
    }

    /// The start of the bucket after the one starting at `t`.
    pub fn next(self, t: i64) -> i64 {
        t + match self {
            Bucket::Minute => MINUTE_MS,
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
            Bucket::Week => WEEK_MS,
        }
    }
}

/// One stored level of the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Minute,
    Hour,
    Day,
    /// Weeks starting on Monday 00:00 UTC ([`week_of`]).
    Week,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Minute, Level::Hour, Level::Day, Level::Week];

    /// The start of the row of this level that `t` falls in.
    pub fn start(self, t: i64) -> i64 {
        match self {
            Level::Minute => floor(t, MINUTE_MS),
            Level::Hour => floor(t, HOUR_MS),
            Level::Day => floor(t, DAY_MS),
            Level::Week => week_of(t),
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Level::Minute => "usage_minutes",
            Level::Hour => "usage_hours",
            Level::Day => "usage_days",
            Level::Week => "usage_weeks",
        }
    }
}

/// A pre-aggregated latency histogram in an event: `{"buckets": {"<latency ms>": count}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyBuckets {
    pub buckets: std::collections::BTreeMap<String, u64>,
}

/// One event as sent to the intake.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawEvent {
    /// RFC 3339.
    pub time: String,
    /// An API ref or plain name.
    pub api: String,
    pub consumer: Option<String>,
    /// An API key's prefix (or the key itself; only its prefix is read).
    pub key: Option<String>,
    pub subscription: Option<String>,
    pub calls: Option<i64>,
    pub errors: Option<i64>,
    /// An HTTP status: 500 and above count the calls as errors when `errors` is absent.
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub latency: Option<LatencyBuckets>,
}

/// Calls and latency of one rollup key, as added up in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub calls: i64,
    pub errors: i64,
    pub hist: Histogram,
}

impl Counts {
    /// Adds another count; a sum past `i64::MAX` stays there (stored rows never wrap).
    pub fn add(&mut self, other: &Counts) {
        self.calls = self.calls.saturating_add(other.calls);
        self.errors = self.errors.saturating_add(other.errors);
        self.hist.merge(&other.hist);
    }

    /// Adds another count only if no sum overflows; `None` (and nothing added) otherwise.
    pub fn checked_add(&mut self, other: &Counts) -> Option<()> {
        let calls = self.calls.checked_add(other.calls)?;
        let errors = self.errors.checked_add(other.errors)?;
        self.hist.count().checked_add(other.hist.count())?;
        self.calls = calls;
        self.errors = errors;
        self.hist.merge(&other.hist);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_value_is_within_the_accuracy() {
        for ms in [0.0011, 0.5, 1.0, 3.7, 12.0, 99.9, 250.0, 1234.5, 60_000.0, 3_600_000.0] {
            let v = value_of(bucket_of(ms));
            assert!((v - ms).abs() / ms <= ACCURACY + 1e-9, "{ms} read back as {v}");
        }
    }

    #[test]
    fn merged_histograms_count_like_one_and_round_trip() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for i in 1..=100 {
            a.add(i as f64, 1);
            b.add((i * 3) as f64, 2);
        }
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.count(), 300);
        assert_eq!(Histogram::decode(&m.encode()), m);
        let mut one = Histogram::default();
        for i in 1..=100 {
            one.add(i as f64, 1);
            one.add((i * 3) as f64, 2);
        }
        assert_eq!(one, m);
        let p50 = m.quantile(0.5).unwrap();
        assert!(p50 > 90.0 && p50 < 160.0, "{p50}");
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-12-02 is a Wednesday; its week starts on Monday 2026-11-30.
        let wed = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().timestamp_millis();
        let mon = chrono::DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z").unwrap().timestamp_millis();
        assert_eq!(week_of(wed), mon);
        assert_eq!(week_of(mon), mon);
    }
}
