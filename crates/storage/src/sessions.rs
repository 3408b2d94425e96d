//! Server-side session storage in the same database as everything else, so any instance can serve any request.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{ExpiredDeletion, Result, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The sqlx session store for whichever backend the service runs on.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            SessionBackend::Sqlite($store) => $call,
            SessionBackend::Postgres($store) => $call,
        }
    };
}

impl SessionBackend {
    /// Creates the session table if it is missing.
    pub async fn migrate(&self) -> sqlx::Result<()> {
        delegate!(self, s => s.migrate().await)
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> Result<()> {
        delegate!(self, s => s.create(record).await)
    }
    async fn save(&self, record: &Record) -> Result<()> {
        delegate!(self, s => s.save(record).await)
    }
    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        delegate!(self, s => s.load(id).await)
    }
    async fn delete(&self, id: &Id) -> Result<()> {
        delegate!(self, s => s.delete(id).await)
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> Result<()> {
        delegate!(self, s => s.delete_expired().await)
    }
}
