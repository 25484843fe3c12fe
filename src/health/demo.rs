//! `portolan demo-traffic`, team health's part: 90 days of production deployments (with the
//! changes each shipped) and incidents for the demo catalog's components, through the public
//! API. The first team (by name) deploys every day and rarely fails (elite); the
//! last deploys about monthly with long lead times and fails often (low); the others fall
//! between. There is a rollback, an incident linked by `causedBy` and incidents linked by time,
//! and the last production component of a middle team is left without deployments, so that
//! `no-production-deployment` shows.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{DAY_MS, HOUR_MS};
use crate::db::{now_ms, rfc3339};

/// What the team-health part wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub deployments: usize,
    pub incidents: usize,
    pub teams: usize,
    pub left_without: Option<String>,
    /// Teams left alone because they already send deployments.
    pub skipped: Vec<String>,
}

/// A small deterministic generator, so that every run tells the same story.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A whole number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// How a team works: days between deployment days, lead time in hours, failure per mille.
#[derive(Debug, Clone, Copy)]
struct Profile {
    every_days: i64,
    lead_hours: (u64, u64),
    fail_per_mille: u64,
    per_day: u64,
}

const ELITE: Profile = Profile { every_days: 1, lead_hours: (1, 20), fail_per_mille: 20, per_day: 2 };
const HIGH: Profile = Profile { every_days: 3, lead_hours: (20, 120), fail_per_mille: 80, per_day: 1 };
const MEDIUM: Profile = Profile { every_days: 15, lead_hours: (100, 400), fail_per_mille: 120, per_day: 1 };
const LOW: Profile = Profile { every_days: 45, lead_hours: (700, 1500), fail_per_mille: 400, per_day: 1 };

async fn post(http: &reqwest::Client, token: Option<&str>, url: String, body: &Value) -> anyhow::Result<Value> {
    let mut r = http.post(&url).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {answer}");
    if let Some(first) = answer["rejected"].as_array().and_then(|r| r.first()) {
        anyhow::bail!("POST {url}: an event was rejected: {first}");
    }
    Ok(answer)
}

