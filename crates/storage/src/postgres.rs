//! The PostgreSQL backend used in staging and production.

use crate::ops::impl_store;
use crate::sql::impl_sql_store;
use crate::{Backend, PoolOptions, SessionBackend, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn connect(url: &str, opts: &PoolOptions) -> crate::Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?.application_name("marketplace");
        if let Some(source) = &opts.password {
            let password = Self::password(source.as_ref(), &options).await?;
            options = options.password(&password);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        if let Some(source) = &opts.password {
            tokio::spawn(Self::refresh_password(
                pool.clone(),
                options,
                source.clone(),
            ));
        }
        Ok(Self { pool })
    }

    async fn password(
        source: &dyn crate::ConnectPassword,
        options: &PgConnectOptions,
    ) -> crate::Result<String> {
        source
            .password(
                options.get_host(),
                options.get_port(),
                options.get_username(),
            )
            .await
            .map_err(StoreError::Credentials)
    }

    /// Keeps the pool's sign-in password fresh: open connections are unaffected by a token's
    /// expiry, but new ones need a current token. A failed refresh is retried well before the
    /// previous token expires; the loop ends with the pool.
    async fn refresh_password(
        pool: PgPool,
        options: PgConnectOptions,
        source: std::sync::Arc<dyn crate::ConnectPassword>,
    ) {
        let mut wait = source.refresh_every();
        loop {
            tokio::time::sleep(wait).await;
            if pool.is_closed() {
                return;
            }
            match Self::password(source.as_ref(), &options).await {
                Ok(password) => {
                    pool.set_connect_options(options.clone().password(&password));
                    wait = source.refresh_every();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "database password refresh failed; retrying in 30 s");
                    wait = std::time::Duration::from_secs(30);
                }
            }
        }
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

crate::insights::impl_insights_store!(PgStore, day_of_time: "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD')", day_of_unix: "to_char(to_timestamp({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
impl_sql_store!(PgStore, db: sqlx::Postgres, styles_agg: "string_agg(st.style, ',')", search: crate::search::SearchDialect::Postgres, lock: " FOR UPDATE OF br", skip_locked: " FOR UPDATE SKIP LOCKED");
