//! All SQL of team health, with the diesel DSL over `db::schema`: deployments, the changes each
//! shipped, and incidents.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::{deployment_changes, deployments, incidents};
use crate::db::{Pool, WriteTransaction};
use crate::with_conn;

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

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
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

/// Writes deployments in one transaction: new ids are inserted, known ids updated as
/// [`merged`] says. Answers each event's outcome, in order.
pub fn write_deployments(pool: &Pool, batch: &[NewDeployment]) -> anyhow::Result<Vec<Written>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
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
            for d in batch {
                let (row, written) = match known.get(&d.row.id) {
                    None => {
                        let r = &d.row;
                        let seq: i64 = diesel::insert_into(deployments::table)
                            .values((
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
                            ))
                            .returning(deployments::seq)
                            .get_result(c)?;
                        let mut row = r.clone();
                        row.seq = seq;
                        (row, Written::Created)
                    }
                    Some(old) => {
                        let m = merged(old, &d.row);
                        if same(old, &m) && d.changes.is_none() {
                            out.push(Written::Unchanged);
                            continue;
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
                        let w = if same(old, &m) { Written::Unchanged } else { Written::Updated };
                        (m, w)
                    }
                };
                if let Some(changes) = &d.changes {
                    // A new deployment has no changes stored yet: only an update replaces them.
                    if written != Written::Created {
                        diesel::delete(
                            deployment_changes::table.filter(deployment_changes::deployment_seq.eq(row.seq)),
                        )
                        .execute(c)?;
                    }
                    let mut seen = std::collections::HashSet::new();
                    let values: Vec<_> = changes
                        .iter()
                        .filter(|ch| seen.insert(ch.sha.as_str()))
                        .map(|ch| {
                            (
                                deployment_changes::deployment_seq.eq(row.seq),
                                deployment_changes::sha.eq(&ch.sha),
                                deployment_changes::committed_at.eq(ch.committed_at),
                                deployment_changes::pr_created_at.eq(ch.pr_created_at),
                                deployment_changes::merged_at.eq(ch.merged_at),
                            )
                        })
                        .collect();
                    for part in values.chunks(CHUNK / 5) {
                        diesel::insert_into(deployment_changes::table).values(part).execute(c)?;
                    }
                }
                known.insert(row.id.clone(), row);
                out.push(written);
            }
            Ok::<_, anyhow::Error>(out)
        })
    })
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

/// What the keys read of a deployment: (seq, id, entity, tier, status, finished at, version,
/// rollback of).
pub type KeyRow = (i64, String, String, String, String, i64, Option<String>, Option<String>);

/// A [`KeyRow`] as stored (the finish time may be null).
type RawKeyRow = (i64, String, String, String, String, Option<i64>, Option<String>, Option<String>);

/// What the keys read of a change: (deployment seq, sha, committed at).
pub type KeyChange = (i64, String, i64);

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

/// The counted deployments (production, success) of these entities finished in `[from, to)` as
/// the keys read them (from a covering index), and their changes.
pub fn key_rows(pool: &Pool, entities: &[String], from: i64, to: i64) -> anyhow::Result<(Vec<KeyRow>, Vec<KeyChange>)> {
    let mut rows: Vec<KeyRow> = Vec::new();
    let mut changes: Vec<KeyChange> = Vec::new();
    with_conn!(pool, |c| {
        for chunk in entities.chunks(CHUNK) {
            let part: Vec<RawKeyRow> = deployments::table
                .filter(deployments::entity_ref.eq_any(chunk))
                .filter(deployments::finished_at.ge(from).and(deployments::finished_at.lt(to)))
                .filter(deployments::tier.eq("production"))
                .filter(deployments::status.eq("success"))
                .select((
                    deployments::seq,
                    deployments::id,
                    deployments::entity_ref,
                    deployments::tier,
                    deployments::status,
                    deployments::finished_at,
                    deployments::version,
                    deployments::rollback_of,
                ))
                .load(c)?;
            rows.extend(part.into_iter().filter_map(|(seq, id, e, t, s, f, v, r)| Some((seq, id, e, t, s, f?, v, r))));
        }
        let mut seqs: Vec<i64> = rows.iter().filter(|r| r.3 == "production" && r.4 == "success").map(|r| r.0).collect();
        seqs.sort_unstable();
        if let (Some(lo), Some(hi)) = (seqs.first(), seqs.last()) {
            let wanted: std::collections::HashSet<i64> = seqs.iter().copied().collect();
            let select =
                (deployment_changes::deployment_seq, deployment_changes::sha, deployment_changes::committed_at);
            // One range read when the rows are dense, else by sequence number.
            if (hi - lo + 1) as usize <= seqs.len() * 4 {
                let all: Vec<KeyChange> = deployment_changes::table
                    .filter(deployment_changes::deployment_seq.between(*lo, *hi))
                    .select(select)
                    .load(c)?;
                changes.extend(all.into_iter().filter(|ch| wanted.contains(&ch.0)));
            } else {
                for chunk in seqs.chunks(CHUNK) {
                    changes.extend(
                        deployment_changes::table
                            .filter(deployment_changes::deployment_seq.eq_any(chunk))
                            .select(select)
                            .load::<KeyChange>(c)?,
                    );
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok((rows, changes))
}

/// The incidents of these entities created in `[from, to)`, and those naming a deployment of
/// theirs finished in `[named_from, named_to)` (one join on the indexed `caused_by`), oldest
/// first.
pub fn incidents_of(
    pool: &Pool,
    entities: &[String],
    (from, to): (i64, i64),
    (named_from, named_to): (i64, i64),
) -> anyhow::Result<Vec<IncidentRow>> {
    let mut rows: Vec<IncidentRow> = Vec::new();
    with_conn!(pool, |c| {
        for chunk in entities.chunks(CHUNK) {
            rows.extend(
                incidents::table
                    .filter(incidents::entity_ref.eq_any(chunk))
                    .filter(incidents::created_at.ge(from).and(incidents::created_at.lt(to)))
                    .select(IncidentRow::as_select())
                    .load(c)?,
            );
            rows.extend(
                incidents::table
                    .inner_join(deployments::table.on(incidents::caused_by.eq(deployments::id.nullable())))
                    .filter(deployments::entity_ref.eq_any(chunk))
                    .filter(deployments::finished_at.ge(named_from).and(deployments::finished_at.lt(named_to)))
                    .select(IncidentRow::as_select())
                    .load(c)?,
            );
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
