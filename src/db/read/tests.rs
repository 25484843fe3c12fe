//! The read timeout against real databases: SQLite always, PostgreSQL when
//! `PORTOLAN_TEST_POSTGRES_URL` names a server (no tables needed, so its own database is used).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::ConnectionManager;
use diesel::sql_types::BigInt;

use super::*;
use crate::db::{Pool, Shared};
use crate::with_conn;

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Statements that run for many seconds unless cancelled.
const SLOW_SQLITE: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) \
                           SELECT COUNT(*) AS n FROM c";
const SLOW_POSTGRES: &str = "SELECT 1::bigint AS n FROM pg_sleep(30)";
/// Runs for a good fraction of a second on SQLite: past a 100 ms deadline, were one left set.
const LONGER_SQLITE: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                             SELECT COUNT(*) AS n FROM c";

fn read(pool: &Pool, sql: &str) -> anyhow::Result<i64> {
    let row: Number = with_read!(pool, |c| diesel::sql_query(sql).get_result::<Number>(c)?);
    Ok(row.n)
}

fn plain(pool: &Pool, sql: &str) -> anyhow::Result<i64> {
    let row: Number = with_conn!(pool, |c| diesel::sql_query(sql).get_result::<Number>(c)?);
    Ok(row.n)
}

/// One connection, so every read below reuses the one the cancelled read had.
fn pools(dir: &std::path::Path) -> Vec<(Pool, &'static str)> {
    install_sqlite_handler();
    let sqlite = r2d2::Pool::builder()
        .max_size(1)
        .build(ConnectionManager::<diesel::sqlite::SqliteConnection>::new(dir.join("t.db").display().to_string()))
        .unwrap();
    let mut out = vec![(Pool::Sqlite(sqlite, Shared::default()), SLOW_SQLITE)];
    if let Ok(url) = std::env::var("PORTOLAN_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        let pg = r2d2::Pool::builder().max_size(1).build(ConnectionManager::<PgConnection>::new(url)).unwrap();
        out.push((Pool::Postgres(pg, Shared::default()), SLOW_POSTGRES));
    }
    out
}

/// The session's `statement_timeout` on PostgreSQL, as `SHOW` gives it.
fn session_timeout(pool: &Pool) -> String {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement_timeout: String,
    }
    let run = || -> anyhow::Result<Setting> {
        Ok(with_conn!(pool, |c| diesel::sql_query("SHOW statement_timeout").get_result::<Setting>(c)?))
    };
    run().unwrap().statement_timeout
}

#[test]
fn a_read_past_the_timeout_is_cancelled_and_its_connection_serves_the_next() {
    let dir = tempfile::tempdir().unwrap();
    for (pool, slow) in pools(dir.path()) {
        assert_eq!(pool.read_timeout(), Some(Duration::from_millis(DEFAULT_READ_TIMEOUT_MS)));
        let before = matches!(pool, Pool::Postgres(..)).then(|| session_timeout(&pool));
        pool.set_read_timeout_ms(100);
        for _ in 0..2 {
            let started = Instant::now();
            let e = read(&pool, slow).unwrap_err();
            assert_eq!(read_timeout_of(&e).map(|t| t.ms), Some(100), "{e:#}");
            assert!(started.elapsed() < Duration::from_secs(10), "cancelled in time: {:?}", started.elapsed());
            // The same connection answers reads, and statements outside a read block run unbounded.
            assert_eq!(read(&pool, "SELECT CAST(7 AS BIGINT) AS n").unwrap(), 7);
            assert_eq!(plain(&pool, "SELECT CAST(8 AS BIGINT) AS n").unwrap(), 8);
        }
        match &pool {
            Pool::Sqlite(..) => assert_eq!(plain(&pool, LONGER_SQLITE).unwrap(), 3_000_000),
            Pool::Postgres(..) => {
                assert_eq!(Some(session_timeout(&pool)), before, "the timeout ended with the read's transaction")
            }
        }
        // 0 turns the timeout off.
        pool.set_read_timeout_ms(0);
        assert_eq!(pool.read_timeout(), None);
        assert_eq!(read(&pool, "SELECT CAST(9 AS BIGINT) AS n").unwrap(), 9);
    }
}
