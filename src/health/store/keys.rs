//! What the four keys read without reading every deployment: `change_leads` (each change's
//! first counted deployment) and `deployment_weeks` (per entity and week, see
//! [`crate::health::weeks`]), both kept by [`keep_health!`] in the transaction that writes the
//! deployments; and the few rows failures need (deployments named by `rollbackOf` or by an
//! incident, the deployment an incident follows).
//!
//! "Counted" is the model's rule, written here as SQL: production tier, `success`, finished.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::{ChangeRow, DeploymentRow};
use crate::db::schema::deployments;
use crate::db::{Pool, WriteTransaction, placeholders};
use crate::health::weeks::{self, Marks, Week, week_of};
use crate::with_conn;

/// A deployment the keys count, as SQL (over the table or an alias of it).
fn counted(alias: &str) -> String {
    format!("{alias}.tier = 'production' AND {alias}.status = 'success' AND {alias}.finished_at IS NOT NULL")
}

/// Refs per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const REFS: usize = 5_000;

/// The chunks of a scope's refs; one `None` for every entity.
fn chunks(entities: Option<&[String]>) -> Vec<Option<&[String]>> {
    match entities {
        Some([]) => Vec::new(),
        Some(e) => e.chunks(REFS).map(Some).collect(),
        None => vec![None],
    }
}

/// What a write changes of the parts the keys read: kept by [`keep_health!`] in its transaction.
#[derive(Debug, Default)]
pub struct HealthWork {
    /// (entity, sha) -> (finished, deployment id, committed at) of the earliest new counted
    /// deployment of the batch that shipped it.
    pub(super) shipped: HashMap<(String, String), (i64, String, i64)>,
    /// Per entity, shas whose first counted deployment is found again from the stored rows (an
    /// update may have moved, uncounted or re-attributed a deployment).
    pub(super) again: BTreeMap<String, BTreeSet<String>>,
    /// (entity, week) rows to build again.
    pub(super) weeks: BTreeSet<(String, i64)>,
    /// Deployments named by `rollbackOf` of a written deployment: their weeks are built again.
    pub(super) named: BTreeSet<String>,
}

impl HealthWork {
    /// A new counted deployment and its changes.
    pub fn shipped(&mut self, r: &DeploymentRow, changes: &[ChangeRow]) {
        let Some(finished) = r.finished_at else { return };
        for ch in changes {
            keep_earliest(
                &mut self.shipped,
                (r.entity_ref.clone(), ch.sha.clone()),
                (finished, r.id.clone(), ch.committed_at),
            );
        }
    }

    pub fn again(&mut self, entity: &str, shas: &[String]) {
        if !shas.is_empty() {
            self.again.entry(entity.to_owned()).or_default().extend(shas.iter().cloned());
        }
    }

    /// The week of a counted deployment (as it was, or as it is now) is built again, and the
    /// week of the deployment it names in `rollbackOf`.
    pub fn week(&mut self, r: &DeploymentRow) {
        if let Some(f) = r.finished_at.filter(|_| super::counts(r)) {
            self.weeks.insert((r.entity_ref.clone(), week_of(f)));
            self.named.extend(r.rollback_of.iter().cloned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.shipped.is_empty() && self.again.is_empty() && self.weeks.is_empty() && self.named.is_empty()
    }
}

/// The PostgreSQL advisory lock a transaction writing deployments holds: a week is built from
/// what the transaction reads, so two writers touching the same week must not interleave (one
/// would write a week without the other's deployments). SQLite's writer is one already.
pub const WRITE_LOCK: i64 = 0x706f_7274_6f6c_0027;

/// Takes [`WRITE_LOCK`] on PostgreSQL, at the start of a write transaction.
macro_rules! health_write_lock {
    ($c:expr, $backend:expr) => {
        if $backend == $crate::db::Backend::Postgres {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>($crate::health::store::keys::WRITE_LOCK)
                .execute($c)?;
        }
    };
}

/// A change's first deployment: keeps `at` (finished, deployment id, committed at) under `key`
/// unless an earlier deployment (by finish, then id) is there.
pub fn keep_earliest<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, (i64, String, i64)>,
    key: K,
    at: (i64, String, i64),
) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(at);
        }
        std::collections::hash_map::Entry::Occupied(mut o) => {
            if (at.0, &at.1) < (o.get().0, &o.get().1) {
                o.insert(at);
            }
        }
    }
}

