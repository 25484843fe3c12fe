//! `portolan demo-traffic`, the delivery office's part: a history of status updates for the
//! demo catalog's items in progress (all but the last due, which stays without one and shows
//! the stale rule), then the value reports of the two periods before the current one, stored
//! as the period-end task would. Through the public API only, like the usage part.

use serde_json::{Value, json};

use super::model::Period;

/// What the delivery part wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub updates: usize,
    pub published: Vec<String>,
    pub left_stale: Option<String>,
}

const HISTORY: &[(&str, &str, i64)] = &[
    ("on-track", "Scope agreed with the teams that need it; design reviewed.", 20),
    ("at-risk", "A dependency slipped a week; we are re-planning the rollout.", 45),
    ("on-track", "Back on plan: the rollout order is agreed and the first slice is live.", 60),
];

async fn call(
    http: &reqwest::Client,
    token: Option<&str>,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let mut r = http.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// Writes the delivery office's demo data to the portal at `base`.
pub async fn run(base: &str, token: Option<String>) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder().build()?;
    let base = base.trim_end_matches('/');
    let token = token.as_deref();
    let mut summary = Summary::default();
    let (status, roadmaps) =
        call(&http, token, reqwest::Method::GET, format!("{base}/api/portal/roadmaps"), None).await?;
    anyhow::ensure!(status.is_success(), "GET /api/portal/roadmaps: {status} {roadmaps}");
    // In target-date order; the last one in progress keeps no update.
    let mut in_progress: Vec<&Value> =
        roadmaps["items"].as_array().into_iter().flatten().filter(|i| i["status"] == "in-progress").collect();
    if let Some(last) = in_progress.pop() {
        summary.left_stale =
            Some(format!("{} {}", last["ref"].as_str().unwrap_or_default(), last["id"].as_str().unwrap_or_default()));
    }
    for item in in_progress {
        let (Some(r), Some(id)) = (item["ref"].as_str(), item["id"].as_str()) else { continue };
        let Some((kind, rest)) = r.split_once(':') else { continue };
        let Some((ns, name)) = rest.split_once('/') else { continue };
        let url = format!("{base}/api/portal/roadmap/{kind}/{ns}/{name}/{id}/updates");
        let (_, existing) = call(&http, token, reqwest::Method::GET, url.clone(), None).await?;
        if existing["updates"].as_array().is_some_and(|u| !u.is_empty()) {
            continue;
        }
        for (health, note, progress) in HISTORY {
            let (status, body) = call(
                &http,
                token,
                reqwest::Method::POST,
                url.clone(),
                Some(json!({"health": health, "note": note, "progress": progress})),
            )
            .await?;
            anyhow::ensure!(status.is_success(), "POST {url}: {status} {body}");
            summary.updates += 1;
        }
    }
    let (status, current) =
        call(&http, token, reqwest::Method::GET, format!("{base}/api/portal/reports/value"), None).await?;
    anyhow::ensure!(status.is_success(), "GET /api/portal/reports/value: {status} {current}");
    let period = current["period"]
        .as_str()
        .and_then(Period::parse)
        .ok_or_else(|| anyhow::anyhow!("the report names no period"))?;
    for p in [period.previous().previous(), period.previous()] {
        let url = format!("{base}/api/portal/reports/value/{p}/publish");
        let (status, body) = call(&http, token, reqwest::Method::POST, url.clone(), None).await?;
        // 409: stored already (an earlier run, or the period-end task).
        anyhow::ensure!(status.is_success() || status == reqwest::StatusCode::CONFLICT, "POST {url}: {status} {body}");
        if status.is_success() {
            summary.published.push(p.to_string());
        }
    }
    Ok(summary)
}
