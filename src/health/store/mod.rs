//! All SQL of team health, with the diesel DSL over `db::schema`: deployments, the changes each
//! shipped, and incidents.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::{deployment_changes, deployments, incidents};
use crate::db::{Pool, WriteTransaction, placeholders};
use crate::with_conn;

#[macro_use]
mod keys;
pub use keys::*;

/// Parameters per statement stay well below SQLite's and PostgreSQL's limits.
const CHUNK: usize = 500;

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = deployments)]
pub struct DeploymentRow {
    pub seq: i64,
    pub id: String,
    pub entity_ref: String,
    pub environment: String,
    pub tier: String,
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub commit_sha: String,
    pub version: Option<String>,
    pub repo_url: Option<String>,
    pub rollback_of: Option<String>,
    pub source: String,
    pub received_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = deployment_changes)]
pub struct ChangeRow {
    pub deployment_seq: i64,
    pub sha: String,
    pub committed_at: i64,
    pub pr_created_at: Option<i64>,
    pub merged_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = incidents)]
pub struct IncidentRow {
    pub id: String,
    pub entity_ref: String,
    pub severity: Option<String>,
    pub title: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub caused_by: Option<String>,
    pub source: String,
    pub received_at: i64,
    pub updated_at: i64,
}

/// A deployment to write (the row without its sequence number) and its changes.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub row: DeploymentRow,
    /// `None`: keep the stored changes (an update that names none).
    pub changes: Option<Vec<ChangeRow>>,
}

/// What became of one written event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    /// A finished deployment sent again as in progress, or an event identical to the stored one.
    Unchanged,
}

/// What a later event with the same id keeps of the stored deployment: a finished one never goes
/// back to in progress, and fields the later event leaves out stay.
fn merged(old: &DeploymentRow, new: &DeploymentRow) -> DeploymentRow {
    let finished = old.status != "in_progress";
    let mut m = new.clone();
    m.seq = old.seq;
    m.received_at = old.received_at;
    if finished && new.status == "in_progress" {
        m.status = old.status.clone();
        m.finished_at = old.finished_at;
    }
    m.started_at = new.started_at.or(old.started_at);
    m.finished_at = m.finished_at.or(old.finished_at);
    m.version = new.version.clone().or_else(|| old.version.clone());
    m.repo_url = new.repo_url.clone().or_else(|| old.repo_url.clone());
    m.rollback_of = new.rollback_of.clone().or_else(|| old.rollback_of.clone());
    m
}

fn same(a: &DeploymentRow, b: &DeploymentRow) -> bool {
    let mut b = b.clone();
    b.updated_at = a.updated_at;
    *a == b
}

/// Whether the keys count a stored deployment: production-tier, successful, finished.
fn counts(r: &DeploymentRow) -> bool {
    r.tier == "production" && r.status == "success" && r.finished_at.is_some()
}

/// A new deployment waiting for the batch's insert, and the changes it names.
type Fresh = (DeploymentRow, Option<Vec<ChangeRow>>);

