//! The embedded SQLite backend: one file, WAL mode, foreign keys on.

use crate::ops::impl_store;
use crate::sql::impl_sql_store;
use crate::{Backend, PoolOptions, SessionBackend};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, opts: &PoolOptions) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue on the file lock instead of failing at once under concurrent requests.
            .busy_timeout(Duration::from_secs(5));
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| crate::StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// `BEGIN IMMEDIATE` already serialises every writer, seeders included.
    const SEED_LOCK: &'static str = "";

    /// Takes the write lock up front: a deferred transaction that reads and then writes fails with
    /// SQLITE_BUSY_SNAPSHOT under concurrency instead of waiting its turn.
    async fn write_tx(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn migrator() -> sqlx::migrate::Migrator {
        sqlx::migrate!("./migrations/sqlite")
    }

    fn is_missing_table(e: &dyn sqlx::error::DatabaseError) -> bool {
        e.message().contains("no such table")
    }
}

impl_store!(SqliteStore, {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn session_store(&self) -> SessionBackend {
        SessionBackend::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(
            self.pool.clone(),
        ))
    }
});

// Timestamps are stored as `YYYY-MM-DD HH:MM:SS…+00:00` text: the day is its first ten characters.
crate::insights::impl_insights_store!(SqliteStore, day_of_time: "substr({}, 1, 10)", day_of_unix: "date({}, 'unixepoch')");
impl_sql_store!(SqliteStore, db: sqlx::Sqlite, styles_agg: "group_concat(st.style, ',')", search: crate::search::SearchDialect::Sqlite, lock: "", skip_locked: "");