/// Rows per upsert statement (5 parameters each).
pub const LEAD_ROWS: usize = 500;

/// The upsert of `n` shipped changes: a stored lead is replaced only by an earlier deployment.
pub fn upsert_sql(n: usize) -> String {
    format!(
        "INSERT INTO change_leads (entity_ref, sha, deployed_at, committed_at, deployment_id) VALUES {} \
         ON CONFLICT (entity_ref, sha) DO UPDATE SET deployed_at = excluded.deployed_at, \
         committed_at = excluded.committed_at, deployment_id = excluded.deployment_id \
         WHERE excluded.deployed_at < change_leads.deployed_at \
         OR (excluded.deployed_at = change_leads.deployed_at AND excluded.deployment_id < change_leads.deployment_id)",
        vec!["(?, ?, ?, ?, ?)"; n].join(", ")
    )
}

/// The stored leads of `n` (entity, sha) pairs, each looked up by the primary key (with a
/// row-value `IN` makes SQLite scan the table).
pub fn stored_leads_sql(n: usize) -> String {
    format!(
        "SELECT c.entity_ref, c.sha, c.deployed_at FROM (VALUES {}) v JOIN change_leads c \
         ON c.entity_ref = v.column1 AND c.sha = v.column2",
        vec!["(?, ?)"; n].join(", ")
    )
}

#[derive(QueryableByName)]
pub struct StoredLead {
    #[diesel(sql_type = Text)]
    pub entity_ref: String,
    #[diesel(sql_type = Text)]
    pub sha: String,
    #[diesel(sql_type = BigInt)]
    pub deployed_at: i64,
}

/// A week's row as stored.
type WeekRow = (String, i64, Vec<u8>, Vec<u8>, i64, Option<String>, String, i64, Option<String>, Option<String>);

fn week_of_row(r: WeekRow) -> Week {
    let (entity, week, days, leads, first_finished, first_version, last_id, last_finished, last_version, marks) = r;
    Week {
        entity,
        week,
        days: weeks::decode_days(&days),
        leads: weeks::decode_leads(&leads).collect(),
        first_finished,
        first_version,
        last_id,
        last_finished,
        last_version,
        marks: marks.and_then(|m| serde_json::from_str::<Marks>(&m).ok()).unwrap_or_default(),
    }
}

