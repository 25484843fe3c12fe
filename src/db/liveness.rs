//! Proof that an instance is alive, which the operating system or the database withdraws the
//! moment its process dies: on PostgreSQL a session-level advisory lock held on a connection of
//! its own (the server drops it with the connection), on SQLite an exclusive lock on a file of
//! its own beside the database (the kernel drops it with the process). A process that starts
//! probes the instances that still look alive by their heartbeat; one whose lock it can take is
//! dead, and its leases are free at once instead of after [`super::instances::STALE_MS`].

use std::fs::File;
use std::path::PathBuf;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use super::{Backend, Pool, backend_of};

/// One instance's lock, held while it runs.
pub enum Liveness {
    Postgres {
        url: String,
        key: i64,
        conn: Option<PgConnection>,
    },
    Sqlite {
        file: PathBuf,
        held: Option<File>,
    },
    /// An in-memory SQLite database: one process by definition; nothing to hold.
    Nothing,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// The advisory lock key of an instance (FNV-1a of its id, in a namespace of portolan's own).
fn key(id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "portolan-instance:".bytes().chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Where instances of the SQLite database at `path` keep their lock files.
fn lock_dir(path: &str) -> Option<PathBuf> {
    (!path.is_empty() && !path.starts_with(":memory:") && !path.contains("mode=memory"))
        .then(|| PathBuf::from(format!("{path}-instances")))
}

impl Liveness {
    /// Takes this instance's lock (before its heartbeat row exists, so every row that looks
    /// alive belongs to a process holding its lock, or to a dead one).
    pub fn hold(url: &str, id: &str) -> anyhow::Result<Self> {
        let (backend, target) = backend_of(url)?;
        let mut me = match backend {
            Backend::Postgres => Liveness::Postgres { url: target, key: key(id), conn: None },
            Backend::Sqlite => match lock_dir(&target) {
                Some(dir) => Liveness::Sqlite { file: dir.join(id), held: None },
                None => Liveness::Nothing,
            },
        };
        me.ensure()?;
        Ok(me)
    }

    /// Holds the lock again if it was lost (PostgreSQL restarted, the connection dropped).
    pub fn ensure(&mut self) -> anyhow::Result<()> {
        match self {
            Liveness::Postgres { url, key, conn } => {
                if let Some(c) = conn
                    && diesel::sql_query("SELECT 1").execute(c).is_ok()
                {
                    return Ok(());
                }
                *conn = None;
                let mut c = PgConnection::establish(url)?;
                let got: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                    .bind::<BigInt, _>(*key)
                    .get_result(&mut c)?;
                anyhow::ensure!(got.locked, "this instance's liveness lock is held by another session");
                *conn = Some(c);
            }
            Liveness::Sqlite { file, held } => {
                if held.is_none() {
                    if let Some(dir) = file.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let f = File::create(&*file)?;
                    f.try_lock()?;
                    *held = Some(f);
                }
            }
            Liveness::Nothing => {}
        }
        Ok(())
    }

    /// Whether the instance `id` is certainly dead: its lock is free. `false` when it is held
    /// or cannot be told.
    pub fn is_dead(&self, pool: &Pool, id: &str) -> bool {
        match self {
            Liveness::Postgres { .. } => {
                let Pool::Postgres(p, _) = pool else { return false };
                let Ok(mut c) = p.get() else { return false };
                let k = key(id);
                let got: QueryResult<Locked> = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                    .bind::<BigInt, _>(k)
                    .get_result(&mut c);
                match got {
                    Ok(l) if l.locked => {
                        let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(k).execute(&mut c);
                        true
                    }
                    _ => false,
                }
            }
            Liveness::Sqlite { file, .. } => {
                let Some(path) = file.parent().map(|d| d.join(id)) else { return false };
                match File::options().write(true).open(&path) {
                    // Its file is made before its row: a row without one is an older version's.
                    Err(_) => false,
                    Ok(f) => f.try_lock().is_ok(),
                }
            }
            Liveness::Nothing => false,
        }
    }

    /// Gives the lock up (a clean stop; a dead process's lock goes by itself).
    pub fn release(&mut self) {
        match self {
            Liveness::Postgres { conn, .. } => *conn = None,
            Liveness::Sqlite { file, held } => {
                if held.take().is_some() {
                    let _ = std::fs::remove_file(&*file);
                }
            }
            Liveness::Nothing => {}
        }
    }

    /// Removes what a dead instance left (its lock file).
    pub fn forget(&self, id: &str) {
        if let Liveness::Sqlite { file, .. } = self
            && let Some(dir) = file.parent()
        {
            let _ = std::fs::remove_file(dir.join(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(key("a"), key("a"));
        assert_ne!(key("a"), key("b"));
    }

    #[test]
    fn a_sqlite_instance_is_dead_once_its_file_lock_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let url = format!("sqlite://{}", db.display());
        let pool = Pool::connect(&url, 2).unwrap();
        let mut alive = Liveness::hold(&url, "one").unwrap();
        let me = Liveness::hold(&url, "two").unwrap();
        assert!(!me.is_dead(&pool, "one"), "its lock is held");
        assert!(!me.is_dead(&pool, "never-seen"), "no file: cannot be told");
        alive.release();
        // A lock file left behind without its lock (as after kill -9).
        File::create(dir.path().join("p.db-instances/one")).unwrap();
        assert!(me.is_dead(&pool, "one"));
    }
}
