//! All SQL of the portal: the generation counter, reading entities into the model, and the
//! findings table (with each entity's findings mirrored as status items).

use std::collections::HashMap;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde_json::Value;

use super::model::Entity;
use super::rules::{Finding, Severity};
use crate::db::schema::{entities, findings, portal_state};
use crate::db::{Pool, WriteTransaction, now_ms};

/// A connection of either backend, for code that runs several statements on one connection.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the connection inside a [`Conn`], once per backend.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite(inner) => {
                let $c: &mut SqliteConnection = inner;
                $body
            }
            Conn::Postgres(inner) => {
                let $c: &mut PgConnection = inner;
                $body
            }
        }
    };
}

/// Runs `f` inside one writing transaction that first advances the portal generation, so that
/// recomputations are serialised across every instance sharing the database (the counter row
/// stays locked until commit on PostgreSQL; SQLite has one writer). `f` gets the new generation.
pub fn locked<T>(pool: &Pool, f: impl FnOnce(&mut Conn, i64) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let bump = portal_state::generation.eq(portal_state::generation + 1);
    match pool {
        Pool::Sqlite(p, _) => {
            let mut guard = p.get()?;
            guard.write_transaction(|c| {
                let generation: i64 = diesel::update(portal_state::table.find(1))
                    .set(bump)
                    .returning(portal_state::generation)
                    .get_result(c)?;
                f(&mut Conn::Sqlite(c), generation)
            })
        }
        Pool::Postgres(p, _) => {
            let mut guard = p.get()?;
            guard.write_transaction(|c| {
                let generation: i64 = diesel::update(portal_state::table.find(1))
                    .set(bump)
                    .returning(portal_state::generation)
                    .get_result(c)?;
                f(&mut Conn::Postgres(c), generation)
            })
        }
    }
}

/// Runs `f` on a pooled connection, without a transaction.
pub fn session<T>(pool: &Pool, f: impl FnOnce(&mut Conn) -> anyhow::Result<T>) -> anyhow::Result<T> {
    match pool {
        Pool::Sqlite(p, _) => {
            let mut guard = p.get()?;
            f(&mut Conn::Sqlite(&mut guard))
        }
        Pool::Postgres(p, _) => {
            let mut guard = p.get()?;
            f(&mut Conn::Postgres(&mut guard))
        }
    }
}

/// The current generation: it changes whenever any instance recomputes findings.
pub fn generation(conn: &mut Conn) -> anyhow::Result<i64> {
    on_conn!(conn, |c| Ok(portal_state::table.find(1).select(portal_state::generation).first(c)?))
}

/// Stored entities as the model sees them: every one, or those with the given ref keys.
pub fn load_entities(conn: &mut Conn, keys: Option<&[String]>) -> anyhow::Result<Vec<Entity>> {
    let rows: Vec<(String, String, Option<i64>)> = match keys {
        None => {
            on_conn!(conn, |c| entities::table.select((entities::body, entities::source, entities::line)).load(c)?)
        }
        Some(keys) => {
            let mut out = Vec::new();
            for chunk in keys.chunks(500) {
                let found: Vec<(String, String, Option<i64>)> = on_conn!(conn, |c| entities::table
                    .filter(entities::entity_ref.eq_any(chunk))
                    .select((entities::body, entities::source, entities::line))
                    .load(c)?);
                out.extend(found);
            }
            out
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(body, source, line)| {
            let v: Value = serde_json::from_str(&body).ok()?;
            Entity::from_value(&v, Some(&source), line)
        })
        .collect())
}

type FindingRow = (String, String, String, String, String, Option<String>, Option<i64>, Option<String>);

fn finding_of(r: FindingRow) -> Finding {
    Finding {
        entity_ref: r.0,
        rule: r.1,
        severity: Severity::parse(&r.2).unwrap_or(Severity::Warning),
        message: r.3,
        details: serde_json::from_str(&r.4).unwrap_or(Value::Null),
        file: r.5,
        line: r.6,
        owner: r.7,
    }
}