/// Keeps `change_leads` and `deployment_weeks` in a write transaction, after the batch's
/// deployments and changes are written: shipped changes are upserted (the earliest deployment
/// wins), the changes of updated deployments found again from the stored rows, then every week
/// these touched is built again from the stored rows.
macro_rules! keep_health {
    ($c:expr, $work:expr, $backend:expr) => {{
        use diesel::sql_types::{BigInt, Text};
        use $crate::db::schema::{change_leads, deployment_changes, deployment_weeks, deployments};
        use $crate::health::weeks::{self, WeekDeployment, week_of, week_start};
        let mut work: $crate::health::store::keys::HealthWork = $work;
        let shipped: Vec<_> = std::mem::take(&mut work.shipped).into_iter().collect();
        for part in shipped.chunks($crate::health::store::keys::LEAD_ROWS) {
            // A lead moving to an earlier deployment leaves its old week.
            let sql = $crate::db::placeholders(&$crate::health::store::keys::stored_leads_sql(part.len()), $backend);
            let mut q = diesel::sql_query(sql).into_boxed();
            for ((entity, sha), _) in part {
                q = q.bind::<Text, _>(entity).bind::<Text, _>(sha);
            }
            let stored: Vec<$crate::health::store::keys::StoredLead> = q.load($c)?;
            let by: std::collections::HashMap<(&str, &str), i64> =
                stored.iter().map(|s| ((s.entity_ref.as_str(), s.sha.as_str()), s.deployed_at)).collect();
            for ((entity, sha), (finished, _, _)) in part {
                if let Some(&old) = by.get(&(entity.as_str(), sha.as_str()))
                    && old > *finished
                {
                    work.weeks.insert((entity.clone(), week_of(old)));
                }
            }
            let sql = $crate::db::placeholders(&$crate::health::store::keys::upsert_sql(part.len()), $backend);
            let mut q = diesel::sql_query(sql).into_boxed();
            for ((entity, sha), (finished, id, committed)) in part {
                q = q
                    .bind::<Text, _>(entity)
                    .bind::<Text, _>(sha)
                    .bind::<BigInt, _>(*finished)
                    .bind::<BigInt, _>(*committed)
                    .bind::<Text, _>(id);
            }
            q.execute($c)?;
        }
        for (entity, shas) in std::mem::take(&mut work.again) {
            let shas: Vec<String> = shas.into_iter().collect();
            for part in shas.chunks($crate::health::store::CHUNK) {
                let gone = change_leads::table
                    .filter(change_leads::entity_ref.eq(&entity))
                    .filter(change_leads::sha.eq_any(part));
                for at in gone.clone().select(change_leads::deployed_at).load::<i64>($c)? {
                    work.weeks.insert((entity.clone(), week_of(at)));
                }
                diesel::delete(gone).execute($c)?;
                let found: Vec<(String, Option<i64>, String, i64)> = deployment_changes::table
                    .inner_join(deployments::table)
                    .filter(deployments::entity_ref.eq(&entity))
                    .filter(deployments::tier.eq("production"))
                    .filter(deployments::status.eq("success"))
                    .filter(deployments::finished_at.is_not_null())
                    .filter(deployment_changes::sha.eq_any(part))
                    .select((
                        deployment_changes::sha,
                        deployments::finished_at,
                        deployments::id,
                        deployment_changes::committed_at,
                    ))
                    .load($c)?;
                let mut first: std::collections::HashMap<String, (i64, String, i64)> = Default::default();
                for (sha, finished, id, committed) in found {
                    $crate::health::store::keys::keep_earliest(
                        &mut first,
                        sha,
                        (finished.unwrap_or_default(), id, committed),
                    );
                }
                let rows: Vec<_> = first
                    .iter()
                    .map(|(sha, (finished, id, committed))| {
                        work.weeks.insert((entity.clone(), week_of(*finished)));
                        (
                            change_leads::entity_ref.eq(&entity),
                            change_leads::sha.eq(sha),
                            change_leads::deployed_at.eq(*finished),
                            change_leads::committed_at.eq(*committed),
                            change_leads::deployment_id.eq(id),
                        )
                    })
                    .collect();
                for rows in rows.chunks($crate::health::store::CHUNK / 5) {
                    diesel::insert_into(change_leads::table).values(rows).execute($c)?;
                }
            }
        }
        // Deployments named by a rollback: their weeks say so.
        let named: Vec<String> = std::mem::take(&mut work.named).into_iter().collect();
        for part in named.chunks($crate::health::store::CHUNK) {
            let found: Vec<(String, Option<i64>)> = deployments::table
                .filter(deployments::id.eq_any(part))
                .filter(deployments::tier.eq("production"))
                .filter(deployments::status.eq("success"))
                .select((deployments::entity_ref, deployments::finished_at))
                .load($c)?;
            work.weeks.extend(found.into_iter().filter_map(|(e, f)| Some((e, week_of(f?)))));
        }
        // The weeks: per week and chunk of entities, one read of deployments, one of the
        // rollbacks naming them, one of leads.
        let mut by_week: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for (entity, week) in std::mem::take(&mut work.weeks) {
            by_week.entry(week).or_default().push(entity);
        }
        for (week, entities) in by_week {
            let (from, to) = (week_start(week), week_start(week + 1));
            for chunk in entities.chunks($crate::health::store::CHUNK) {
                let deps: Vec<(String, String, Option<i64>, Option<String>)> = deployments::table
                    .filter(deployments::entity_ref.eq_any(chunk))
                    .filter(deployments::tier.eq("production"))
                    .filter(deployments::status.eq("success"))
                    .filter(deployments::finished_at.ge(from).and(deployments::finished_at.lt(to)))
                    .select((deployments::entity_ref, deployments::id, deployments::finished_at, deployments::version))
                    .load($c)?;
                let mut named_by: std::collections::HashMap<(String, String), Vec<i64>> = Default::default();
                let ids: Vec<&str> = deps.iter().map(|d| d.1.as_str()).collect();
                for part in ids.chunks($crate::health::store::CHUNK) {
                    let by: Vec<(String, Option<String>, Option<i64>)> = deployments::table
                        .filter(deployments::rollback_of.eq_any(part))
                        .filter(deployments::tier.eq("production"))
                        .filter(deployments::status.eq("success"))
                        .select((deployments::entity_ref, deployments::rollback_of, deployments::finished_at))
                        .load($c)?;
                    for (entity, target, finished) in by {
                        if let (Some(target), Some(f)) = (target, finished) {
                            named_by.entry((entity, target)).or_default().push(f);
                        }
                    }
                }
                let leads: Vec<(String, i64, i64)> = change_leads::table
                    .filter(change_leads::entity_ref.eq_any(chunk))
                    .filter(change_leads::deployed_at.ge(from).and(change_leads::deployed_at.lt(to)))
                    .select((change_leads::entity_ref, change_leads::deployed_at, change_leads::committed_at))
                    .load($c)?;
                let mut of: std::collections::HashMap<String, (Vec<WeekDeployment>, Vec<(i64, i64)>)> =
                    Default::default();
                for (entity, id, finished, version) in deps {
                    let Some(finished_at) = finished else { continue };
                    let named_by = named_by.remove(&(entity.clone(), id.clone())).unwrap_or_default();
                    of.entry(entity).or_default().0.push(WeekDeployment { id, finished_at, version, named_by });
                }
                for (entity, deployed, committed) in leads {
                    of.entry(entity).or_default().1.push((deployed, committed));
                }
                // Upserts (an update in place, which PostgreSQL can make without new index
                // entries), and deletes only the weeks left without a deployment.
                let built: Vec<_> = of
                    .into_iter()
                    .filter_map(|(entity, (deps, leads))| weeks::build(&entity, week, deps, &leads))
                    .collect();
                let kept: std::collections::HashSet<&str> = built.iter().map(|w| w.entity.as_str()).collect();
                let empty: Vec<&String> = chunk.iter().filter(|e| !kept.contains(e.as_str())).collect();
                if !empty.is_empty() {
                    diesel::delete(
                        deployment_weeks::table
                            .filter(deployment_weeks::week.eq(week))
                            .filter(deployment_weeks::entity_ref.eq_any(empty)),
                    )
                    .execute($c)?;
                }
                let built: Vec<_> = built
                    .into_iter()
                    .map(|w| {
                        let marks =
                            (w.marks != Default::default()).then(|| serde_json::to_string(&w.marks)).transpose();
                        marks.map(|marks| {
                            (
                                deployment_weeks::entity_ref.eq(w.entity),
                                deployment_weeks::week.eq(w.week),
                                deployment_weeks::days.eq(weeks::encode_days(&w.days)),
                                deployment_weeks::leads.eq(weeks::encode_leads(&w.leads)),
                                deployment_weeks::first_finished.eq(w.first_finished),
                                deployment_weeks::first_version.eq(w.first_version),
                                deployment_weeks::last_id.eq(w.last_id),
                                deployment_weeks::last_finished.eq(w.last_finished),
                                deployment_weeks::last_version.eq(w.last_version),
                                deployment_weeks::marks.eq(marks),
                            )
                        })
                    })
                    .collect::<Result<_, serde_json::Error>>()?;
                for rows in built.chunks($crate::health::store::CHUNK / 10) {
                    use diesel::upsert::excluded;
                    diesel::insert_into(deployment_weeks::table)
                        .values(rows)
                        .on_conflict((deployment_weeks::entity_ref, deployment_weeks::week))
                        .do_update()
                        .set((
                            deployment_weeks::days.eq(excluded(deployment_weeks::days)),
                            deployment_weeks::leads.eq(excluded(deployment_weeks::leads)),
                            deployment_weeks::first_finished.eq(excluded(deployment_weeks::first_finished)),
                            deployment_weeks::first_version.eq(excluded(deployment_weeks::first_version)),
                            deployment_weeks::last_id.eq(excluded(deployment_weeks::last_id)),
                            deployment_weeks::last_finished.eq(excluded(deployment_weeks::last_finished)),
                            deployment_weeks::last_version.eq(excluded(deployment_weeks::last_version)),
                            deployment_weeks::marks.eq(excluded(deployment_weeks::marks)),
                        ))
                        .execute($c)?;
                }
            }
        }
    }};
}

