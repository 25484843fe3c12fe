//! Subscriptions and their audit trail (`subscriptions`, `subscription_events`).

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::db::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

#[derive(Debug, Clone, QueryableByName)]
pub struct SubscriptionRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub api: String,
    #[diesel(sql_type = Text)]
    pub plan: String,
    #[diesel(sql_type = Text)]
    pub consumer: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub team: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub origin: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub closes_at: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    #[diesel(sql_type = BigInt)]
    pub updated_at: i64,
}

const COLUMNS: &str = "id, api, plan, consumer, team, status, origin, closes_at, created_at, updated_at";

/// One audit record: a transition (`from`/`to`) or a key event (`key_id`).
#[derive(Debug, Clone, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub subscription_id: String,
    #[diesel(sql_type = Text, column_name = "type")]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub key_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub plan: Option<String>,
    #[diesel(sql_type = Text)]
    pub by_who: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub at: i64,
    /// An announcement's body (JSON), on a row with no subscription.
    #[diesel(sql_type = Nullable<Text>)]
    pub payload: Option<String>,
}

/// Records an announcement of another domain (`report.published`, ...) in the audit order, so
/// the outgoing webhooks send it with the audit records. Raw SQL: the audit lock row
/// (`AUDIT_LOCK`) must be taken in the same transaction, as for every audit record.
pub fn announce(pool: &Pool, kind: &str, by: &str, payload: &str, at: i64) -> anyhow::Result<()> {
    let sql = placeholders(
        "INSERT INTO subscription_events (subscription_id, type, by_who, at, payload) VALUES ('', ?, ?, ?, ?)",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            diesel::sql_query(sql.as_str())
                .bind::<Text, _>(kind)
                .bind::<Text, _>(by)
                .bind::<BigInt, _>(at)
                .bind::<Text, _>(payload)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// A new audit record.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub key_id: Option<String>,
    pub plan: Option<String>,
    pub by: String,
    pub reason: Option<String>,
}

fn live_key(api: &str, consumer: &str) -> String {
    format!("{api} {consumer}")
}

pub(super) const INSERT_EVENT: &str = "INSERT INTO subscription_events (subscription_id, type, from_status, to_status, key_id, plan, by_who, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Serialises writers of audit records: on PostgreSQL the row lock is held to commit, so audit
/// ids commit in order and a reader past id *n* never misses a later-committing smaller id.
pub(super) const AUDIT_LOCK: &str = "UPDATE offerings_state SET audit_seq = audit_seq + 1 WHERE id = 1";

/// The bound INSERT of one audit record (`$sql` is [`INSERT_EVENT`] with the backend's placeholders).
macro_rules! event_insert {
    ($sql:expr, $sub:expr, $e:expr, $at:expr) => {
        diesel::sql_query($sql)
            .bind::<Text, _>($sub)
            .bind::<Text, _>(&$e.kind)
            .bind::<Nullable<Text>, _>($e.from.as_deref())
            .bind::<Nullable<Text>, _>($e.to.as_deref())
            .bind::<Nullable<Text>, _>($e.key_id.as_deref())
            .bind::<Nullable<Text>, _>($e.plan.as_deref())
            .bind::<Text, _>(&$e.by)
            .bind::<Nullable<Text>, _>($e.reason.as_deref())
            .bind::<BigInt, _>($at)
    };
}
pub(super) use event_insert;

/// A subscription to insert, with its first audit record.
pub struct NewSubscription {
    pub api: String,
    pub plan: String,
    pub consumer: String,
    pub team: Option<String>,
    pub status: String,
    pub origin: String,
}

/// Inserts a subscription; `None` when the (API, consumer) pair already has a live one.
pub fn insert(pool: &Pool, s: &NewSubscription, event: &NewEvent) -> anyhow::Result<Option<SubscriptionRow>> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let live = super::super::model::Status::parse(&s.status).is_some_and(|st| st.is_live());
    let sql = placeholders(
        "INSERT INTO subscriptions (id, api, plan, consumer, team, status, origin, live_key, closes_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        pool.backend(),
    );
    let ev = placeholders(INSERT_EVENT, pool.backend());
    let result: Result<(), DieselError> = with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            diesel::sql_query(sql.as_str())
                .bind::<Text, _>(&id)
                .bind::<Text, _>(&s.api)
                .bind::<Text, _>(&s.plan)
                .bind::<Text, _>(&s.consumer)
                .bind::<Nullable<Text>, _>(s.team.as_deref())
                .bind::<Text, _>(&s.status)
                .bind::<Text, _>(&s.origin)
                .bind::<Nullable<Text>, _>(live.then(|| live_key(&s.api, &s.consumer)))
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(now)
                .execute(c)?;
            event_insert!(ev.as_str(), &id, event, now).execute(c)?;
            Ok(())
        })
    });
    match result {
        Ok(()) => get(pool, &id),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn get(pool: &Pool, id: &str) -> anyhow::Result<Option<SubscriptionRow>> {
    let sql = placeholders(&format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?"), pool.backend());
    let rows: Vec<SubscriptionRow> =
        with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(id).load(c)?);
    Ok(rows.into_iter().next())
}

/// The live subscription of an (API, consumer) pair.
pub fn live_of(pool: &Pool, api: &str, consumer: &str) -> anyhow::Result<Option<SubscriptionRow>> {
    let sql = placeholders(&format!("SELECT {COLUMNS} FROM subscriptions WHERE live_key = ?"), pool.backend());
    let rows: Vec<SubscriptionRow> =
        with_conn!(pool, |c| diesel::sql_query(sql.as_str()).bind::<Text, _>(live_key(api, consumer)).load(c)?);
    Ok(rows.into_iter().next())
}

/// Filters of a subscription list; they combine.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub api: Option<String>,
    pub consumer: Option<String>,
    pub team: Option<String>,
    pub status: Option<String>,
    pub origin: Option<String>,
    pub live: bool,
}

