//! All SQL of the scaffolder: `scaffolder_tasks` (claimed through their lease, `db::lease`) and
//! `scaffolder_task_events`.

use diesel::prelude::*;

use crate::db::lease::Leases;
use crate::db::schema::{scaffolder_task_events as ev, scaffolder_tasks as t};
use crate::db::{Pool, WriteTransaction};
use crate::with_conn;

/// Tasks are due from their creation until they end (then never again).
pub const TASK_LEASES: Leases = Leases::new("scaffolder_tasks", "due_at");
/// The due time of a task that ended.
pub const NEVER: i64 = i64::MAX;

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = t)]
pub struct TaskRow {
    pub id: String,
    pub spec: String,
    pub status: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub template_dir: Option<String>,
    pub secrets: Option<String>,
    pub cancel_requested: i32,
    pub due_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// What a waiting task waits for: `{approvers, message, stepId}` (JSON).
    pub gate: Option<String>,
    /// The answer to it: `{approved, by, reason, at}` or a callback's `{status, output,
    /// message, at}` (JSON).
    pub decision: Option<String>,
    /// Where a task waiting at a step stopped: `{next, steps, workspace}` (JSON).
    pub checkpoint: Option<String>,
    /// The template it runs (`template:default/x`).
    pub template_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct EventRow {
    pub id: i64,
    pub task_id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
}

/// Whether any task is due (a read, so idle workers do not take the writer every second).
pub fn any_due(pool: &Pool, now: i64) -> anyhow::Result<bool> {
    with_conn!(pool, |c| Ok(t::table.filter(t::due_at.le(now)).select(t::id).first::<String>(c).optional()?.is_some()))
}

/// Stores a new task.
pub fn insert(pool: &Pool, row: &TaskRow) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::insert_into(t::table).values(row).execute(c)?;
        Ok(())
    })
}

pub fn get(pool: &Pool, id: &str) -> anyhow::Result<Option<TaskRow>> {
    with_conn!(pool, |c| Ok(t::table.filter(t::id.eq(id)).first::<TaskRow>(c).optional()?))
}

/// Tasks, newest first, filtered by creator and status; and how many there are in all.
pub fn list(
    pool: &Pool,
    created_by: &[String],
    status: &[String],
    limit: i64,
    offset: i64,
) -> anyhow::Result<(Vec<TaskRow>, i64)> {
    with_conn!(pool, |c| {
        let filtered = || {
            let mut q = t::table.into_boxed();
            if !created_by.is_empty() {
                q = q.filter(t::created_by.eq_any(created_by.to_vec()));
            }
            if !status.is_empty() {
                q = q.filter(t::status.eq_any(status.to_vec()));
            }
            q
        };
        let total: i64 = filtered().count().get_result(c)?;
        let rows = filtered().order(t::created_at.desc()).limit(limit).offset(offset).load::<TaskRow>(c)?;
        Ok((rows, total))
    })
}

/// Adds an event; answers its id.
pub fn event(pool: &Pool, task: &str, kind: &str, body: &str, at: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::insert_into(ev::table)
            .values((ev::task_id.eq(task), ev::event_type.eq(kind), ev::body.eq(body), ev::created_at.eq(at)))
            .execute(c)?;
        Ok(())
    })
}

/// A task's events after `after` (an event id), oldest first.
pub fn events_after(pool: &Pool, task: &str, after: i64) -> anyhow::Result<Vec<EventRow>> {
    with_conn!(pool, |c| Ok(ev::table
        .filter(ev::task_id.eq(task))
        .filter(ev::id.gt(after))
        .order(ev::id.asc())
        .select((ev::id, ev::task_id, ev::event_type, ev::body, ev::created_at))
        .load::<EventRow>(c)?))
}

