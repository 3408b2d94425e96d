//! Persistence for the marketplace: the `Store` trait, its errors, and the backend chosen by URL scheme.

mod booking;
mod booking_sql;
mod model;
mod postgres;
mod sessions;
mod shared;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use domain::{BookingState, Email, UserId};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

pub use booking::*;
pub use booking_sql::{Bind, SearchStatements, postgres_search_statements};
pub use model::*;
pub use sessions::SessionBackend;

/// Errors from the storage layer. `NotFound` and `Conflict` are expected outcomes callers map to
/// 404/409; everything else is an outage or a bug.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A rule of the booking flow refused the change (a transition from the wrong state, a
    /// passed deadline). The message is safe to show.
    #[error("{0}")]
    Refused(String),
    /// The change belongs to the other participant (a client quoting, an artist consenting).
    #[error("{0}")]
    WrongParty(String),
    #[error(
        "unsupported database URL scheme {0:?}: use sqlite://PATH (embedded) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            // PostgreSQL's exclusion constraint and SQLite's trigger share the name.
            sqlx::Error::Database(db) if db.message().contains("appointments_no_overlap") => {
                StoreError::Conflict("the artist already has a session at that time")
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already exists")
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Conflict("refers to something that does not exist")
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// How the pool is sized and how long to wait for a connection.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Domain operations the service needs from its database. Both backends implement it with the
/// same logic; only SQL that differs between dialects is written twice.
#[async_trait]
pub trait Store: BookingStore + Send + Sync + 'static {
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

    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>>;
    async fn count_users(&self) -> Result<i64>;

    /// Records that the owner of `id` proved they read `email`; false when the account's address
    /// has changed since (or the account is gone).
    async fn mark_email_verified(&self, id: UserId, email: &Email, at: i64) -> Result<bool>;
    /// The account's TOTP second factor, when it has one.
    async fn two_factor(&self, id: UserId) -> Result<Option<TwoFactor>>;
    /// Turns the second factor on (`Some(secret)`, with fresh recovery code hashes) or off.
    async fn set_two_factor(
        &self,
        id: UserId,
        secret: Option<&str>,
        recovery_hashes: &[String],
    ) -> Result<()>;
    /// Accepts a TOTP time step if it is later than every step accepted before (no replays).
    async fn accept_totp_step(&self, id: UserId, step: i64) -> Result<bool>;
    /// Replaces the recovery code hashes `before` with `after` (one used); false on a race.
    async fn use_recovery_code(
        &self,
        id: UserId,
        before: &[String],
        after: &[String],
    ) -> Result<bool>;
    /// Ends every session of the account, in every instance ("sign out everywhere").
    async fn end_all_sessions(&self, id: UserId) -> Result<()>;
    /// Replaces the password if it is still `expected_hash`, ending every session; false when it
    /// changed meanwhile (so a reset link works once).
    async fn reset_password(&self, id: UserId, expected_hash: &str, new_hash: &str)
    -> Result<bool>;
    /// Queues an email about the account itself (verification, a sign-up attempt with its address).
    async fn queue_account_email(
        &self,
        to: UserId,
        kind: &str,
        subject: &str,
        body: &str,
        at: i64,
    ) -> Result<()>;

    /// Until when (unix seconds) sign-in for this email hash is locked; 0 when it is not.
    async fn sign_in_locked_until(&self, email_hash: &str) -> Result<i64>;
    /// Counts one failed sign-in for this email hash at `at` and locks further sign-ins as
    /// `domain::throttle` says; emails `owner` (when the account exists) once per streak.
    /// Returns the new lock's end.
    async fn record_sign_in_failure(
        &self,
        email_hash: &str,
        owner: Option<UserId>,
        at: i64,
    ) -> Result<i64>;
    /// Ends the streak after a successful sign-in.
    async fn clear_sign_in_failures(&self, email_hash: &str) -> Result<()>;

    /// Writes a whole batch of catalogue data in one transaction: all of it or none.
    async fn import_catalogue(&self, batch: CatalogueBatch) -> Result<ImportSummary>;
    async fn featured_artists(&self, limit: u32) -> Result<Vec<ArtistCard>>;
    async fn catalogue_counts(&self) -> Result<CatalogueCounts>;
    async fn booking_counts(&self) -> Result<Vec<(BookingState, i64)>>;
}

/// Opens the store named by `url`: `sqlite:` (created if missing) or `postgres:`/`postgresql:`.
/// A TOTP second factor as stored.
#[derive(Debug, Clone)]
pub struct TwoFactor {
    /// Base32, as authenticator apps take it.
    pub secret: String,
    /// The last time step a code was accepted for.
    pub last_step: i64,
    /// SHA-256 hex hashes of the unused recovery codes.
    pub recovery: Vec<String>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