const FINDING_COLUMNS: (
    findings::entity_ref,
    findings::rule,
    findings::severity,
    findings::message,
    findings::details,
    findings::source,
    findings::line,
    findings::owner,
) = (
    findings::entity_ref,
    findings::rule,
    findings::severity,
    findings::message,
    findings::details,
    findings::source,
    findings::line,
    findings::owner,
);

/// Every stored finding, by entity ref key.
pub fn load_findings(conn: &mut Conn) -> anyhow::Result<HashMap<String, Vec<Finding>>> {
    let rows: Vec<FindingRow> = on_conn!(conn, |c| findings::table.select(FINDING_COLUMNS).load(c)?);
    let mut out: HashMap<String, Vec<Finding>> = HashMap::new();
    for r in rows {
        let f = finding_of(r);
        out.entry(f.entity_ref.clone()).or_default().push(f);
    }
    for list in out.values_mut() {
        super::sort_findings(list);
    }
    Ok(out)
}

/// Replaces the findings of one entity, and its status items.
pub fn replace_findings(conn: &mut Conn, key: &str, list: &[Finding]) -> anyhow::Result<()> {
    let now = now_ms();
    let items = if list.is_empty() {
        None
    } else {
        Some(Value::Array(list.iter().map(Finding::status_item).collect()).to_string())
    };
    let rows: Vec<_> = list
        .iter()
        .map(|f| {
            (
                findings::entity_ref.eq(key),
                findings::rule.eq(&f.rule),
                findings::severity.eq(f.severity.as_str()),
                findings::message.eq(&f.message),
                findings::details.eq(f.details.to_string()),
                findings::source.eq(&f.file),
                findings::line.eq(f.line),
                findings::owner.eq(&f.owner),
                findings::created_at.eq(now),
            )
        })
        .collect();
    on_conn!(conn, |c| {
        diesel::delete(findings::table.filter(findings::entity_ref.eq(key))).execute(c)?;
        if !rows.is_empty() {
            diesel::insert_into(findings::table).values(rows).execute(c)?;
        }
        diesel::update(entities::table.filter(entities::entity_ref.eq(key)))
            .set(entities::findings.eq(items))
            .execute(c)?;
        anyhow::Ok(())
    })
}

/// Filters of `GET /api/portal/findings` (all lower-cased).
#[derive(Debug, Default, Clone)]
pub struct FindingFilter {
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub owner: Option<String>,
    pub entity: Option<String>,
}

/// Stored findings matching the filter, ordered by entity, rule and message.
pub fn list_findings(pool: &Pool, filter: &FindingFilter) -> anyhow::Result<Vec<Finding>> {
    session(pool, |conn| {
        let rows: Vec<FindingRow> = on_conn!(conn, |c| {
            let mut q = findings::table.select(FINDING_COLUMNS).into_boxed();
            if let Some(r) = &filter.rule {
                q = q.filter(findings::rule.eq(r.clone()));
            }
            if let Some(s) = &filter.severity {
                q = q.filter(findings::severity.eq(s.clone()));
            }
            if let Some(o) = &filter.owner {
                q = q.filter(findings::owner.eq(o.clone()));
            }
            if let Some(e) = &filter.entity {
                q = q.filter(findings::entity_ref.eq(e.clone()));
            }
            q.order((findings::entity_ref.asc(), findings::rule.asc(), findings::message.asc())).load(c)?
        });
        Ok(rows.into_iter().map(finding_of).collect())
    })
}

/// How many findings of each severity each entity has.
pub fn finding_counts(pool: &Pool) -> anyhow::Result<HashMap<String, HashMap<String, i64>>> {
    session(pool, |conn| {
        let rows: Vec<(String, String, i64)> = on_conn!(conn, |c| findings::table
            .group_by((findings::entity_ref, findings::severity))
            .select((findings::entity_ref, findings::severity, diesel::dsl::count_star()))
            .load(c)?);
        let mut out: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for (e, s, n) in rows {
            out.entry(e).or_default().insert(s, n);
        }
        Ok(out)
    })
}