/// Writes deployments in one transaction: new ids are inserted together, known ids updated as
/// [`merged`] says, and the parts the keys read kept up to date (`keys`). Answers each event's
/// outcome, in order.
pub fn write_deployments(pool: &Pool, batch: &[NewDeployment]) -> anyhow::Result<Vec<Written>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let backend = pool.backend();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            health_write_lock!(c, backend);
            let mut known: HashMap<String, DeploymentRow> = HashMap::new();
            for chunk in batch.chunks(CHUNK) {
                let ids: Vec<&str> = chunk.iter().map(|d| d.row.id.as_str()).collect();
                for r in deployments::table
                    .filter(deployments::id.eq_any(&ids))
                    .select(DeploymentRow::as_select())
                    .load(c)?
                {
                    known.insert(r.id.clone(), r);
                }
            }
            let mut out = Vec::with_capacity(batch.len());
            let mut fresh: Vec<Fresh> = Vec::new();
            let mut fresh_at: HashMap<&str, usize> = HashMap::new();
            let mut work = keys::HealthWork::default();
            for d in batch {
                // A repeated new id merges into the first event's row before the insert.
                if let Some(&i) = fresh_at.get(d.row.id.as_str()) {
                    let (old, changes) = &mut fresh[i];
                    let m = merged(old, &d.row);
                    out.push(if same(old, &m) { Written::Unchanged } else { Written::Updated });
                    *old = m;
                    if d.changes.is_some() {
                        changes.clone_from(&d.changes);
                    }
                    continue;
                }
                let Some(old) = known.get(&d.row.id) else {
                    fresh_at.insert(d.row.id.as_str(), fresh.len());
                    fresh.push((d.row.clone(), d.changes.clone()));
                    out.push(Written::Created);
                    continue;
                };
                let m = merged(old, &d.row);
                if same(old, &m) && d.changes.is_none() {
                    out.push(Written::Unchanged);
                    continue;
                }
                if counts(old) || counts(&m) {
                    // Which changes the old and new state ship: their leads are computed again.
                    let stored: Vec<String> = deployment_changes::table
                        .filter(deployment_changes::deployment_seq.eq(old.seq))
                        .select(deployment_changes::sha)
                        .load(c)?;
                    let named = d.changes.iter().flatten().map(|ch| ch.sha.clone());
                    let shas: Vec<String> = stored.into_iter().chain(named).collect();
                    work.again(&old.entity_ref, &shas);
                    work.again(&m.entity_ref, &shas);
                    work.week(old);
                    work.week(&m);
                }
                diesel::update(deployments::table.filter(deployments::seq.eq(old.seq)))
                    .set((
                        deployments::entity_ref.eq(&m.entity_ref),
                        deployments::environment.eq(&m.environment),
                        deployments::tier.eq(&m.tier),
                        deployments::status.eq(&m.status),
                        deployments::started_at.eq(m.started_at),
                        deployments::finished_at.eq(m.finished_at),
                        deployments::commit_sha.eq(&m.commit_sha),
                        deployments::version.eq(&m.version),
                        deployments::repo_url.eq(&m.repo_url),
                        deployments::rollback_of.eq(&m.rollback_of),
                        deployments::updated_at.eq(m.updated_at),
                    ))
                    .execute(c)?;
                if let Some(changes) = &d.changes {
                    diesel::delete(deployment_changes::table.filter(deployment_changes::deployment_seq.eq(old.seq)))
                        .execute(c)?;
                    let values: Vec<_> = change_values(old.seq, changes);
                    for part in values.chunks(CHUNK / 5) {
                        diesel::insert_into(deployment_changes::table).values(part).execute(c)?;
                    }
                }
                out.push(if same(old, &m) { Written::Unchanged } else { Written::Updated });
                known.insert(m.id.clone(), m);
            }
            // The new deployments, many to a statement, then their sequence numbers and changes.
            for part in fresh.chunks(CHUNK / 15) {
                let values: Vec<_> = part
                    .iter()
                    .map(|(r, _)| {
                        (
                            deployments::id.eq(&r.id),
                            deployments::entity_ref.eq(&r.entity_ref),
                            deployments::environment.eq(&r.environment),
                            deployments::tier.eq(&r.tier),
                            deployments::status.eq(&r.status),
                            deployments::started_at.eq(r.started_at),
                            deployments::finished_at.eq(r.finished_at),
                            deployments::commit_sha.eq(&r.commit_sha),
                            deployments::version.eq(&r.version),
                            deployments::repo_url.eq(&r.repo_url),
                            deployments::rollback_of.eq(&r.rollback_of),
                            deployments::source.eq(&r.source),
                            deployments::received_at.eq(r.received_at),
                            deployments::updated_at.eq(r.updated_at),
                        )
                    })
                    .collect();
                diesel::insert_into(deployments::table).values(values).execute(c)?;
            }
            let mut seq_of: HashMap<String, i64> = HashMap::with_capacity(fresh.len());
            for part in fresh.chunks(CHUNK) {
                let ids: Vec<&str> = part.iter().map(|(r, _)| r.id.as_str()).collect();
                seq_of.extend(
                    deployments::table
                        .filter(deployments::id.eq_any(&ids))
                        .select((deployments::id, deployments::seq))
                        .load::<(String, i64)>(c)?,
                );
            }
            let mut values = Vec::new();
            for (r, changes) in &fresh {
                work.week(r);
                let (Some(changes), Some(&seq)) = (changes, seq_of.get(&r.id)) else { continue };
                values.extend(change_values(seq, changes));
                if counts(r) {
                    work.shipped(r, changes);
                }
            }
            for part in values.chunks(CHUNK / 5) {
                diesel::insert_into(deployment_changes::table).values(part).execute(c)?;
            }
            if !work.is_empty() {
                keep_health!(c, work, backend);
            }
            Ok::<_, anyhow::Error>(out)
        })
    })
}

