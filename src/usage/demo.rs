//! `portolan demo-traffic`: believable usage for the demo catalog, written through the public
//! intake (`POST /api/usage/events?backfill=true`, so it needs an admin or guest mode) and the
//! KPI route. What it shows: growth on the first platform, a consumer that churned five weeks
//! ago, a consumer calling an API it does not declare, a declared (approved) subscription never
//! used, one API whose p95 regressed over the last two weeks, and daily values for every KPI of
//! every product. Batches carry an Idempotency-Key per day and number, so running it twice on
//! the same day counts once.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::model::{DAY_MS, HOUR_MS};

/// What one run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub events: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub kpi_values: usize,
    pub growing: Option<String>,
    pub churned: Option<(String, String)>,
    pub undeclared: Option<(String, String)>,
    pub unused: Option<(String, String)>,
    pub regressed: Option<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let res = self.req(reqwest::Method::GET, path).send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }

    async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> anyhow::Result<Value> {
        let mut r = self.req(reqwest::Method::POST, path).json(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let res = r.send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        // A batch of today's sent by an earlier run (its latest events carry another time):
        // counted then, so nothing to add now.
        if status == reqwest::StatusCode::CONFLICT && body["error"]["code"] == "idempotency_conflict" {
            return Ok(json!({"accepted": 0, "rejected": [], "duplicate": true}));
        }
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
        Ok(body)
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn path_of(entity_ref: &str) -> Option<String> {
    let (_, rest) = entity_ref.split_once(':')?;
    let (ns, name) = rest.split_once('/')?;
    Some(format!("{ns}/{name}"))
}

/// A declared pair: (platform, api, consumer).
type Pair = (String, String, String);

/// A published plan with automatic approval: a subscription to it is active at once.
fn self_service(plan: &Value) -> bool {
    plan["approval"] != "manual" && plan["status"].as_str().is_none_or(|s| s == "published")
}

/// Subscribes `who` to `api` on its first published plan with automatic approval, if there is
/// one (best effort: an existing subscription, or none to be had, changes nothing here).
async fn subscribe(c: &Client, api: &str, who: &str) {
    let Some(path) = path_of(api) else { return };
    let Ok(offering) = c.get(&format!("/api/portal/offerings/{path}")).await else { return };
    let plan =
        offering["plans"].as_array().into_iter().flatten().find(|p| self_service(p)).and_then(|p| p["name"].as_str());
    if let Some(plan) = plan {
        let _ = c.post("/api/portal/subscriptions", &json!({"api": api, "plan": plan, "consumer": who}), None).await;
    }
}

/// Writes `days` days of traffic and KPI values to the portal at `base`.
pub async fn run(base: &str, days: i64, token: Option<String>) -> anyhow::Result<Summary> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = Client { http: reqwest::Client::builder().build()?, base: base.trim_end_matches('/').to_owned(), token };
    let days = days.clamp(1, 365);
    let mut rng = fastrand::Rng::with_seed(13);
    let mut summary = Summary::default();

    // What the catalog declares: each platform's APIs and who consumes them.
    let platforms = c.get("/api/portal/platforms").await?;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut apis: BTreeSet<String> = BTreeSet::new();
    let mut consumers: BTreeSet<String> = BTreeSet::new();
    // (api, consumer, product or the consumer itself): declarations compare per product.
    let mut units: Vec<(String, String, String)> = Vec::new();
    for p in platforms["items"].as_array().into_iter().flatten() {
        let Some(pref) = p["entityRef"].as_str() else { continue };
        let Some(path) = path_of(pref) else { continue };
        let detail = c.get(&format!("/api/portal/platforms/{path}")).await?;
        for a in detail["apis"].as_array().into_iter().flatten() {
            let Some(api) = a["entityRef"].as_str() else { continue };
            apis.insert(api.to_owned());
            for con in a["consumers"].as_array().into_iter().flatten() {
                if con["relation"] == "consumesApi"
                    && let Some(who) = con["entityRef"].as_str()
                {
                    let unit = con["product"].as_str().unwrap_or(who).to_lowercase();
                    units.push((api.to_owned(), who.to_owned(), unit));
                    pairs.push((pref.to_owned(), api.to_owned(), who.to_owned()));
                    consumers.insert(who.to_owned());
                }
            }
        }
    }
    pairs.sort();
    pairs.dedup();
    anyhow::ensure!(!pairs.is_empty(), "the catalog declares no consumesApis towards any platform's API");
    let growing = pairs[0].0.clone();
    // Declarations compare per product: a pair shows as declared-but-silent only when no other
    // part of the same product declares that API too ("alone").
    let unit_of = |api: &str, who: &str| units.iter().find(|u| u.0 == api && u.1 == who).map(|u| u.2.clone());
    let alone = |p: &Pair| {
        let unit = unit_of(&p.1, &p.2);
        units.iter().filter(|u| u.0 == p.1 && Some(&u.2) == unit.as_ref()).count() == 1
    };
    // The churned consumer stops calling everything; one of its pairs is alone, so the silence
    // shows in declared-versus-observed.
    let churned = pairs
        .iter()
        .find(|p| p.0 != growing && alone(p))
        .or_else(|| pairs.iter().find(|p| p.0 != growing))
        .or(pairs.get(1))
        .cloned();
    let unused = pairs
        .iter()
        .rev()
        .find(|p| Some(*p) != churned.as_ref() && p.0 != growing && alone(p))
        .or_else(|| pairs.iter().rev().find(|p| Some(*p) != churned.as_ref() && p.0 != growing))
        .cloned();
    let regressed = pairs.iter().rev().find(|p| p.0 != growing).map(|p| p.1.clone()).unwrap_or(pairs[0].1.clone());
    // A consumer calling an API it does not declare: the first consumer with an API it lacks,
    // preferably one offered under a plan it can take at once (it subscribes before its first
    // call).
    let offerings = c.get("/api/portal/offerings").await?;
    let offered: BTreeSet<String> = offerings["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["plans"].as_array().into_iter().flatten().any(self_service))
        .filter_map(|o| o["api"].as_str().map(str::to_lowercase))
        .collect();
    let lacks = |who: &String, a: &String| {
        !pairs.iter().any(|p| &p.1 == a && &p.2 == who)
            && Some(a) != unused.as_ref().map(|u| &u.1)
            && Some(who) != churned.as_ref().map(|c| &c.2)
    };
    let undeclared = consumers
        .iter()
        .find_map(|who| apis.iter().find(|a| lacks(who, a) && offered.contains(&a.to_lowercase())).map(|a| (who, a)))
        .or_else(|| consumers.iter().find_map(|who| apis.iter().find(|a| lacks(who, a)).map(|a| (who, a))))
        .map(|(who, a)| (who.clone(), a.clone()));
    summary.growing = Some(growing.clone());
    summary.churned = churned.as_ref().map(|p| (p.2.clone(), p.1.clone()));
    summary.unused = unused.as_ref().map(|p| (p.2.clone(), p.1.clone()));
    summary.undeclared = undeclared.clone();
    summary.regressed = Some(regressed.clone());

    let now = crate::db::now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    let mut traffic: Vec<(String, String, f64, f64, Option<i64>)> = Vec::new();
    for (i, (platform, api, who)) in pairs.iter().enumerate() {
        if Some(&(platform.clone(), api.clone(), who.clone())) == unused.as_ref() {
            continue;
        }
        let base_calls = 200.0 + (i % 7) as f64 * 150.0;
        let base_ms = 15.0 + (i % 5) as f64 * 12.0;
        // The churned consumer stops calling everything.
        let stops = churned.as_ref().is_some_and(|c| c.2 == *who).then_some(today - 35 * DAY_MS);
        traffic.push((api.clone(), who.clone(), base_calls, base_ms, stops));
    }
    // The undeclared consumer is new: it subscribes today and starts calling after that (its
    // time to first call is the adoption view's timeToFirstCall).

    let mut events: Vec<Value> = Vec::new();
    for d in (0..days).rev() {
        let day = today - d * DAY_MS;
        let progress = (days - d) as f64 / days as f64;
        for (api, who, base_calls, base_ms, stops) in &traffic {
            if stops.is_some_and(|s| day >= s) {
                continue;
            }
            let growth = if pairs.iter().any(|p| &p.1 == api && p.0 == growing) { 0.25 + 1.5 * progress } else { 1.0 };
            let slow = if *api == regressed && d < 14 { 4.0 } else { 1.0 };
            for slot in 0..6 {
                let t = day + slot * 4 * HOUR_MS + 2 * HOUR_MS;
                if t > now - 5 * 60_000 {
                    continue;
                }
                let calls = ((base_calls * growth / 6.0) * (0.8 + 0.4 * rng.f64())).round().max(1.0) as i64;
                let errors = ((calls as f64) * 0.01 * (0.5 + rng.f64())).round() as i64;
                let ms = base_ms * slow * (0.9 + 0.2 * rng.f64());
                let split = [(0.7, 0.5), (1.0, 0.4), (2.2, 0.08), (5.0, 0.02)];
                let mut buckets = serde_json::Map::new();
                // Rounded on the running share, so the counts add up to `calls` exactly (the
                // intake refuses buckets that do not).
                let (mut share_so_far, mut counted) = (0.0, 0);
                for (factor, share) in split {
                    share_so_far += share;
                    let upto = ((calls as f64) * share_so_far).round().min(calls as f64) as i64;
                    let n = upto - counted;
                    counted = upto;
                    if n > 0 {
                        let slot = buckets.entry(format!("{:.2}", ms * factor)).or_insert(json!(0));
                        *slot = json!(slot.as_i64().unwrap_or(0) + n);
                    }
                }
                if counted < calls {
                    let slot = buckets.entry(format!("{:.2}", ms * split[0].0)).or_insert(json!(0));
                    *slot = json!(slot.as_i64().unwrap_or(0) + calls - counted);
                }
                events.push(json!({
                    "time": time(t), "api": api, "consumer": who, "calls": calls, "errors": errors,
                    "latency": {"buckets": buckets},
                }));
            }
        }
    }
    // Today's calls of every live pair, after its subscription became active.
    for (api, who, _, base_ms, stops) in &traffic {
        if stops.is_none() {
            events.push(json!({"time": time(now), "api": api, "consumer": who, "calls": 3, "latencyMs": base_ms}));
        }
    }
    if let Some((who, api)) = &undeclared {
        subscribe(&c, api, who).await;
        let t = time(crate::db::now_ms());
        events.push(json!({"time": t, "api": api, "consumer": who, "calls": 120, "errors": 1, "latencyMs": 40.0}));
    }
    summary.events = events.len();
    for (n, chunk) in events.chunks(5000).enumerate() {
        let key = format!("demo-traffic-{}-{days}-{n}", time(today));
        let answer = c.post("/api/usage/events?backfill=true", &json!(chunk), Some(&key)).await?;
        summary.accepted += answer["accepted"].as_u64().unwrap_or(0) as usize;
        summary.rejected += answer["rejected"].as_array().map(Vec::len).unwrap_or(0);
    }

    // A value a day for every KPI of every product, moving towards its target.
    let products = c.get("/api/portal/products").await?;
    for p in products["items"].as_array().into_iter().flatten() {
        let Some(path) = p["entityRef"].as_str().and_then(path_of) else { continue };
        let detail = c.get(&format!("/api/portal/products/{path}")).await?;
        let mut values = Vec::new();
        for k in detail["kpis"].as_array().into_iter().flatten() {
            let Some(name) = k["name"].as_str() else { continue };
            let target = k["target"].as_f64().unwrap_or(100.0);
            let increase = k["direction"] != "decrease";
            for d in (0..days).rev() {
                let progress = (days - d) as f64 / days as f64;
                let off = (1.0 - progress) * 0.3 + 0.05 * (rng.f64() - 0.5);
                let v = if increase { target * (1.02 - off) } else { target * (0.98 + off) };
                values.push(json!({"kpi": name, "time": time(today - d * DAY_MS + 12 * HOUR_MS - if d == 0 { 12 * HOUR_MS } else { 0 }), "value": (v * 100.0).round() / 100.0}));
            }
        }
        if values.is_empty() {
            continue;
        }
        let answer = c.post(&format!("/api/portal/products/{path}/kpis"), &json!(values), None).await?;
        summary.kpi_values += answer["accepted"].as_u64().unwrap_or(0) as usize;
    }
    Ok(summary)
}
