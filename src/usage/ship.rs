//! `portolan usage ship`: usage from a gateway's access log, posted to a portal's intake
//! (`POST /api/usage/events`) in idempotent batches.
//!
//! A batch is a run of complete lines, cut every `--batch` lines counted from the start of the
//! file (and, with `--follow`, also when the file has been quiet for a second). Its
//! `Idempotency-Key` is derived from the file's identity (device and inode; `stdin` for `-`),
//! the batch's byte range and a hash of its bytes, so running `ship` over the same file again
//! counts nothing twice. Bad lines are reported with their line number and skipped; they never
//! stop the run. `--follow` keeps reading a growing file and, when it is rotated (renamed or
//! truncated, a new file at the path), finishes the old one and starts on the new one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// How the lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// nginx's JSON `log_format` of docs/usage.md (`time`, `api`, `consumer`, `key`, `status`,
    /// `requestTime` in seconds).
    NginxJson,
    /// One usage event per line, as `POST /api/usage/events` takes them.
    Ndjson,
}

/// What to ship where.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// A file, or `-` for standard input.
    pub source: String,
    pub follow: bool,
    pub url: String,
    pub token: Option<String>,
    /// Lines per batch.
    pub batch: usize,
    /// The API of lines that name none.
    pub api: Option<String>,
    /// Lets events older than `usage.late_days` through (an admin's token, or guest mode).
    pub backfill: bool,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub lines: usize,
    pub batches: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub bad: usize,
    /// Lines naming no caller (neither a consumer nor a key): calls the gateway turned away.
    pub skipped: usize,
    /// Batches the portal had already counted.
    pub duplicates: usize,
}

/// One nginx JSON log line (the `log_format portolan_usage` of docs/usage.md). Other fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NginxLine {
    time: String,
    #[serde(default)]
    api: Option<String>,
    #[serde(default)]
    consumer: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    request_time: Option<Value>,
}

/// nginx writes `-` or nothing for an unset variable.
fn set(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty() && s != "-")
}

/// A number nginx may have written as a number or a string.
fn number(v: &Option<Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One line as an event: `Ok(None)` for a line without a caller, `Err` for a bad line.
pub fn event_of_line(format: Format, line: &str, default_api: Option<&str>) -> Result<Option<Value>, String> {
    match format {
        Format::Ndjson => match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!("not JSON: {}", crate::error::plain_serde_message(&e.to_string()))),
        },
        Format::NginxJson => {
            let l: NginxLine = serde_json::from_str(line).map_err(|e| {
                format!("not an nginx JSON log line: {}", crate::error::plain_serde_message(&e.to_string()))
            })?;
            let api =
                set(l.api).or(default_api.map(str::to_owned)).ok_or("no api (set $portolan_api, or pass --api)")?;
            let mut e = Map::new();
            e.insert("time".into(), json!(l.time.trim()));
            e.insert("api".into(), json!(api));
            match (set(l.consumer), set(l.key)) {
                (Some(c), _) => e.insert("consumer".into(), json!(c)),
                (None, Some(k)) => e.insert("key".into(), json!(k)),
                (None, None) => return Ok(None),
            };
            if let Some(s) = number(&l.status) {
                e.insert("status".into(), json!(s as i64));
            }
            if let Some(secs) = number(&l.request_time) {
                e.insert("latencyMs".into(), json!((secs * 1000.0).max(0.0)));
            }
            Ok(Some(Value::Object(e)))
        }
    }
}

/// A batch being gathered: events with the line each came from, and its byte range.
#[derive(Default)]
struct Pending {
    events: Vec<Value>,
    lines: Vec<usize>,
    /// Lines in this batch (bad and skipped ones too): the cut is every `batch` lines.
    count: usize,
    start: u64,
    hash: Sha256,
}

struct Shipper {
    opts: Options,
    http: reqwest::Client,
    report: Report,
    name: String,
}

impl Shipper {
    fn key(&self, identity: &str, p: &Pending, end: u64) -> String {
        let mut h = p.hash.clone();
        h.update(format!("|{identity}|{}|{end}", p.start).as_bytes());
        let digest = h.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("ship-{hex}")
    }