/// A deployment's changes as rows to insert, each sha once.
#[allow(clippy::type_complexity)]
fn change_values(
    seq: i64,
    changes: &[ChangeRow],
) -> Vec<(
    diesel::dsl::Eq<deployment_changes::deployment_seq, i64>,
    diesel::dsl::Eq<deployment_changes::sha, &String>,
    diesel::dsl::Eq<deployment_changes::committed_at, i64>,
    diesel::dsl::Eq<deployment_changes::pr_created_at, Option<i64>>,
    diesel::dsl::Eq<deployment_changes::merged_at, Option<i64>>,
)> {
    let mut seen = std::collections::HashSet::new();
    changes
        .iter()
        .filter(|ch| seen.insert(ch.sha.as_str()))
        .map(|ch| {
            (
                deployment_changes::deployment_seq.eq(seq),
                deployment_changes::sha.eq(&ch.sha),
                deployment_changes::committed_at.eq(ch.committed_at),
                deployment_changes::pr_created_at.eq(ch.pr_created_at),
                deployment_changes::merged_at.eq(ch.merged_at),
            )
        })
        .collect()
}

/// Writes incidents in one transaction; a later event with the same id replaces what it names
/// (a resolution is kept once given).
pub fn write_incidents(pool: &Pool, batch: &[IncidentRow]) -> anyhow::Result<Vec<Written>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let mut known: HashMap<String, IncidentRow> = HashMap::new();
            for chunk in batch.chunks(CHUNK) {
                let ids: Vec<&str> = chunk.iter().map(|d| d.id.as_str()).collect();
                for r in incidents::table.filter(incidents::id.eq_any(&ids)).select(IncidentRow::as_select()).load(c)? {
                    known.insert(r.id.clone(), r);
                }
            }
            let mut out = Vec::with_capacity(batch.len());
            for i in batch {
                let written = match known.get(&i.id) {
                    None => {
                        diesel::insert_into(incidents::table)
                            .values((
                                incidents::id.eq(&i.id),
                                incidents::entity_ref.eq(&i.entity_ref),
                                incidents::severity.eq(&i.severity),
                                incidents::title.eq(&i.title),
                                incidents::created_at.eq(i.created_at),
                                incidents::resolved_at.eq(i.resolved_at),
                                incidents::caused_by.eq(&i.caused_by),
                                incidents::source.eq(&i.source),
                                incidents::received_at.eq(i.received_at),
                                incidents::updated_at.eq(i.updated_at),
                            ))
                            .execute(c)?;
                        known.insert(i.id.clone(), i.clone());
                        Written::Created
                    }
                    Some(old) => {
                        let mut m = i.clone();
                        m.received_at = old.received_at;
                        m.severity = i.severity.clone().or_else(|| old.severity.clone());
                        m.title = i.title.clone().or_else(|| old.title.clone());
                        m.resolved_at = i.resolved_at.or(old.resolved_at);
                        m.caused_by = i.caused_by.clone().or_else(|| old.caused_by.clone());
                        m.created_at = old.created_at.min(i.created_at);
                        m.updated_at = old.updated_at;
                        if m == *old {
                            Written::Unchanged
                        } else {
                            m.updated_at = i.updated_at;
                            diesel::update(incidents::table.filter(incidents::id.eq(&i.id)))
                                .set((
                                    incidents::entity_ref.eq(&m.entity_ref),
                                    incidents::severity.eq(&m.severity),
                                    incidents::title.eq(&m.title),
                                    incidents::created_at.eq(m.created_at),
                                    incidents::resolved_at.eq(m.resolved_at),
                                    incidents::caused_by.eq(&m.caused_by),
                                    incidents::updated_at.eq(m.updated_at),
                                ))
                                .execute(c)?;
                            known.insert(i.id.clone(), m);
                            Written::Updated
                        }
                    }
                };
                out.push(written);
            }
            Ok::<_, anyhow::Error>(out)
        })
    })
}

