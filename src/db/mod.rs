//! The database: a connection pool on SQLite or PostgreSQL, picked from the URL, and migrations.
//!
//! Both backends share one diesel schema. Store code runs the same diesel query against either
//! backend through [`with_conn!`], which expands the body once per backend; the few statements
//! that must differ branch on the variant inside the store modules. The statements a reader's
//! request shapes run through [`with_read!`] instead, under the read timeout ([`read`]).

pub mod instances;
pub mod lease;
pub mod liveness;
pub mod read;
pub mod schema;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A pool of connections to one database, SQLite or PostgreSQL.
#[derive(Clone)]
pub enum Pool {
    Sqlite(r2d2::Pool<ConnectionManager<SqliteConnection>>, Shared),
    Postgres(r2d2::Pool<ConnectionManager<PgConnection>>, Shared),
}

/// What one pool and its clones share.
pub type Shared = std::sync::Arc<PoolState>;

#[derive(Debug)]
pub struct PoolState {
    /// Counts the catalog changes committed through the pool: the read cache of the same
    /// process compares it on every read, so this process's own writes show at once.
    changes: AtomicU64,
    /// The read timeout of [`with_read!`](crate::with_read) in milliseconds; 0: none.
    read_timeout_ms: AtomicU64,
}

impl Default for PoolState {
    fn default() -> Self {
        PoolState { changes: AtomicU64::new(0), read_timeout_ms: AtomicU64::new(read::DEFAULT_READ_TIMEOUT_MS) }
    }
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Reads the backend from the URL scheme: `postgres://` or `postgresql://` is PostgreSQL;
/// `sqlite://path` or a plain path is SQLite. Anything else is refused, never guessed.
pub fn backend_of(url: &str) -> anyhow::Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        return Ok((Backend::Sqlite, path.to_owned()));
    }
    if url.contains("://") {
        bail!("unsupported database URL scheme in {url:?}: use postgres://... or sqlite://path");
    }
    Ok((Backend::Sqlite, url.to_owned()))
}

/// SQLite's page cache per pooled connection unless `database.sqlite_cache_mib` says otherwise.
pub const DEFAULT_SQLITE_CACHE_MIB: u32 = 4;

#[derive(Debug)]
struct SqlitePragmas {
    cache_mib: u32,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // busy_timeout first: otherwise parallel pool set-up races on the WAL switch.
        // A negative cache_size is in KiB.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 40000;",
            u64::from(self.cache_mib) * 1024
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Pool {
    /// Opens a pool and runs pending migrations.
    pub fn connect(url: &str, max_size: u32) -> anyhow::Result<Self> {
        Self::connect_with(url, max_size, DEFAULT_SQLITE_CACHE_MIB)
    }

    /// [`Pool::connect`] with SQLite's page cache per connection in MiB.
    pub fn connect_with(url: &str, max_size: u32, sqlite_cache_mib: u32) -> anyhow::Result<Self> {
        let (backend, target) = backend_of(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                read::install_sqlite_handler();
                if let Some(parent) = std::path::Path::new(&target).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating the data directory {}", parent.display()))?;
                }
                let pool = r2d2::Pool::builder()
                    .max_size(max_size)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(10))
                    .connection_customizer(Box::new(SqlitePragmas { cache_mib: sqlite_cache_mib }))
                    .build(ConnectionManager::<SqliteConnection>::new(&target))
                    .with_context(|| format!("opening SQLite database {target}"))?;
                Pool::Sqlite(pool, Shared::default())
            }
            Backend::Postgres => {
                let pool = r2d2::Pool::builder()
                    .max_size(max_size)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(10))
                    .build(ConnectionManager::<PgConnection>::new(&target))
                    .context("connecting to PostgreSQL")?;
                Pool::Postgres(pool, Shared::default())
            }
        };
        pool.migrate()?;
        Ok(pool)
    }

    fn shared(&self) -> &PoolState {
        match self {
            Pool::Sqlite(_, s) | Pool::Postgres(_, s) => s,
        }
    }

    /// How many catalog changes were committed through this pool so far.
    pub fn changes(&self) -> u64 {
        self.shared().changes.load(Ordering::SeqCst)
    }

    /// Records that a catalog change was committed through this pool.
    pub fn note_change(&self) {
        self.shared().changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Sets the read timeout of [`with_read!`](crate::with_read) blocks (for this pool and its
    /// clones), in milliseconds; 0 turns it off.
    pub fn set_read_timeout_ms(&self, ms: u64) {
        self.shared().read_timeout_ms.store(ms, Ordering::SeqCst);
    }

    /// The read timeout, `None` when off.
    pub fn read_timeout(&self) -> Option<Duration> {
        let ms = self.shared().read_timeout_ms.load(Ordering::SeqCst);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(..) => Backend::Sqlite,
            Pool::Postgres(..) => Backend::Postgres,
        }
    }

    /// Runs every pending migration; returns how many ran (on PostgreSQL under an advisory lock).
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let ran = match self {
            Pool::Sqlite(p, _) => {
                let mut c = p.get()?;
                c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| anyhow::anyhow!("migrating SQLite: {e}"))?.len()
            }
            Pool::Postgres(p, _) => {
                use diesel::connection::SimpleConnection;
                let mut c = p.get()?;
                // Instances started at once on a fresh database: one migrates, the others wait
                // here and then find nothing pending (without it, both create the same tables
                // and one dies on a duplicate key).
                c.batch_execute(MIGRATION_LOCK).map_err(|e| anyhow::anyhow!("migrating PostgreSQL: {e}"))?;
                let ran = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|m| m.len());
                let _ = c.batch_execute(MIGRATION_UNLOCK);
                ran.map_err(|e| anyhow::anyhow!("migrating PostgreSQL: {e}"))?
            }
        };
        Ok(ran)
    }

    /// Hands back the memory SQLite's idle connections hold (their page caches) after bulk work;
    /// the pages are read again on demand. PostgreSQL keeps its caches in the server.
    pub fn shrink_memory(&self) {
        if let Pool::Sqlite(p, _) = self {
            let idle = p.state().idle_connections;
            let held: Vec<_> = (0..idle).filter_map(|_| p.try_get()).collect();
            for mut c in held {
                let _ = c.batch_execute("PRAGMA shrink_memory;");
            }
        }
    }

    /// True when the database answers a trivial query within [`PING_TIMEOUT`] (a readiness
    /// probe must answer quickly, not after the pool's whole connection timeout).
    pub fn ping(&self) -> bool {
        match self {
            Pool::Sqlite(p, _) => {
                p.get_timeout(PING_TIMEOUT).map(|mut c| c.batch_execute("SELECT 1").is_ok()).unwrap_or(false)
            }
            Pool::Postgres(p, _) => {
                p.get_timeout(PING_TIMEOUT).map(|mut c| c.batch_execute("SELECT 1").is_ok()).unwrap_or(false)
            }
        }
    }
}