    /// Posts a batch (retrying a failed connection or a 5xx with the same key) and reports
    /// the rejected events by line.
    async fn post(&mut self, identity: &str, p: Pending, end: u64) -> anyhow::Result<()> {
        if p.count == 0 {
            return Ok(());
        }
        if p.events.is_empty() {
            return Ok(());
        }
        let key = self.key(identity, &p, end);
        let path = if self.opts.backfill { "/api/usage/events?backfill=true" } else { "/api/usage/events" };
        let url = format!("{}{path}", self.opts.url.trim_end_matches('/'));
        let body = serde_json::to_vec(&p.events)?;
        let mut pause = Duration::from_millis(250);
        let mut tries = 0;
        let answer: Value = loop {
            tries += 1;
            let mut req = self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", &key)
                .body(body.clone());
            if let Some(t) = &self.opts.token {
                req = req.bearer_auth(t);
            }
            let retry = match req.send().await {
                Ok(res) if res.status().is_success() => {
                    break res.json().await.context("reading the intake's answer")?;
                }
                Ok(res) if res.status().is_server_error() || res.status().as_u16() == 429 => {
                    format!("the portal answered {}", res.status())
                }
                Ok(res) => {
                    let status = res.status();
                    let text = res.text().await.unwrap_or_default();
                    let message = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                        .unwrap_or(text);
                    anyhow::bail!("the portal refused a batch ({status}): {message}");
                }
                Err(e) => format!("cannot reach {url}: {e}"),
            };
            if !self.opts.follow && tries >= 6 {
                anyhow::bail!("{retry}; gave up after {tries} tries");
            }
            eprintln!("{retry}; retrying in {} ms", pause.as_millis());
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        };
        self.report.batches += 1;
        if answer["duplicate"] == true {
            self.report.duplicates += 1;
            return Ok(());
        }
        self.report.accepted += answer["accepted"].as_u64().unwrap_or(0) as usize;
        for r in answer["rejected"].as_array().into_iter().flatten() {
            self.report.rejected += 1;
            let line = r["index"].as_u64().and_then(|i| p.lines.get(i as usize)).copied().unwrap_or(0);
            eprintln!("{}:{line}: rejected: {}", self.name, r["message"].as_str().unwrap_or(""));
        }
        Ok(())
    }

    /// Reads `reader` from `offset` (line `line`) to its end, posting every full batch, and
    /// returns where it stopped. An unfinished last line waits in `partial` for the rest of it,
    /// unless `at_end` (the input is over, so it is complete).
    async fn read(&mut self, src: &mut Source, at_end: bool) -> anyhow::Result<()> {
        loop {
            let n = src.reader.read_until(b'\n', &mut src.partial).context("reading the log")?;
            if n == 0 && (src.partial.is_empty() || !at_end) {
                return Ok(());
            }
            if src.partial.last() != Some(&b'\n') && !at_end {
                return Ok(());
            }
            let bytes = std::mem::take(&mut src.partial);
            let end = src.offset + bytes.len() as u64;
            src.line += 1;
            let p = &mut src.pending;
            if p.count == 0 {
                p.start = src.offset;
            }
            p.count += 1;
            p.hash.update(&bytes);
            self.report.lines += 1;
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if !text.is_empty() {
                match event_of_line(self.opts.format, text, self.opts.api.as_deref()) {
                    Ok(Some(e)) => {
                        p.events.push(e);
                        p.lines.push(src.line);
                    }
                    Ok(None) => self.report.skipped += 1,
                    Err(reason) => {
                        self.report.bad += 1;
                        eprintln!("{}:{}: {reason}", self.name, src.line);
                    }
                }
            }
            src.offset = end;
            if p.count >= self.opts.batch {
                self.flush(src).await?;
            }
        }
    }

    /// Posts the batch being gathered.
    async fn flush(&mut self, src: &mut Source) -> anyhow::Result<()> {
        let p = std::mem::take(&mut src.pending);
        let identity = src.identity.clone();
        self.post(&identity, p, src.offset).await
    }
}