/// The weeks of these entities (every entity for `None`) from `from_week` to `to_week`
/// inclusive, in no order (sorting by text in PostgreSQL goes through the collation).
pub fn weeks_of(pool: &Pool, entities: Option<&[String]>, from_week: i64, to_week: i64) -> anyhow::Result<Vec<Week>> {
    use crate::db::schema::deployment_weeks as w;
    let mut out = Vec::new();
    with_conn!(pool, |c| {
        for refs in chunks(entities) {
            let mut q = w::table
                .filter(w::week.ge(from_week).and(w::week.le(to_week)))
                .select((
                    w::entity_ref,
                    w::week,
                    w::days,
                    w::leads,
                    w::first_finished,
                    w::first_version,
                    w::last_id,
                    w::last_finished,
                    w::last_version,
                    w::marks,
                ))
                .into_boxed();
            if let Some(refs) = refs {
                q = q.filter(w::entity_ref.eq_any(refs));
            }
            let rows: Vec<WeekRow> = q.load(c)?;
            out.extend(rows.into_iter().map(week_of_row));
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(out)
}

/// Builds every week again from the stored deployments (at start, when the weeks are empty and
/// deployments are not: written before the weeks existed). Answers how many weeks were built.
pub fn build_weeks_if_missing(pool: &Pool) -> anyhow::Result<usize> {
    use crate::db::schema::deployment_weeks as w;
    let backend = pool.backend();
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            health_write_lock!(c, backend);
            if w::table.select(w::week).first::<i64>(c).optional()?.is_some() {
                return Ok(0);
            }
            let all: Vec<(String, Option<i64>)> = deployments::table
                .filter(deployments::tier.eq("production"))
                .filter(deployments::status.eq("success"))
                .filter(deployments::finished_at.is_not_null())
                .select((deployments::entity_ref, deployments::finished_at))
                .load(c)?;
            let mut work = HealthWork::default();
            work.weeks.extend(all.into_iter().filter_map(|(e, f)| Some((e, week_of(f?)))));
            let n = work.weeks.len();
            if n > 0 {
                keep_health!(c, work, backend);
            }
            Ok::<_, anyhow::Error>(n)
        })
    })
}

