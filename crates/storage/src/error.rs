//! What can go wrong in the store, and which of it callers expect.

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
    /// A short-lived database password (an RDS IAM token) could not be obtained.
    #[error("database credentials: {0}")]
    Credentials(String),
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

impl From<domain::Refusal> for StoreError {
    fn from(r: domain::Refusal) -> Self {
        match r {
            domain::Refusal::WrongParty(m) => StoreError::WrongParty(m),
            domain::Refusal::Refused(m) => StoreError::Refused(m),
        }
    }
}
