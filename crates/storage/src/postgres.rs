//! The PostgreSQL backend used in staging and production.

use crate::ops::impl_store;
use crate::sql::impl_sql_store;
use crate::{Backend, PoolOptions, SessionBackend};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn connect(url: &str, opts: &PoolOptions) -> crate::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("marketplace");
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Serialises seeders (it conflicts with itself and with inserts) while plain reads go on.
    const SEED_LOCK: &'static str = "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE";

    /// Rows are locked explicitly (`FOR UPDATE`) by the statements that need it.
    async fn write_tx(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    fn migrator() -> sqlx::migrate::Migrator {
        sqlx::migrate!("./migrations/postgres")
    }

    fn is_missing_table(e: &dyn sqlx::error::DatabaseError) -> bool {
        // 42P01: undefined_table
        e.code().as_deref() == Some("42P01")
    }
}

impl_store!(PgStore, {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn session_store(&self) -> SessionBackend {
        SessionBackend::Postgres(tower_sessions_sqlx_store::PostgresStore::new(
            self.pool.clone(),
        ))
    }
});

impl_sql_store!(PgStore, db: sqlx::Postgres, styles_agg: "string_agg(st.style, ',')", search: crate::search::SearchDialect::Postgres, lock: " FOR UPDATE OF br", skip_locked: " FOR UPDATE SKIP LOCKED");