/// An incident as the keys read it, with the deployment it is tied to resolved in SQL.
#[derive(Debug, QueryableByName)]
pub struct IncidentLink {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub entity_ref: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub resolved_at: Option<i64>,
    /// The deployment named by `causedBy`, when it counts and finished in the read range.
    #[diesel(sql_type = Nullable<Text>)]
    pub named_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub named_entity: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub named_finished: Option<i64>,
    /// Else the last counted deployment of the incident's entity finished in the read range at or
    /// before it was created (the greatest id among those finished at that instant).
    #[diesel(sql_type = Nullable<Text>)]
    pub before_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub before_finished: Option<i64>,
}

/// In one statement: the incidents of these entities created in `created`, and those naming a
/// counted deployment of theirs finished in `named`, each with the deployment it is tied to
/// (named, else by time) among counted deployments finished in `read`.
pub fn incident_links(
    pool: &Pool,
    entities: &[String],
    created: (i64, i64),
    named: (i64, i64),
    read: (i64, i64),
) -> anyhow::Result<Vec<IncidentLink>> {
    // The refs as one JSON parameter: a short statement to plan, whatever the scope's size.
    let refs = match pool.backend() {
        crate::db::Backend::Sqlite => "IN (SELECT value FROM json_each(?))",
        crate::db::Backend::Postgres => "IN (SELECT jsonb_array_elements_text(CAST(? AS jsonb)))",
    };
    // `p` is materialized: its `before_finished` is computed once, not once per use.
    let sql = format!(
        "WITH p AS MATERIALIZED (SELECT i.id, i.entity_ref, i.resolved_at, nd.id AS named_id, \
         nd.entity_ref AS named_entity, nd.finished_at AS named_finished, \
         CASE WHEN nd.id IS NULL OR nd.entity_ref <> i.entity_ref THEN \
         (SELECT d.finished_at FROM deployments d WHERE d.entity_ref = i.entity_ref AND {d} \
         AND d.finished_at >= ? AND d.finished_at < ? AND d.finished_at <= i.created_at \
         ORDER BY d.finished_at DESC LIMIT 1) END AS before_finished \
         FROM incidents i LEFT JOIN deployments nd ON nd.id = i.caused_by AND {nd} \
         AND nd.finished_at >= ? AND nd.finished_at < ? \
         WHERE (i.entity_ref {refs} AND i.created_at >= ? AND i.created_at < ?) \
         OR i.id IN (SELECT i2.id FROM incidents i2 CROSS JOIN deployments d2 \
         WHERE i2.caused_by IS NOT NULL AND d2.id = i2.caused_by AND d2.entity_ref {refs} \
         AND d2.finished_at >= ? AND d2.finished_at < ?)) \
         SELECT p.id, p.entity_ref, p.resolved_at, p.named_id, p.named_entity, p.named_finished, \
         p.before_finished, CASE WHEN p.before_finished IS NOT NULL THEN \
         (SELECT MAX(d.id) FROM deployments d WHERE d.entity_ref = p.entity_ref AND {d} \
         AND d.finished_at = p.before_finished) END AS before_id FROM p",
        d = counted("d"),
        nd = counted("nd"),
    );
    let sql = placeholders(&sql, pool.backend());
    let json = serde_json::to_string(entities)?;
    let mut out: Vec<IncidentLink> = with_conn!(pool, |c| {
        let q = diesel::sql_query(sql.as_str())
            .bind::<BigInt, _>(read.0)
            .bind::<BigInt, _>(read.1)
            .bind::<BigInt, _>(read.0)
            .bind::<BigInt, _>(read.1)
            .bind::<Text, _>(&json)
            .bind::<BigInt, _>(created.0)
            .bind::<BigInt, _>(created.1)
            .bind::<Text, _>(&json)
            .bind::<BigInt, _>(named.0)
            .bind::<BigInt, _>(named.1);
        Ok::<_, anyhow::Error>(q.load(c)?)
    })?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}
