//! The intake of deployment and incident events: each event of a request is read, checked and
//! attributed to a catalog entity on its own (a bad one is rejected with its index and reason,
//! the good ones kept), then all are written in one transaction. Blocking.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Health;
use super::model::{Status, Tier};
use super::store::{self, ChangeRow, DeploymentRow, IncidentRow, NewDeployment, Written};
use crate::catalog::model::{DEFAULT_NAMESPACE, EntityRef};
use crate::db::{Pool, now_ms};
use crate::error::ApiError;
use crate::org::Graph;

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 1_000;
/// The most changes one deployment may list.
pub const MAX_CHANGES: usize = 1_000;
/// How far ahead of the server's clock an event's times may be.
const FUTURE_MS: i64 = 86_400_000;

/// One rejected event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub message: String,
}

/// The answer to a request of events.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcome {
    pub accepted: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejection>,
}

/// The events of a body: one object, or an array of at most [`MAX_EVENTS`].
pub fn events_of(body: Value) -> Result<Vec<Value>, ApiError> {
    match body {
        Value::Array(items) if items.len() > MAX_EVENTS => Err(ApiError::input(format!(
            "at most {MAX_EVENTS} events per request; this one has {} (send them in several requests)",
            items.len()
        ))),
        Value::Array(items) => Ok(items),
        Value::Object(_) => Ok(vec![body]),
        _ => Err(ApiError::input("the body must be one event (a JSON object) or an array of events")),
    }
}

/// A time as sent: RFC 3339.
pub fn time(field: &str, raw: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("{field}: \"{raw}\" is not an RFC 3339 time (such as 2026-12-06T10:00:00Z)"))
}

fn opt_time(field: &str, raw: Option<&str>) -> Result<Option<i64>, String> {
    raw.map(|r| time(field, r)).transpose()
}

fn not_future(field: &str, t: i64, now: i64) -> Result<i64, String> {
    if t > now + FUTURE_MS {
        return Err(format!("{field}: {} is more than a day in the future", crate::db::rfc3339(t)));
    }
    Ok(t)
}

fn text(field: &str, v: String, max: usize) -> Result<String, String> {
    let v = v.trim().to_owned();
    if v.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if v.len() > max {
        return Err(format!("{field}: at most {max} characters"));
    }
    Ok(v)
}

