//! The store as a whole: the `Store` trait that gathers every concern, readiness, migrations
//! and the schema's status, pools and sessions, and opening the backend a URL names.

use crate::error::{Result, StoreError};
use crate::model::{PoolStats, SchemaStatus};
use crate::{
    AccountStore, BookingStore, CatalogueStore, ConversationStore, OutboxStore, PortfolioStore,
    SessionBackend, postgres, sqlite,
};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How the pool is sized, how long to wait for a connection, and where short-lived passwords
/// come from.
#[derive(Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// PostgreSQL only: each new connection signs in with a password from here instead of the
    /// URL's (RDS IAM authentication, whose tokens live 15 minutes).
    pub password: Option<Arc<dyn ConnectPassword>>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            password: None,
        }
    }
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolOptions")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("password", &self.password.as_ref().map(|_| "short-lived"))
            .finish()
    }
}

/// A source of short-lived passwords: asked once at connect, then every
/// [`ConnectPassword::refresh_every`], so new connections always sign in with a valid one.
#[async_trait]
pub trait ConnectPassword: Send + Sync + 'static {
    /// A password for `user` at `host:port`, valid at least until the next refresh.
    async fn password(&self, host: &str, port: u16, user: &str) -> Result<String, String>;

    fn refresh_every(&self) -> Duration;
}

/// Domain operations the service needs from its database. Both backends implement it with the
/// same logic; only SQL that differs between dialects is written twice.
#[async_trait]
pub trait Store:
    AccountStore
    + CatalogueStore
    + BookingStore
    + PortfolioStore
    + ConversationStore
    + OutboxStore
    + crate::SchedulingStore
    + crate::PaymentStore
    + crate::AuditStore
    + crate::LegalStore
    + crate::DataKeyStore
    + crate::RetentionStore
    + crate::ExportStore
    + crate::ErasureStore
    + crate::InsightsStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Cheap round-trip used by readiness.
    async fn ping(&self) -> Result<()>;

    /// Applies pending migrations; returns the versions applied by this call.
    async fn migrate(&self) -> Result<Vec<i64>>;

    /// Compares the applied migrations with the ones this binary embeds.
    async fn schema_status(&self) -> Result<SchemaStatus>;

    fn pool_stats(&self) -> PoolStats;

    fn session_store(&self) -> SessionBackend;

    async fn close(&self);
}

/// Opens the store named by `url`: `sqlite:` (created if missing) or `postgres:`/`postgresql:`.
pub async fn connect(url: &SecretString, opts: &PoolOptions) -> Result<Arc<dyn Store>> {
    let raw = url.expose_secret();
    let scheme = raw.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::connect(raw, opts).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PgStore::connect(raw, opts).await?)),
        other => Err(StoreError::UnsupportedUrl(other.to_owned())),
    }
}

/// Hides the password in a database URL so it can be logged or shown in `Debug`.
pub fn redact_url(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &raw[start + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &raw[..start], &raw[at + 1..]),
                None => raw.to_owned(),
            }
        }
        _ => raw.to_owned(),
    }
}

/// The newest schema version this build knows (both backends share their migration versions):
/// what `marketplace version --json` reports, so tools can refuse data from a newer schema.
pub fn embedded_schema_version() -> i64 {
    sqlx::migrate!("./migrations/sqlite")
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Picks the schema status out of sqlx's bookkeeping table.
pub(crate) fn schema_status(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, bool)],
) -> crate::SchemaStatus {
    let ok: Vec<i64> = applied
        .iter()
        .filter(|(_, s)| *s)
        .map(|(v, _)| *v)
        .collect();
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    crate::SchemaStatus {
        current: ok.iter().copied().max(),
        expected: known.iter().copied().max().unwrap_or(0),
        pending: known.into_iter().filter(|v| !ok.contains(v)).collect(),
        dirty: applied
            .iter()
            .filter(|(_, s)| !*s)
            .map(|(v, _)| *v)
            .collect(),
    }
}

/// Implements `Store` for a backend type; `$extra` holds the methods that differ per backend.
macro_rules! impl_store {
    ($ty:ty, { $($extra:tt)* }) => {
    #[async_trait::async_trait]
    impl $crate::Store for $ty {
        $($extra)*

        #[tracing::instrument(skip_all, name = "store.ping")]
        async fn ping(&self) -> $crate::Result<()> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        #[tracing::instrument(skip_all, name = "store.migrate")]
        async fn migrate(&self) -> $crate::Result<Vec<i64>> {
            let before = self.schema_status().await?;
            let mut migrator = Self::migrator();
            // An older release may run `migrate` against a newer schema during a rollback.
            migrator.set_ignore_missing(true);
            migrator.run(&self.pool).await?;
            self.session_store().migrate().await?;
            Ok(before.pending)
        }

        #[tracing::instrument(skip_all, name = "store.schema_status")]
        async fn schema_status(&self) -> $crate::Result<$crate::SchemaStatus> {
            let applied: Vec<(i64, bool)> =
                match sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
                    .fetch_all(&self.pool)
                    .await
                {
                    Ok(rows) => rows,
                    Err(sqlx::Error::Database(e)) if Self::is_missing_table(&*e) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
            Ok($crate::ops::schema_status(&Self::migrator(), &applied))
        }

        fn pool_stats(&self) -> $crate::PoolStats {
            $crate::PoolStats {
                size: self.pool.size(),
                idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                max: self.pool.options().get_max_connections(),
            }
        }

        #[tracing::instrument(skip_all, name = "store.close")]
        async fn close(&self) {
            self.pool.close().await;
        }
    }
    };
}
pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;
    /// Each concern's file stays readable: one trait and its SQL, not the whole store.
    #[test]
    fn no_storage_file_holds_more_than_one_concern() {
        fn walk(dir: &std::path::Path, long: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, long);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                    if lines > 600 {
                        long.push(format!("{}: {lines} lines", path.display()));
                    }
                }
            }
        }
        let mut long = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut long,
        );
        assert!(
            long.is_empty(),
            "files over 600 lines:\n{}",
            long.join("\n")
        );
    }

    #[test]
    fn passwords_are_removed_from_urls() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/tm"),
            "postgres://app:***@db:5432/tm"
        );
        assert_eq!(redact_url("postgres://app@db/tm"), "postgres://app@db/tm");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