/// Starts (or resumes) a claimed task: `processing`, the answer it waited for cleared (its
/// secrets stay until it ends: a later wait resumes with them).
pub fn start(pool: &Pool, id: &str, now: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::update(t::table.filter(t::id.eq(id)))
            .set((
                t::status.eq("processing"),
                t::last_heartbeat_at.eq(now),
                t::gate.eq(None::<String>),
                t::decision.eq(None::<String>),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// The running instance's beat: the lease extended, the heartbeat written. Answers whether a
/// cancel was asked for (and false when the lease is no longer this owner's).
pub fn beat(pool: &Pool, id: &str, owner: &str, now: i64, lease_until: i64) -> anyhow::Result<Option<bool>> {
    with_conn!(pool, |c| {
        let n = diesel::update(t::table.filter(t::id.eq(id)).filter(t::lease_owner.eq(owner)))
            .set((t::last_heartbeat_at.eq(now), t::lease_expires_at.eq(lease_until)))
            .execute(c)?;
        if n == 0 {
            return Ok(None);
        }
        let cancel: i32 = t::table.filter(t::id.eq(id)).select(t::cancel_requested).first(c)?;
        Ok(Some(cancel != 0))
    })
}

/// Asks for a task to stop, with the `cancelled` event; false when it had ended already.
pub fn request_cancel(pool: &Pool, id: &str, body: &str, now: i64) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let n = diesel::update(t::table.filter(t::id.eq(id)).filter(t::status.eq_any([
                "open",
                "processing",
                "waiting",
            ])))
            .set(t::cancel_requested.eq(1))
            .execute(c)?;
            if n == 1 {
                diesel::insert_into(ev::table)
                    .values((
                        ev::task_id.eq(id),
                        ev::event_type.eq("cancelled"),
                        ev::body.eq(body),
                        ev::created_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(n == 1)
        })
    })
}

/// Ends a task: its status, its secrets gone, never due again, the lease given back, and the
/// `completion` event, in one transaction.
pub fn complete(pool: &Pool, id: &str, status: &str, body: &str, now: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::update(t::table.filter(t::id.eq(id)))
                .set((
                    t::status.eq(status),
                    t::secrets.eq(None::<String>),
                    t::checkpoint.eq(None::<String>),
                    t::gate.eq(None::<String>),
                    t::due_at.eq(NEVER),
                    t::lease_owner.eq(None::<String>),
                    t::lease_expires_at.eq(None::<i64>),
                ))
                .execute(c)?;
            diesel::insert_into(ev::table)
                .values((
                    ev::task_id.eq(id),
                    ev::event_type.eq("completion"),
                    ev::body.eq(body),
                    ev::created_at.eq(now),
                ))
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// What a task parks with: its gate, where it stopped, when it is due again, its event's body.
#[derive(Clone, Copy)]
pub struct Parking<'a> {
    pub gate: &'a str,
    pub checkpoint: &'a str,
    pub due: i64,
    pub body: &'a str,
}

/// Parks a running task at a step: `waiting` for `gate` until `due` (a timeout; `NEVER`), with
/// where it stopped, the lease given back (no instance holds a waiting task), and its event.
pub fn park(pool: &Pool, id: &str, owner: &str, p: &Parking<'_>, now: i64) -> anyhow::Result<()> {
    let Parking { gate, checkpoint, due, body } = *p;
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::update(t::table.filter(t::id.eq(id)).filter(t::lease_owner.eq(owner)))
                .set((
                    t::status.eq("waiting"),
                    t::gate.eq(gate),
                    t::decision.eq(None::<String>),
                    t::checkpoint.eq(checkpoint),
                    t::due_at.eq(due),
                    t::lease_owner.eq(None::<String>),
                    t::lease_expires_at.eq(None::<i64>),
                ))
                .execute(c)?;
            diesel::insert_into(ev::table)
                .values((ev::task_id.eq(id), ev::event_type.eq("log"), ev::body.eq(body), ev::created_at.eq(now)))
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Records the answer to a waiting task (only while it waits and none was given), with its
/// event; the task is due at once, to go on from where it stopped. False when it was not waiting.
pub fn decide(pool: &Pool, id: &str, decision: &str, body: &str, now: i64) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let waiting = t::table.filter(t::id.eq(id)).filter(t::status.eq("waiting")).filter(t::decision.is_null());
            let n = diesel::update(waiting)
                .set((t::decision.eq(decision), t::status.eq("open"), t::due_at.eq(now)))
                .execute(c)?;
            if n == 1 {
                diesel::insert_into(ev::table)
                    .values((ev::task_id.eq(id), ev::event_type.eq("log"), ev::body.eq(body), ev::created_at.eq(now)))
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(n == 1)
        })
    })
}

/// A progress note on a waiting task (a callback that is not the answer yet): the gate's message
/// replaced, with its event. False when it was not waiting.
pub fn note(pool: &Pool, id: &str, gate: &str, body: &str, now: i64) -> anyhow::Result<bool> {
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let waiting = t::table.filter(t::id.eq(id)).filter(t::status.eq("waiting")).filter(t::decision.is_null());
            let n = diesel::update(waiting).set(t::gate.eq(gate)).execute(c)?;
            if n == 1 {
                diesel::insert_into(ev::table)
                    .values((ev::task_id.eq(id), ev::event_type.eq("log"), ev::body.eq(body), ev::created_at.eq(now)))
                    .execute(c)?;
            }
            Ok::<_, anyhow::Error>(n == 1)
        })
    })
}

/// A task of a template: (template ref, status, created at, ended at: its completion).
pub type TemplateTask = (Option<String>, String, i64, Option<i64>);

/// The tasks of these templates.
pub fn of_templates(pool: &Pool, refs: &[String]) -> anyhow::Result<Vec<TemplateTask>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(pool, |c| {
        let tasks: Vec<(String, Option<String>, String, i64)> = t::table
            .filter(t::template_ref.eq_any(refs.to_vec()))
            .select((t::id, t::template_ref, t::status, t::created_at))
            .load(c)?;
        let ids: Vec<String> = tasks.iter().map(|t| t.0.clone()).collect();
        let mut ended = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<(String, i64)> = ev::table
                .filter(ev::task_id.eq_any(chunk.to_vec()))
                .filter(ev::event_type.eq("completion"))
                .select((ev::task_id, ev::created_at))
                .load(c)?;
            ended.extend(rows);
        }
        Ok(tasks.into_iter().map(|(id, r, s, at)| (r, s, at, ended.get(&id).copied())).collect())
    })
}