/// Reads one event of type `T`, in the sender's words.
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| crate::error::plain_serde_message(&e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeploymentEvent {
    id: String,
    entity: Option<String>,
    environment: String,
    tier: Option<String>,
    status: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    commit_sha: String,
    version: Option<String>,
    repo_url: Option<String>,
    changes: Option<Vec<ChangeEvent>>,
    rollback_of: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeEvent {
    sha: String,
    committed_at: String,
    pr_created_at: Option<String>,
    merged_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IncidentEvent {
    id: String,
    entity: Option<String>,
    repo_url: Option<String>,
    severity: Option<String>,
    title: Option<String>,
    created_at: String,
    resolved_at: Option<String>,
    caused_by: Option<String>,
}

/// Finds entities: by ref, or by the repository their annotations name.
pub struct Resolver<'a> {
    g: &'a Graph,
    by_repo: Option<HashMap<String, String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(g: &'a Graph) -> Self {
        Self { g, by_repo: None }
    }

    /// The entity of a repository path (`owner/name`), preferring a Component.
    pub fn repo(&mut self, path: &str) -> Option<String> {
        let g = self.g;
        let index = self.by_repo.get_or_insert_with(|| {
            let mut m: HashMap<String, String> = HashMap::new();
            let mut keys: Vec<&String> = g.entities.keys().collect();
            keys.sort();
            for k in keys {
                let e = &g.entities[k];
                for r in &e.repos {
                    let better = m.get(r).is_none_or(|cur| !cur.starts_with("component:") && e.is("component"));
                    if better {
                        m.insert(r.clone(), k.clone());
                    }
                }
            }
            m
        });
        index.get(&path.trim_matches('/').trim_end_matches(".git").to_ascii_lowercase()).cloned()
    }

    /// The entity an event names, or the one its repository resolves to.
    pub fn entity(&mut self, entity: Option<&str>, repo_url: Option<&str>) -> Result<String, String> {
        if let Some(raw) = entity {
            let key =
                EntityRef::parse(raw, Some("component"), DEFAULT_NAMESPACE).map_err(|e| format!("entity: {e}"))?.key();
            if self.g.get(&key).is_none() {
                return Err(format!("entity: '{key}' is not in the catalog"));
            }
            return Ok(key);
        }
        let Some(url) = repo_url else {
            return Err("entity: required (an entity ref, or a repoUrl an entity's annotations name)".into());
        };
        let path = crate::org::graph::repo_path_of_url(url)
            .ok_or_else(|| format!("repoUrl: \"{url}\" is not a repository address"))?;
        self.repo(&path).ok_or_else(|| {
            format!(
                "repoUrl: no catalog entity names the repository '{path}' (github.com/project-slug, gitlab.com/project-slug or backstage.io/source-location)"
            )
        })
    }
}

/// A deployment event, checked: the row to write and its changes.
fn deployment(r: &mut Resolver, v: Value, source: &str, now: i64) -> Result<NewDeployment, String> {
    let e: DeploymentEvent = typed(v)?;
    let id = text("id", e.id, 200)?;
    let entity = r.entity(e.entity.as_deref(), e.repo_url.as_deref())?;
    let environment = text("environment", e.environment, 200)?;
    let tier = match e.tier.as_deref() {
        Some(t) => Tier::parse(t).ok_or_else(|| format!("tier: \"{t}\" is not one of {}", Tier::ALL.join(", ")))?,
        None => Tier::of_environment(&environment),
    };
    let status = Status::parse(&e.status)
        .ok_or_else(|| format!("status: \"{}\" is not one of {}", e.status, Status::ALL.join(", ")))?;
    let started_at =
        opt_time("startedAt", e.started_at.as_deref())?.map(|t| not_future("startedAt", t, now)).transpose()?;
    let finished_at =
        opt_time("finishedAt", e.finished_at.as_deref())?.map(|t| not_future("finishedAt", t, now)).transpose()?;
    if status.finished() && finished_at.is_none() {
        return Err(format!("finishedAt: required for a deployment that is {}", status.as_str()));
    }
    if let (Some(s), Some(f)) = (started_at, finished_at)
        && s > f
    {
        return Err("startedAt: after finishedAt".into());
    }
    let commit_sha = text("commitSha", e.commit_sha, 200)?;
    let rollback_of = e.rollback_of.map(|r| text("rollbackOf", r, 200)).transpose()?;
    if rollback_of.as_deref() == Some(id.as_str()) {
        return Err("rollbackOf: a deployment cannot roll itself back".into());
    }
    let changes = match e.changes {
        None => None,
        Some(list) if list.len() > MAX_CHANGES => {
            return Err(format!("changes: at most {MAX_CHANGES} per deployment"));
        }
        Some(list) => Some(
            list.into_iter()
                .enumerate()
                .map(|(n, c)| {
                    let at = |f: &str| format!("changes[{n}].{f}");
                    Ok(ChangeRow {
                        deployment_seq: 0,
                        sha: text(&at("sha"), c.sha, 200)?,
                        committed_at: time(&at("committedAt"), &c.committed_at)?,
                        pr_created_at: opt_time(&at("prCreatedAt"), c.pr_created_at.as_deref())?,
                        merged_at: opt_time(&at("mergedAt"), c.merged_at.as_deref())?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
    };
    Ok(NewDeployment {
        row: DeploymentRow {
            seq: 0,
            id,
            entity_ref: entity,
            environment,
            tier: tier.as_str().to_owned(),
            status: status.as_str().to_owned(),
            started_at,
            finished_at,
            commit_sha,
            version: e.version.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()),
            repo_url: e.repo_url,
            rollback_of,
            source: source.to_owned(),
            received_at: now,
            updated_at: now,
        },
        changes,
    })
}

fn incident(r: &mut Resolver, v: Value, source: &str, now: i64) -> Result<IncidentRow, String> {
    let e: IncidentEvent = typed(v)?;
    let id = text("id", e.id, 200)?;
    let entity = r.entity(e.entity.as_deref(), e.repo_url.as_deref())?;
    let created_at = not_future("createdAt", time("createdAt", &e.created_at)?, now)?;
    let resolved_at = opt_time("resolvedAt", e.resolved_at.as_deref())?;
    if resolved_at.is_some_and(|r| r < created_at) {
        return Err("resolvedAt: before createdAt".into());
    }
    Ok(IncidentRow {
        id,
        entity_ref: entity,
        severity: e.severity.map(|s| text("severity", s, 100)).transpose()?,
        title: e.title.map(|s| text("title", s, 500)).transpose()?,
        created_at,
        resolved_at,
        caused_by: e.caused_by.map(|c| text("causedBy", c, 200)).transpose()?,
        source: source.to_owned(),
        received_at: now,
        updated_at: now,
    })
}

fn tally(out: &mut Outcome, written: &[Written]) {
    for w in written {
        out.accepted += 1;
        match w {
            Written::Created => out.created += 1,
            Written::Updated => out.updated += 1,
            Written::Unchanged => out.unchanged += 1,
        }
    }
}

impl Health {
    /// Checks each event on its own (`read`), writes the good ones in one transaction
    /// (`write`), and counts what was written (`count`).
    fn record<T>(
        &self,
        pool: &Pool,
        events: Vec<Value>,
        read: impl Fn(&mut Resolver, Value, i64) -> Result<T, String>,
        write: impl FnOnce(&Pool, &[T]) -> anyhow::Result<Vec<Written>>,
        count: impl Fn(&Graph, &T, Written),
    ) -> anyhow::Result<Outcome> {
        let now = now_ms();
        let g = self.org.snapshot(pool)?;
        let mut r = Resolver::new(&g);
        let mut out = Outcome::default();
        let mut good = Vec::new();
        for (index, v) in events.into_iter().enumerate() {
            match read(&mut r, v, now) {
                Ok(e) => good.push(e),
                Err(message) => out.rejected.push(Rejection { index, message }),
            }
        }
        let written = write(pool, &good)?;
        for (e, w) in good.iter().zip(&written) {
            count(&g, e, *w);
        }
        tally(&mut out, &written);
        Ok(out)
    }

    /// Checks and writes deployment events; `source` is `api`, `github` or `gitlab`.
    pub fn record_deployments(&self, pool: &Pool, events: Vec<Value>, source: &str) -> anyhow::Result<Outcome> {
        self.record(
            pool,
            events,
            |r, v, now| deployment(r, v, source, now),
            store::write_deployments,
            |g, d, w| {
                if w != Written::Unchanged {
                    let team = team_label(g, &d.row.entity_ref);
                    metrics::counter!("portolan_deployments_total", "team" => team, "status" => d.row.status.clone())
                        .increment(1);
                }
            },
        )
    }

    /// Checks and writes incident events.
    pub fn record_incidents(&self, pool: &Pool, events: Vec<Value>, source: &str) -> anyhow::Result<Outcome> {
        self.record(
            pool,
            events,
            |r, v, now| incident(r, v, source, now),
            store::write_incidents,
            |g, i, w| {
                if w == Written::Created {
                    metrics::counter!("portolan_incidents_total", "team" => team_label(g, &i.entity_ref)).increment(1);
                }
            },
        )
    }
}

/// The team label of an entity's metrics.
fn team_label(g: &Graph, entity: &str) -> String {
    super::views::team_of(g, entity).unwrap_or_else(|| "none".into())
}
