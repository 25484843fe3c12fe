//! Which instances are alive: every serving process writes a heartbeat row (`instances`) once a
//! second, and deletes it when it stops. A lease whose owner's instance stopped beating for
//! [`STALE_MS`] is free at once (see `db::lease`), so a process restarted after a crash (`kill
//! -9`, a lost machine) takes over its predecessor's work in seconds instead of waiting for
//! `catalog.lease_secs`. Owners that never registered (older versions, the CLI) keep the expiry
//! rule alone. Faster still, a starting process asks each instance that still looks alive for
//! its liveness lock (`db::liveness`): one whose lock is free died, and is marked so at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::liveness::Liveness;
use super::{Pool, WriteTransaction, now_ms, placeholders};
use crate::with_conn;

/// How often an instance beats.
pub const BEAT: Duration = Duration::from_secs(1);
/// An instance silent for this long is taken for dead.
pub const STALE_MS: i64 = 3_000;
/// Rows of instances dead this long are deleted.
const FORGET_MS: i64 = 86_400_000;

/// Writes this instance's heartbeat on a thread of its own until dropped; the row is deleted
/// when it stops.
pub struct Heartbeat {
    stop: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Takes this instance's liveness lock, registers `id` (synchronously, so leases taken
    /// next are covered), marks dead the instances whose lock is free, and starts beating.
    pub fn start(pool: Pool, url: &str, id: &str) -> anyhow::Result<Self> {
        let mut liveness = Liveness::hold(url, id)?;
        beat(&pool, id)?;
        let reaped = mark_dead(&pool, id, &liveness)?;
        if reaped > 0 {
            tracing::info!(instances = reaped, "Taking over the leases of instances that stopped without a word.");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let id = id.to_owned();
        std::thread::Builder::new().name("portolan-heartbeat".into()).spawn(move || {
            let mut last_prune = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(BEAT);
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(e) = liveness.ensure() {
                    tracing::warn!(
                        error.cause = format!("{e:#}"),
                        "Holding this instance's liveness lock failed; retrying."
                    );
                }
                if let Err(e) = beat(&pool, &id) {
                    tracing::warn!(
                        error.cause = format!("{e:#}"),
                        "Writing this instance's heartbeat failed; retrying."
                    );
                }
                if last_prune.elapsed() > Duration::from_secs(600) {
                    last_prune = Instant::now();
                    let _ = forget_dead(&pool, now_ms() - FORGET_MS);
                }
            }
            let _ = remove(&pool, &id);
            liveness.release();
        })?;
        Ok(Self { stop })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn beat(pool: &Pool, id: &str) -> anyhow::Result<()> {
    let now = now_ms();
    let sql = placeholders(
        "INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        pool.backend(),
    );
    with_conn!(pool, |c| {
        c.write_transaction(|c| {
            diesel::sql_query(sql.as_str())
                .bind::<Text, _>(id)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(now)
                .execute(c)?;
            Ok::<_, anyhow::Error>(())
        })
    })
}

#[derive(QueryableByName)]
struct Beat {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    heartbeat_at: i64,
}

/// Marks dead (heartbeat 0) every other instance that still looks alive but whose liveness lock
/// is free. A row is changed only if it did not beat since it was read. Returns how many.
fn mark_dead(pool: &Pool, me: &str, liveness: &Liveness) -> anyhow::Result<usize> {
    let b = pool.backend();
    let select = placeholders("SELECT id, heartbeat_at FROM instances WHERE id <> ? AND heartbeat_at >= ?", b);
    let rows: Vec<Beat> = with_conn!(pool, |c| diesel::sql_query(select.as_str())
        .bind::<Text, _>(me)
        .bind::<BigInt, _>(now_ms() - STALE_MS)
        .load(c)?);
    let update = placeholders("UPDATE instances SET heartbeat_at = 0 WHERE id = ? AND heartbeat_at = ?", b);
    let mut n = 0;
    for r in rows {
        if liveness.is_dead(pool, &r.id) {
            n += with_conn!(pool, |c| diesel::sql_query(update.as_str())
                .bind::<Text, _>(&r.id)
                .bind::<BigInt, _>(r.heartbeat_at)
                .execute(c)?);
            liveness.forget(&r.id);
        }
    }
    Ok(n)
}

fn remove(pool: &Pool, id: &str) -> anyhow::Result<()> {
    let sql = placeholders("DELETE FROM instances WHERE id = ?", pool.backend());
    with_conn!(pool, |c| {
        diesel::sql_query(sql.as_str()).bind::<Text, _>(id).execute(c)?;
        Ok(())
    })
}

fn forget_dead(pool: &Pool, before: i64) -> anyhow::Result<()> {
    let sql = placeholders("DELETE FROM instances WHERE heartbeat_at < ?", pool.backend());
    with_conn!(pool, |c| {
        diesel::sql_query(sql.as_str()).bind::<BigInt, _>(before).execute(c)?;
        Ok(())
    })
}

/// The SQL condition under which a lease is free: no lease, an expired one, or one whose owner
/// (`<instance>` or `<instance>/<processing>`) belongs to another instance that stopped beating.
/// Binds, in order: now, the stale threshold (now − [`STALE_MS`]), the claimer's own instance.
pub const LEASE_FREE: &str = "(lease_expires_at IS NULL OR lease_expires_at < ? OR EXISTS (SELECT 1 FROM instances i \
     WHERE i.heartbeat_at < ? AND i.id <> ? AND (lease_owner = i.id OR lease_owner LIKE i.id || '/%')))";

/// The instance part of a lease owner.
pub fn instance_of(owner: &str) -> &str {
    owner.split('/').next().unwrap_or(owner)
}
