//! Reader timeouts (`database.read_timeout_ms`): the statements a reader's request shapes (a
//! query's page and count, facets, a filter over refs) run through [`with_read!`], which cancels
//! them once they run longer than the pool's read timeout, so that no reader holds a connection
//! and the database's time for long. A cancelled read fails with [`ReadTimeout`], answered 503
//! `query_timeout`; its connection goes back to the pool usable.
//!
//! - PostgreSQL: the block runs in a read-only transaction that starts with
//!   `SET LOCAL statement_timeout`, so each of its statements is cancelled past the timeout, and
//!   the setting ends with the transaction (a writer on the same connection later never sees it).
//! - SQLite: every connection the process opens gets a progress handler (through
//!   `sqlite3_auto_extension`) that interrupts the running statement once the deadline of the
//!   block running on this thread has passed. Outside a block there is no deadline, so writes and
//!   background reads are never interrupted.

use std::cell::Cell;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::Once;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use libsqlite3_sys as ffi;

/// The read timeout unless `database.read_timeout_ms` says otherwise.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 5_000;

/// A read cancelled after running longer than the read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the query ran longer than the read timeout of {ms} ms (database.read_timeout_ms) and was cancelled")]
pub struct ReadTimeout {
    pub ms: u64,
}

/// The [`ReadTimeout`] an error is, or was caused by.
pub fn read_timeout_of(e: &anyhow::Error) -> Option<&ReadTimeout> {
    e.chain().find_map(|cause| cause.downcast_ref::<ReadTimeout>())
}

thread_local! {
    /// When the read running on this thread must stop; `None` outside [`with_read!`].
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether the progress handler interrupted a statement since the deadline was set.
    static FIRED: Cell<bool> = const { Cell::new(false) };
}

/// SQLite virtual machine steps between two looks at the clock (a few microseconds of work).
const PROGRESS_STEPS: c_int = 1_000;

/// SQLite's progress handler: non-zero interrupts the running statement.
unsafe extern "C" fn on_progress(_: *mut c_void) -> c_int {
    let past = DEADLINE.try_with(|d| d.get().is_some_and(|at| Instant::now() >= at)).unwrap_or(false);
    if past {
        let _ = FIRED.try_with(|f| f.set(true));
    }
    c_int::from(past)
}

/// Called by SQLite for each connection it opens (registered by [`install_sqlite_handler`]).
unsafe extern "C" fn on_open(db: *mut ffi::sqlite3, _: *mut *mut c_char, _: *const ffi::sqlite3_api_routines) -> c_int {
    // SAFETY: SQLite passes the connection being opened; the handler keeps no pointer.
    unsafe { ffi::sqlite3_progress_handler(db, PROGRESS_STEPS, Some(on_progress), std::ptr::null_mut()) };
    ffi::SQLITE_OK
}

/// Gives every SQLite connection opened from now on the progress handler (once per process).
pub(super) fn install_sqlite_handler() {
    static ONCE: Once = Once::new();
    // SAFETY: registers a function with the signature SQLite expects; it runs on each open.
    ONCE.call_once(|| unsafe {
        ffi::sqlite3_auto_extension(Some(on_open));
    });
}

/// The deadline of one [`with_read!`] block on SQLite, cleared when dropped.
pub struct SqliteDeadline {
    ms: u64,
}

impl SqliteDeadline {
    /// Sets this thread's deadline `timeout` from now (none without a timeout).
    pub fn start(timeout: Option<Duration>) -> Self {
        DEADLINE.set(timeout.map(|t| Instant::now() + t));
        FIRED.set(false);
        SqliteDeadline { ms: timeout.map_or(0, |t| t.as_millis() as u64) }
    }

    /// The block's outcome, with an interrupted statement turned into a [`ReadTimeout`].
    pub fn finish<T>(self, out: anyhow::Result<T>) -> anyhow::Result<T> {
        match out {
            Err(_) if FIRED.get() => Err(ReadTimeout { ms: self.ms }.into()),
            other => other,
        }
    }
}

impl Drop for SqliteDeadline {
    fn drop(&mut self) {
        DEADLINE.set(None);
        FIRED.set(false);
    }
}

/// Opens the read-only transaction of a [`with_read!`] block on PostgreSQL, with the statement
/// timeout set for it alone (in one round trip); without a timeout the server's setting holds.
pub fn begin_pg(conn: &mut PgConnection, timeout: Option<Duration>) -> anyhow::Result<()> {
    let sql = match timeout {
        Some(t) => format!("BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}", t.as_millis().max(1)),
        None => "BEGIN TRANSACTION READ ONLY".to_owned(),
    };
    AnsiTransactionManager::begin_transaction_sql(conn, &sql)?;
    Ok(())
}

/// Ends the transaction of [`begin_pg`]: commits after success, rolls back after a failure (so the
/// connection is usable again), and turns a statement cancelled by the timeout into a
/// [`ReadTimeout`].
pub fn end_pg<T>(conn: &mut PgConnection, timeout: Option<Duration>, out: anyhow::Result<T>) -> anyhow::Result<T> {
    match out {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // A failed rollback leaves the connection marked broken: the pool then drops it.
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            match timeout {
                Some(t) if is_statement_timeout(&e) => Err(ReadTimeout { ms: t.as_millis() as u64 }.into()),
                _ => Err(e),
            }
        }
    }
}

/// Whether PostgreSQL cancelled a statement for `statement_timeout` (SQLSTATE 57014).
fn is_statement_timeout(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| match cause.downcast_ref::<diesel::result::Error>() {
        Some(diesel::result::Error::DatabaseError(_, info)) => info.message().contains("statement timeout"),
        _ => false,
    })
}

/// [`with_conn!`](crate::with_conn) for the statements a reader's request shapes: `$body` runs
/// under the pool's read timeout (see the module documentation) and evaluates to its value; an
/// error, or [`ReadTimeout`] for a cancelled statement, returns from the enclosing function.
/// The body may use `?` on diesel and anyhow errors.
#[macro_export]
macro_rules! with_read {
    ($pool:expr, |$conn:ident| $body:expr) => {{
        let pool: &$crate::db::Pool = $pool;
        let timeout = pool.read_timeout();
        match pool {
            $crate::db::Pool::Sqlite(p, _) => {
                #[allow(dead_code)]
                type Db = ::diesel::sqlite::Sqlite;
                let mut guard = p.get()?;
                let $conn: &mut ::diesel::sqlite::SqliteConnection = &mut guard;
                let deadline = $crate::db::read::SqliteDeadline::start(timeout);
                let out = (|| -> ::anyhow::Result<_> { Ok($body) })();
                deadline.finish(out)?
            }
            $crate::db::Pool::Postgres(p, _) => {
                #[allow(dead_code)]
                type Db = ::diesel::pg::Pg;
                let mut guard = p.get()?;
                let $conn: &mut ::diesel::pg::PgConnection = &mut guard;
                $crate::db::read::begin_pg($conn, timeout)?;
                let out = (|| -> ::anyhow::Result<_> { Ok($body) })();
                $crate::db::read::end_pg($conn, timeout, out)?
            }
        }
    }};
}

#[cfg(test)]
mod tests;
