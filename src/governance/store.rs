//! All SQL of the portal: its state (a generation counter and its cursor into the catalog's change
//! feed) and the findings table. The catalog's entities are read through the catalog store.
//!
//! Writes are optimistic: [`commit`] applies a recomputation only if no other instance committed
//! one since it was started (the generation it was computed from is still the stored one), so
//! instances sharing a database never interleave their findings.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;

use super::rules::{Finding, Severity};
use crate::db::schema::{findings, portal_state};
use crate::db::{Pool, WriteTransaction, now_ms};
use crate::with_conn;

/// Inserts `(entity ref, finding)` pairs into `findings`, 500 rows a statement (inside a
/// transaction of either backend).
macro_rules! insert_findings {
    ($c:expr, $pairs:expr, $now:expr) => {{
        let rows: Vec<_> = $pairs
            .map(|(key, f)| {
                (
                    findings::entity_ref.eq(key),
                    findings::rule.eq(&f.rule),
                    findings::severity.eq(f.severity.as_str()),
                    findings::message.eq(&f.message),
                    findings::details.eq(f.details.to_string()),
                    findings::source.eq(&f.file),
                    findings::line.eq(f.line),
                    findings::owner.eq(&f.owner),
                    findings::created_at.eq($now),
                )
            })
            .collect();
        for chunk in rows.chunks(500) {
            diesel::insert_into(findings::table).values(chunk).execute($c)?;
        }
    }};
}

/// The stored state: `(generation, event id)`. The generation moves with every committed
/// recomputation; the event id is the last catalog event whose changes the findings reflect.
pub fn state(pool: &Pool) -> anyhow::Result<(i64, i64)> {
    with_conn!(pool, |c| {
        Ok(portal_state::table.find(1).select((portal_state::generation, portal_state::event_id)).first(c)?)
    })
}

/// The current generation: it changes whenever any instance recomputes findings.
pub fn generation(pool: &Pool) -> anyhow::Result<i64> {
    Ok(state(pool)?.0)
}

/// A stored finding, as the table holds it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = findings)]
struct FindingRow {
    entity_ref: String,
    rule: String,
    severity: String,
    message: String,
    details: String,
    source: Option<String>,
    line: Option<i64>,
    owner: Option<String>,
}

fn finding_of(r: FindingRow) -> Finding {
    Finding {
        entity_ref: r.entity_ref,
        rule: r.rule,
        severity: Severity::parse(&r.severity).unwrap_or(Severity::Warning),
        message: r.message,
        details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
        file: r.source,
        line: r.line,
        owner: r.owner,
    }
}

fn group(rows: Vec<FindingRow>) -> HashMap<String, Vec<Finding>> {
    let mut out: HashMap<String, Vec<Finding>> = HashMap::new();
    for r in rows {
        let f = finding_of(r);
        out.entry(f.entity_ref.clone()).or_default().push(f);
    }
    for list in out.values_mut() {
        super::sort_findings(list);
    }
    out
}

/// Every stored finding of governance's own rules (not `external`: the findings sources'), by
/// entity ref key.
pub fn load_findings(pool: &Pool, external: &[&str]) -> anyhow::Result<HashMap<String, Vec<Finding>>> {
    let rows: Vec<FindingRow> = with_conn!(pool, |c| findings::table
        .filter(findings::rule.ne_all(external))
        .filter(findings::rule.not_like(USER_RULES))
        .select(FindingRow::as_select())
        .load(c)?);
    Ok(group(rows))
}

/// Replaces the stored findings of one source's `rules` with `list` when they differ, moving the
/// generation (served entities and views follow). Returns whether anything changed.
/// The rules users write (`<scorecard>/<check>`) as a LIKE pattern: only their ids hold a `/`,
/// never a built-in rule's; they belong to the findings source that declares it writes them.
pub const USER_RULES: &str = "%/%";

pub fn replace_external(pool: &Pool, rules: &[&str], user_rules: bool, list: &[Finding]) -> anyhow::Result<bool> {
    let mut wanted: Vec<&Finding> = list.iter().collect();
    wanted.sort_by(|a, b| (&a.entity_ref, &a.rule, &a.message).cmp(&(&b.entity_ref, &b.rule, &b.message)));
    let now = now_ms();
    let changed = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let mine = || {
                let q = findings::table.into_boxed();
                if user_rules {
                    q.filter(findings::rule.eq_any(rules).or(findings::rule.like(USER_RULES)))
                } else {
                    q.filter(findings::rule.eq_any(rules))
                }
            };
            let mut stored: Vec<Finding> =
                mine().select(FindingRow::as_select()).load(c)?.into_iter().map(finding_of).collect();
            stored.sort_by(|a, b| (&a.entity_ref, &a.rule, &a.message).cmp(&(&b.entity_ref, &b.rule, &b.message)));
            if stored.len() == wanted.len() && stored.iter().zip(&wanted).all(|(a, b)| a == *b) {
                return Ok::<_, anyhow::Error>(false);
            }
            diesel::update(portal_state::table.filter(portal_state::id.eq(1)))
                .set(portal_state::generation.eq(portal_state::generation + 1))
                .execute(c)?;
            if user_rules {
                diesel::delete(
                    findings::table.filter(findings::rule.eq_any(rules).or(findings::rule.like(USER_RULES))),
                )
                .execute(c)?;
            } else {
                diesel::delete(findings::table.filter(findings::rule.eq_any(rules))).execute(c)?;
            }
            insert_findings!(c, wanted.iter().map(|f| (&f.entity_ref, f)), now);
            Ok(true)
        })
    })?;
    if changed {
        pool.note_change();
    }
    Ok(changed)
}