pub fn list(pool: &Pool, f: &Filter) -> anyhow::Result<Vec<SubscriptionRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE 1 = 1");
    let mut binds: Vec<&str> = Vec::new();
    for (col, v) in
        [("api", &f.api), ("consumer", &f.consumer), ("team", &f.team), ("status", &f.status), ("origin", &f.origin)]
    {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            binds.push(v);
        }
    }
    if f.live {
        sql.push_str(" AND live_key IS NOT NULL");
    }
    sql.push_str(" ORDER BY created_at, id");
    let sql = placeholders(&sql, pool.backend());
    with_conn!(pool, |c| {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed();
        for b in &binds {
            q = q.bind::<Text, _>(*b);
        }
        Ok(q.load(c)?)
    })
}

/// The audit records of these subscriptions, oldest first.
pub fn events_of(pool: &Pool, ids: &[String]) -> anyhow::Result<Vec<EventRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = placeholders(
            &format!(
                "SELECT id, subscription_id, type, from_status, to_status, key_id, plan, by_who, reason, at, payload \
                 FROM subscription_events WHERE subscription_id IN ({marks}) ORDER BY id"
            ),
            pool.backend(),
        );
        let rows: Vec<EventRow> = with_conn!(pool, |c| {
            let mut q = diesel::sql_query(sql.as_str()).into_boxed();
            for id in chunk {
                q = q.bind::<Text, _>(id);
            }
            q.load(c)?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// Every audit record after an id (for notifications), oldest first.
pub fn events_after(pool: &Pool, after: i64, limit: i64) -> anyhow::Result<Vec<EventRow>> {
    let sql = placeholders(
        "SELECT id, subscription_id, type, from_status, to_status, key_id, plan, by_who, reason, at, payload \
         FROM subscription_events WHERE id > ? ORDER BY id LIMIT ?",
        pool.backend(),
    );
    with_conn!(pool, |c| Ok(diesel::sql_query(sql.as_str())
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load(c)?))
}

/// Moves a subscription from `from` to `to` (and onto `plan`), recording the event, only if it
/// is still in the state and on the plan `sub` says: `false` when another request changed it first.
pub fn transition(pool: &Pool, sub: &SubscriptionRow, to: &str, plan: &str, event: &NewEvent) -> anyhow::Result<bool> {
    let now = now_ms();
    let live = super::super::model::Status::parse(to).is_some_and(|st| st.is_live());
    let sql = placeholders(
        "UPDATE subscriptions SET status = ?, plan = ?, live_key = ?, closes_at = NULL, updated_at = ? \
         WHERE id = ? AND status = ? AND plan = ?",
        pool.backend(),
    );
    let ev = placeholders(INSERT_EVENT, pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(AUDIT_LOCK).execute(c)?;
            let n = diesel::sql_query(sql.as_str())
                .bind::<Text, _>(to)
                .bind::<Text, _>(plan)
                .bind::<Nullable<Text>, _>(live.then(|| live_key(&sub.api, &sub.consumer)))
                .bind::<BigInt, _>(now)
                .bind::<Text, _>(&sub.id)
                .bind::<Text, _>(&sub.status)
                .bind::<Text, _>(&sub.plan)
                .execute(c)?;
            if n == 0 {
                return Ok(false);
            }
            event_insert!(ev.as_str(), &sub.id, event, now).execute(c)?;
            Ok::<_, anyhow::Error>(true)
        })
    })
}

/// Sets or clears when a descriptor-made subscription closes.
pub fn set_closes_at(pool: &Pool, id: &str, at: Option<i64>) -> anyhow::Result<()> {
    let sql = placeholders("UPDATE subscriptions SET closes_at = ? WHERE id = ?", pool.backend());
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str()).bind::<Nullable<BigInt>, _>(at).bind::<Text, _>(id).execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

/// Live subscriptions per (API, plan).
pub fn live_counts(pool: &Pool) -> anyhow::Result<Vec<(String, String, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        api: String,
        #[diesel(sql_type = Text)]
        plan: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = with_conn!(pool, |c| {
        diesel::sql_query(
            "SELECT api, plan, COUNT(*) AS n FROM subscriptions WHERE live_key IS NOT NULL GROUP BY api, plan",
        )
        .load(c)?
    });
    Ok(rows.into_iter().map(|r| (r.api, r.plan, r.n)).collect())
}