/// Writes team health's demo data to the portal at `base`.
pub async fn run(base: &str, token: Option<String>) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder().build()?;
    let base = base.trim_end_matches('/');
    let token = token.as_deref();
    let mut req = http.get(format!(
        "{base}/api/catalog/entities?filter=kind=component&fields=metadata.name,metadata.namespace,spec.owner,spec.lifecycle"
    ));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    anyhow::ensure!(res.status().is_success(), "GET /api/catalog/entities: {}", res.status());
    let entities: Value = res.json().await?;
    // Components by owning team, in name order, with whether each is in production.
    let mut teams: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for e in entities.as_array().into_iter().flatten() {
        let (Some(name), Some(owner)) = (e["metadata"]["name"].as_str(), e["spec"]["owner"].as_str()) else {
            continue;
        };
        let ns = e["metadata"]["namespace"].as_str().unwrap_or("default");
        let owner = owner.trim_start_matches("group:").rsplit('/').next().unwrap_or(owner).to_owned();
        let production = e["spec"]["lifecycle"] == "production";
        teams.entry(owner).or_default().push((format!("component:{ns}/{name}"), production));
    }
    for list in teams.values_mut() {
        list.sort();
    }
    // Teams that already send deployments keep their own history.
    let mut req = http.get(format!("{base}/api/portal/deployments?limit=10000"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    anyhow::ensure!(res.status().is_success(), "GET /api/portal/deployments: {}", res.status());
    let sent: Value = res.json().await?;
    let busy: std::collections::BTreeSet<String> = sent["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["team"].as_str())
        .map(|t| t.rsplit('/').next().unwrap_or(t).to_owned())
        .collect();
    let skipped: Vec<String> = teams.keys().filter(|t| busy.contains(*t)).cloned().collect();
    teams.retain(|t, _| !busy.contains(t));
    let mut summary = Summary { teams: teams.len(), skipped, ..Summary::default() };
    let now = now_ms();
    let start = (now - 90 * DAY_MS) / DAY_MS * DAY_MS;
    let mut rng = Lcg(0x5eed_f00d);
    let mut deployments: Vec<Value> = Vec::new();
    let mut incidents: Vec<Value> = Vec::new();
    let n = teams.len();
    for (t, (team, components)) in teams.iter().enumerate() {
        let profile = match t {
            0 => ELITE,
            _ if t + 1 == n => LOW,
            _ if t % 2 == 1 => HIGH,
            _ => MEDIUM,
        };
        let mut components = components.clone();
        if t == n / 2 && components.iter().filter(|(_, p)| *p).count() > 1 {
            // The team's last production component never deploys.
            if let Some(i) = components.iter().rposition(|(_, p)| *p) {
                summary.left_without = Some(components.remove(i).0);
            }
        }
        for (c, (entity, _)) in components.iter().enumerate() {
            let name = entity.rsplit('/').next().unwrap_or(entity);
            let mut version = 1u64;
            // A team deploys on the same days, each deployment of a day after the one before.
            let mut day = start;
            let mut last: Option<(String, i64)> = None;
            let mut k = 0;
            while day < now - HOUR_MS * 2 {
                for slot in 0..profile.per_day as i64 {
                    let finished =
                        day + (9 + 4 * slot + rng.below(4) as i64) * HOUR_MS + rng.below(3_600) as i64 * 1_000;
                    if finished >= now {
                        continue;
                    }
                    k += 1;
                    version += 1;
                    let id = format!("demo-{team}-{name}-{k}");
                    let changes: Vec<Value> = (0..1 + rng.below(3))
                        .map(|j| {
                            let (lo, hi) = profile.lead_hours;
                            let lead = (lo + rng.below(hi - lo + 1)) as i64 * HOUR_MS;
                            json!({"sha": format!("{:040x}", (k as u64) << 16 | j | (rng.next() << 24)), "committedAt": rfc3339(finished - lead)})
                        })
                        .collect();
                    let mut d = json!({
                        "id": id, "entity": entity, "environment": "production", "status": "success",
                        "startedAt": rfc3339(finished - 6 * 60_000), "finishedAt": rfc3339(finished),
                        "commitSha": changes.last().map_or(Value::Null, |c| c["sha"].clone()),
                        "version": format!("v1.{version}.0"), "changes": changes,
                    });
                    if rng.below(1000) < profile.fail_per_mille {
                        // A failure: every other one an incident linked by time, resolved hours
                        // later; otherwise an incident that names its cause.
                        let caused = rng.below(2) == 0;
                        let created = finished + (1 + rng.below(5) as i64) * HOUR_MS;
                        let resolved = created + (1 + rng.below(profile.lead_hours.0.max(2))) as i64 * HOUR_MS;
                        let mut i = json!({
                            "id": format!("demo-incident-{id}"), "entity": entity, "severity": "sev2",
                            "title": format!("Errors after {name} v1.{version}.0"),
                            "createdAt": rfc3339(created),
                        });
                        if resolved < now {
                            i["resolvedAt"] = json!(rfc3339(resolved));
                        }
                        if caused {
                            i["causedBy"] = json!(id);
                        }
                        incidents.push(i);
                    }
                    last = Some((id, finished));
                    deployments.push(d.take());
                }
                day += profile.every_days * DAY_MS;
            }
            // The low team's first component rolls its last deployment back.
            if t + 1 == n
                && c == 0
                && let Some((id, at)) = last
                && at + 3 * HOUR_MS < now
            {
                deployments.push(json!({
                    "id": format!("{id}-rollback"), "entity": entity, "environment": "production", "status": "success",
                    "finishedAt": rfc3339(at + 2 * HOUR_MS), "commitSha": format!("{:040x}", rng.next()),
                    "version": format!("v1.{}.0", version - 1), "rollbackOf": id,
                }));
            }
        }
    }
    for chunk in deployments.chunks(1_000) {
        post(&http, token, format!("{base}/api/deployments"), &Value::Array(chunk.to_vec())).await?;
    }
    for chunk in incidents.chunks(1_000) {
        post(&http, token, format!("{base}/api/incidents"), &Value::Array(chunk.to_vec())).await?;
    }
    summary.deployments = deployments.len();
    summary.incidents = incidents.len();
    Ok(summary)
}
