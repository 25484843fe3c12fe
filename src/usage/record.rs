//! Records: what one batch adds up to in one partition, as the intake appends it and the folder
//! (and the views, until it is folded) read it back. Pure.
//!
//! A record holds one row per (API, consumer, subscription, minute) with its counts. Its bytes:
//! a version byte, the distinct names once (a varint length and UTF-8 each), then the rows (name
//! indexes, the minute zigzag-encoded, calls, errors, and the histogram's own bytes), all varints.

use std::collections::HashMap;

use super::model::{Counts, Histogram, get_varint, put_varint};

/// How many partitions the records (and the folding) are split into, by a hash of the API.
pub const PARTS: i32 = 16;

const VERSION: u8 = 1;

/// One row of a record: the calls of an (API, consumer, subscription) in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteRow {
    pub api: String,
    pub consumer: String,
    pub subscription: String,
    /// The minute's start (ms).
    pub t: i64,
    pub counts: Counts,
}

/// The partition of an API (FNV-1a of its key: stable across versions and instances).
pub fn part_of(api: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in api.as_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % PARTS as u32) as i32
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The bytes of a record of these rows (keys: API, consumer, subscription, minute).
pub fn encode<'a, I>(rows: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a (String, String, String, i64), &'a Counts)>,
{
    let mut names: HashMap<&'a str, u64> = HashMap::new();
    let mut order: Vec<&'a str> = Vec::new();
    let mut body = Vec::new();
    let mut n = 0u64;
    let mut index = |s: &'a str, names: &mut HashMap<&'a str, u64>| {
        *names.entry(s).or_insert_with(|| {
            order.push(s);
            order.len() as u64 - 1
        })
    };
    for ((api, consumer, subscription, t), c) in rows {
        for s in [api.as_str(), consumer.as_str(), subscription.as_str()] {
            let i = index(s, &mut names);
            put_varint(&mut body, i);
        }
        put_varint(&mut body, zigzag(*t));
        put_varint(&mut body, c.calls.max(0) as u64);
        put_varint(&mut body, c.errors.max(0) as u64);
        let hist = c.hist.encode();
        put_varint(&mut body, hist.len() as u64);
        body.extend_from_slice(&hist);
        n += 1;
    }
    let mut out = Vec::with_capacity(body.len() + order.len() * 16 + 8);
    out.push(VERSION);
    put_varint(&mut out, order.len() as u64);
    for s in &order {
        put_varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    put_varint(&mut out, n);
    out.extend_from_slice(&body);
    out
}

/// The rows of a record's bytes; `Err` names what is wrong (a record this version did not write).
pub fn decode(bytes: &[u8]) -> Result<Vec<MinuteRow>, String> {
    let bad = |what: &str| format!("a usage record is damaged ({what})");
    if bytes.first() != Some(&VERSION) {
        return Err(bad("unknown version"));
    }
    let mut pos = 1;
    let next = |pos: &mut usize| get_varint(bytes, pos).ok_or_else(|| bad("cut short"));
    let count = next(&mut pos)? as usize;
    let mut names = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let len = next(&mut pos)? as usize;
        let raw = bytes.get(pos..pos.saturating_add(len)).ok_or_else(|| bad("a name cut short"))?;
        names.push(std::str::from_utf8(raw).map_err(|_| bad("a name is not UTF-8"))?.to_owned());
        pos += len;
    }
    let n = next(&mut pos)? as usize;
    let mut rows = Vec::with_capacity(n.min(bytes.len()));
    let name = |i: u64| names.get(i as usize).cloned().ok_or_else(|| bad("a name index out of range"));
    for _ in 0..n {
        let api = name(next(&mut pos)?)?;
        let consumer = name(next(&mut pos)?)?;
        let subscription = name(next(&mut pos)?)?;
        let t = unzigzag(next(&mut pos)?);
        let calls = next(&mut pos)? as i64;
        let errors = next(&mut pos)? as i64;
        let len = next(&mut pos)? as usize;
        let hist = bytes.get(pos..pos.saturating_add(len)).ok_or_else(|| bad("a histogram cut short"))?;
        pos += len;
        rows.push(MinuteRow {
            api,
            consumer,
            subscription,
            t,
            counts: Counts { calls, errors, hist: Histogram::decode(hist) },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let mut a = Counts { calls: 7, errors: 2, ..Default::default() };
        a.hist.add(12.5, 7);
        let b = Counts { calls: 1_000_000_000, errors: 0, ..Default::default() };
        let rows: Vec<((String, String, String, i64), Counts)> = vec![
            (("api:default/x".into(), "component:default/y".into(), String::new(), 1_764_000_000_000), a.clone()),
            (("api:default/x".into(), String::new(), "sub-1".into(), -60_000), b.clone()),
        ];
        let bytes = encode(rows.iter().map(|(k, c)| (k, c)));
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].consumer, "component:default/y");
        assert_eq!(back[0].t, 1_764_000_000_000);
        assert_eq!(back[0].counts, a);
        assert_eq!(back[1].t, -60_000);
        assert_eq!(back[1].subscription, "sub-1");
        assert_eq!(back[1].counts, b);
    }

    #[test]
    fn damaged_bytes_are_refused_in_words() {
        assert!(decode(&[]).unwrap_err().contains("unknown version"));
        let rows = [(("a".to_owned(), "b".to_owned(), String::new(), 0), Counts::default())];
        let bytes = encode(rows.iter().map(|(k, c)| (k, c)));
        assert!(decode(&bytes[..bytes.len() - 2]).unwrap_err().contains("damaged"));
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        assert_eq!(part_of("api:default/x"), part_of("api:default/x"));
        let parts: std::collections::HashSet<i32> = (0..200).map(|i| part_of(&format!("api:default/a-{i}"))).collect();
        assert!(parts.iter().all(|p| (0..PARTS).contains(p)));
        assert!(parts.len() > PARTS as usize / 2, "the hash spreads names over the partitions");
    }
}