/// How long `/readyz` waits for a database connection before answering 503.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend the pool has.
/// The body is compiled once per backend, so it must be valid diesel for both.
#[macro_export]
macro_rules! with_conn {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite(p, _) => {
                #[allow(dead_code)]
                type Db = ::diesel::sqlite::Sqlite;
                let mut guard = p.get()?;
                let $conn: &mut ::diesel::sqlite::SqliteConnection = &mut guard;
                $body
            }
            $crate::db::Pool::Postgres(p, _) => {
                #[allow(dead_code)]
                type Db = ::diesel::pg::Pg;
                let mut guard = p.get()?;
                let $conn: &mut ::diesel::pg::PgConnection = &mut guard;
                $body
            }
        }
    };
}

/// Rewrites `?` placeholders as `$1, $2, ...` for PostgreSQL; SQLite takes them as they are.
/// Only for SQL built from our own fragments, which never hold a literal `?`.
pub fn placeholders(sql: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Formats stored milliseconds as an RFC 3339 UTC timestamp for the API.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A transaction that will write. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write
/// lock up front: a deferred transaction that upgrades from read to write fails at once with
/// "database is locked" when another writer is active, instead of waiting its turn.
pub trait WriteTransaction: diesel::Connection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>;
}

impl WriteTransaction for SqliteConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.immediate_transaction(f)
    }
}

impl WriteTransaction for PgConnection {
    fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        diesel::Connection::transaction(self, f)
    }
}

/// A read-only transaction whose statements all see one snapshot: `REPEATABLE READ` on
/// PostgreSQL, a deferred transaction on SQLite (in WAL mode its snapshot starts at the first
/// read and holds to the end). For reads that must agree with each other.
pub trait SnapshotTransaction: diesel::Connection {
    fn snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>;
}

impl SnapshotTransaction for SqliteConnection {
    fn snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        diesel::Connection::transaction(self, f)
    }
}

impl SnapshotTransaction for PgConnection {
    fn snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.build_transaction().read_only().repeatable_read().run(f)
    }
}

/// The session-level advisory lock migrations run under on PostgreSQL (any constant of ours).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_lock(70070013)";
const MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock(70070013)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_comes_from_the_url_scheme() {
        assert_eq!(backend_of("postgres://u@h/db").unwrap().0, Backend::Postgres);
        assert_eq!(backend_of("postgresql://u@h/db").unwrap().0, Backend::Postgres);
        assert_eq!(backend_of("sqlite://data/p.db").unwrap(), (Backend::Sqlite, "data/p.db".into()));
        assert_eq!(backend_of("./p.db").unwrap(), (Backend::Sqlite, "./p.db".into()));
        assert!(backend_of("mysql://x").is_err());
    }
}