/// The findings of these entities as Backstage status items, by ref key, each list in its
/// stored order. Served with every entity page, so it reads only the columns an item shows.
pub fn status_items_of(pool: &Pool, keys: &[String]) -> anyhow::Result<HashMap<String, Vec<Value>>> {
    type ItemRow = (String, String, String, String);
    let columns = (findings::entity_ref, findings::rule, findings::severity, findings::message);
    let mut rows: Vec<ItemRow> = Vec::new();
    if keys.len() > 2000 {
        // Findings are few next to entities: past a few thousand keys one scan beats many lookups.
        let wanted: std::collections::HashSet<&String> = keys.iter().collect();
        let all: Vec<ItemRow> = with_conn!(pool, |c| findings::table.select(columns).load(c)?);
        rows.extend(all.into_iter().filter(|r| wanted.contains(&r.0)));
    } else {
        for chunk in keys.chunks(500) {
            let found: Vec<ItemRow> = with_conn!(pool, |c| findings::table
                .filter(findings::entity_ref.eq_any(chunk))
                .select(columns)
                .load(c)?);
            rows.extend(found);
        }
    }
    let mut by_key: HashMap<String, Vec<Finding>> = HashMap::new();
    for (entity_ref, rule, severity, message) in rows {
        let f = Finding {
            entity_ref,
            rule,
            severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
            message,
            details: Value::Null,
            file: None,
            line: None,
            owner: None,
        };
        by_key.entry(f.entity_ref.clone()).or_default().push(f);
    }
    Ok(by_key
        .into_iter()
        .map(|(k, mut list)| {
            super::sort_findings(&mut list);
            (k, list.iter().map(Finding::status_item).collect())
        })
        .collect())
}

/// Moves the cursor past events that change nothing governance judges, unless another instance
/// moved it first (the generation stays: findings and the model are unchanged).
pub fn advance_cursor(pool: &Pool, from: i64, to: i64) -> anyhow::Result<()> {
    with_conn!(pool, |c| {
        diesel::update(portal_state::table.filter(portal_state::id.eq(1)).filter(portal_state::event_id.eq(from)))
            .set(portal_state::event_id.eq(to))
            .execute(c)?;
        Ok(())
    })
}

/// Commits one recomputation: replaces the findings of every entity in `writes` and records the
/// catalog event id the findings now reflect, in one transaction, provided the generation is
/// still `expected` (no other instance committed since). Returns the new generation, or `None`
/// when another instance got there first (nothing is written then).
pub fn commit(
    pool: &Pool,
    expected: i64,
    event_id: i64,
    writes: &[(String, Vec<Finding>)],
    external: &[&str],
) -> anyhow::Result<Option<i64>> {
    let now = now_ms();
    let committed = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            let generation: Option<i64> = diesel::update(
                portal_state::table.filter(portal_state::id.eq(1)).filter(portal_state::generation.eq(expected)),
            )
            .set((portal_state::generation.eq(portal_state::generation + 1), portal_state::event_id.eq(event_id)))
            .returning(portal_state::generation)
            .get_result(c)
            .optional()?;
            let Some(generation) = generation else { return Ok::<_, anyhow::Error>(None) };
            let keys: Vec<&String> = writes.iter().map(|(k, _)| k).collect();
            for chunk in keys.chunks(500) {
                // Findings of external rules belong to their source.
                diesel::delete(
                    findings::table
                        .filter(findings::entity_ref.eq_any(chunk))
                        .filter(findings::rule.ne_all(external))
                        .filter(findings::rule.not_like(USER_RULES)),
                )
                .execute(c)?;
            }
            insert_findings!(c, writes.iter().flat_map(|(key, list)| list.iter().map(move |f| (key, f))), now);
            Ok(Some(generation))
        })
    })?;
    if committed.is_some() && !writes.is_empty() {
        // Findings are served in `status.items`: this process's read cache follows at once.
        pool.note_change();
    }
    Ok(committed)
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
    let rows: Vec<FindingRow> = with_conn!(pool, |c| {
        let mut q = findings::table.select(FindingRow::as_select()).into_boxed();
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
}

/// How many findings of each severity each entity has.
pub fn finding_counts(pool: &Pool) -> anyhow::Result<HashMap<String, HashMap<String, i64>>> {
    let rows: Vec<(String, String, i64)> = with_conn!(pool, |c| {
        findings::table
            .group_by((findings::entity_ref, findings::severity))
            .select((findings::entity_ref, findings::severity, diesel::dsl::count_star()))
            .load(c)?
    });
    let mut out: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (e, s, n) in rows {
        out.entry(e).or_default().insert(s, n);
    }
    Ok(out)
}