/// One input being read: where, and the batch being gathered from it.
struct Source {
    reader: BufReader<Box<dyn Read + Send>>,
    identity: String,
    offset: u64,
    line: usize,
    partial: Vec<u8>,
    pending: Pending,
}

impl Source {
    fn new(reader: Box<dyn Read + Send>, identity: String) -> Self {
        Self {
            reader: BufReader::new(reader),
            identity,
            offset: 0,
            line: 0,
            partial: Vec::new(),
            pending: Pending::default(),
        }
    }
}

#[cfg(unix)]
fn identity_of(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}:{}", meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity_of(meta: &std::fs::Metadata) -> String {
    format!("{:?}", meta.created().ok())
}

fn open(path: &Path) -> anyhow::Result<Source> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let identity = identity_of(&file.metadata()?);
    Ok(Source::new(Box::new(file), identity))
}

/// Ships the source; returns what it did (with `--follow`, runs until interrupted).
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    anyhow::ensure!(opts.batch >= 1 && opts.batch <= super::MAX_EVENTS, "--batch: between 1 and {}", super::MAX_EVENTS);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let name = if opts.source == "-" { "stdin".to_owned() } else { opts.source.clone() };
    let mut s = Shipper { opts: opts.clone(), http, report: Report::default(), name };
    if opts.source == "-" {
        let mut src = Source::new(Box::new(std::io::stdin()), "stdin".into());
        s.read(&mut src, true).await?;
        s.flush(&mut src).await?;
        return Ok(s.report);
    }
    let path = PathBuf::from(&opts.source);
    let mut src = open(&path)?;
    if !opts.follow {
        s.read(&mut src, true).await?;
        s.flush(&mut src).await?;
        return Ok(s.report);
    }
    loop {
        let before = src.offset;
        s.read(&mut src, false).await?;
        if src.offset == before {
            // Quiet since the last look: send what is gathered, then see whether the file was
            // rotated (another file at the path, or this one truncated).
            s.flush(&mut src).await?;
            let rotated = match std::fs::metadata(&path) {
                Ok(m) => identity_of(&m) != src.identity || m.len() < src.offset,
                Err(_) => false, // between the rename and the new file: keep reading the old one
            };
            if rotated {
                // Finish the old file (nginx may have written to it until it reopened its log).
                s.read(&mut src, true).await?;
                s.flush(&mut src).await?;
                if let Ok(new) = open(&path) {
                    src = new;
                    eprintln!("{}: rotated; reading the new file", s.name);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nginx_line_becomes_an_event_with_its_latency_in_ms() {
        let line = r#"{"time":"2026-12-02T10:00:00+00:00","api":"pay-api","consumer":"component:default/shop-app","key":"ptl_abc","status":200,"requestTime":0.012}"#;
        let e = event_of_line(Format::NginxJson, line, None).unwrap().unwrap();
        assert_eq!(e["consumer"], "component:default/shop-app");
        assert!(e.get("key").is_none(), "the consumer wins");
        assert_eq!(e["status"], 200);
        assert!((e["latencyMs"].as_f64().unwrap() - 12.0).abs() < 1e-9);
    }

    #[test]
    fn a_line_without_a_caller_is_skipped_and_a_bad_one_says_why() {
        let line = r#"{"time":"2026-12-02T10:00:00+00:00","api":"pay-api","consumer":"","key":"","status":401,"requestTime":0.001}"#;
        assert_eq!(event_of_line(Format::NginxJson, line, None), Ok(None));
        let keyed =
            r#"{"time":"2026-12-02T10:00:00+00:00","consumer":"-","key":"ptl_abc","status":"200","requestTime":"0.5"}"#;
        let e = event_of_line(Format::NginxJson, keyed, Some("pay-api")).unwrap().unwrap();
        assert_eq!(e["key"], "ptl_abc");
        assert_eq!(e["api"], "pay-api");
        assert!(event_of_line(Format::NginxJson, "GET / 200", None).unwrap_err().starts_with("not an nginx JSON"));
        assert!(event_of_line(Format::NginxJson, keyed, None).unwrap_err().contains("--api"));
    }
}