/// Deployments, oldest first, and their changes by the deployment's sequence number.
pub type DeploymentsWithChanges = (Vec<DeploymentRow>, HashMap<i64, Vec<ChangeRow>>);

/// A deployment's entity, finish time, tier and status.
pub type DeploymentFacts = (String, Option<i64>, String, String);

/// The deployments of these entities finished in `[from, to)` (and those still in progress),
/// oldest first, with their changes by sequence number.
pub fn deployments_of(pool: &Pool, entities: &[String], from: i64, to: i64) -> anyhow::Result<DeploymentsWithChanges> {
    let mut rows = Vec::new();
    let mut changes: HashMap<i64, Vec<ChangeRow>> = HashMap::new();
    with_conn!(pool, |c| {
        for chunk in entities.chunks(CHUNK) {
            rows.extend(
                deployments::table
                    .filter(deployments::entity_ref.eq_any(chunk))
                    .filter(
                        deployments::finished_at
                            .ge(from)
                            .and(deployments::finished_at.lt(to))
                            .or(deployments::finished_at.is_null()),
                    )
                    .select(DeploymentRow::as_select())
                    .load(c)?,
            );
        }
        let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        if let (Some(lo), Some(hi)) = (seqs.first(), seqs.last()) {
            // One range read when the rows are dense, else by sequence number.
            let wanted: std::collections::HashSet<i64> = seqs.iter().copied().collect();
            let dense = (hi - lo + 1) as usize <= seqs.len() * 4;
            let found: Vec<ChangeRow> = if dense {
                deployment_changes::table
                    .filter(deployment_changes::deployment_seq.between(*lo, *hi))
                    .select(ChangeRow::as_select())
                    .load(c)?
            } else {
                let mut all = Vec::new();
                for chunk in seqs.chunks(CHUNK) {
                    all.extend(
                        deployment_changes::table
                            .filter(deployment_changes::deployment_seq.eq_any(chunk))
                            .select(ChangeRow::as_select())
                            .load::<ChangeRow>(c)?,
                    );
                }
                all
            };
            for ch in found.into_iter().filter(|ch| wanted.contains(&ch.deployment_seq)) {
                changes.entry(ch.deployment_seq).or_default().push(ch);
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    rows.sort_by(|a, b| a.finished_at.cmp(&b.finished_at).then_with(|| a.seq.cmp(&b.seq)));
    Ok((rows, changes))
}

/// Whether any of these entities has a deployment of any kind finished in `[from, to)`.
pub fn any_finished(pool: &Pool, entities: &[String], from: i64, to: i64) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        for chunk in entities.chunks(CHUNK) {
            let found: Option<i64> = deployments::table
                .filter(deployments::entity_ref.eq_any(chunk))
                .filter(deployments::finished_at.ge(from).and(deployments::finished_at.lt(to)))
                .select(deployments::seq)
                .first(c)
                .optional()?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

/// The incidents of these entities created in `[from, to)`, and those naming a deployment of
/// theirs finished in `[named_from, named_to)`, oldest first. The second read walks the few
/// incidents naming a deployment and looks each up by id (`CROSS JOIN` keeps SQLite from
/// walking the scope's deployments instead; PostgreSQL plans it as any join).
pub fn incidents_of(
    pool: &Pool,
    entities: &[String],
    (from, to): (i64, i64),
    (named_from, named_to): (i64, i64),
) -> anyhow::Result<Vec<IncidentRow>> {
    let mut rows: Vec<IncidentRow> = Vec::new();
    let backend = pool.backend();
    with_conn!(pool, |c| {
        for chunk in entities.chunks(CHUNK) {
            rows.extend(
                incidents::table
                    .filter(incidents::entity_ref.eq_any(chunk))
                    .filter(incidents::created_at.ge(from).and(incidents::created_at.lt(to)))
                    .select(IncidentRow::as_select())
                    .load(c)?,
            );
            let sql = placeholders(
                &format!(
                    "SELECT i.id, i.entity_ref, i.severity, i.title, i.created_at, i.resolved_at, i.caused_by, \
                     i.source, i.received_at, i.updated_at FROM incidents i CROSS JOIN deployments d \
                     WHERE i.caused_by IS NOT NULL AND d.id = i.caused_by AND d.entity_ref IN ({}) \
                     AND d.finished_at >= ? AND d.finished_at < ?",
                    vec!["?"; chunk.len()].join(", ")
                ),
                backend,
            );
            let mut q = diesel::sql_query(sql).into_boxed();
            for e in chunk {
                q = q.bind::<diesel::sql_types::Text, _>(e);
            }
            let q = q.bind::<diesel::sql_types::BigInt, _>(named_from).bind::<diesel::sql_types::BigInt, _>(named_to);
            rows.extend(q.load::<IncidentRow>(c)?);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    rows.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    rows.dedup_by(|a, b| a.id == b.id);
    Ok(rows)
}

/// The sha of the entity's last successful production deployment finished before `before`.
pub fn previous_success(pool: &Pool, entity: &str, before: i64) -> anyhow::Result<Option<String>> {
    with_conn!(pool, |c| {
        Ok(deployments::table
            .filter(deployments::entity_ref.eq(entity))
            .filter(deployments::tier.eq("production"))
            .filter(deployments::status.eq("success"))
            .filter(deployments::finished_at.lt(before))
            .order(deployments::finished_at.desc())
            .select(deployments::commit_sha)
            .first::<String>(c)
            .optional()?)
    })
}

/// Entities with a deployment of any kind finished at or after `since`.
pub fn deploying_since(pool: &Pool, since: i64) -> anyhow::Result<Vec<DeploymentFacts>> {
    with_conn!(pool, |c| {
        Ok(deployments::table
            .filter(deployments::finished_at.ge(since))
            .select((deployments::entity_ref, deployments::finished_at, deployments::tier, deployments::status))
            .load(c)?)
    })
}

/// Every entity that has sent a deployment.
pub fn deploying_entities(pool: &Pool) -> anyhow::Result<Vec<String>> {
    with_conn!(pool, |c| Ok(deployments::table.select(deployments::entity_ref).distinct().load(c)?))
}

/// What every view depends on: how many events there are and when the last was written.
pub fn version(pool: &Pool) -> anyhow::Result<(i64, Option<i64>, i64, Option<i64>)> {
    use diesel::dsl::{count_star, max};
    with_conn!(pool, |c| {
        let (n, at) =
            deployments::table.select((count_star(), max(deployments::updated_at))).first::<(i64, Option<i64>)>(c)?;
        let (m, at2) =
            incidents::table.select((count_star(), max(incidents::updated_at))).first::<(i64, Option<i64>)>(c)?;
        Ok((n, at, m, at2))
    })
}
