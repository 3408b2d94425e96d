//! Data export requests: asked for, claimed by one worker under a lease, finished with the
//! sealed archive's size, and purged once expired.

use crate::error::Result;
use async_trait::async_trait;
use domain::UserId;

/// One export request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct DataExport {
    pub id: i64,
    pub user_id: i64,
    /// `pending`, `running`, `ready`, `failed` or `purged`.
    pub status: String,
    pub requested_at: i64,
    /// The legal deadline: one month (GDPR), within CCPA's 45 days.
    pub due_at: i64,
    pub completed_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub parts: i64,
    pub bytes: i64,
    pub failure: Option<String>,
}

/// Export requests' storage operations.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Records a request, or returns the one still pending or running (one at a time).
    async fn request_export(&self, user: UserId, at: i64, due: i64) -> Result<(DataExport, bool)>;

    /// Takes the oldest pending request, or one whose worker stopped (its lease older than
    /// `stale_before`), marking it running: an interrupted build starts again.
    async fn claim_export(&self, at: i64, stale_before: i64) -> Result<Option<DataExport>>;

    /// Marks a build ready; false when the request is gone (the account was erased meanwhile),
    /// and the parts just stored must be deleted.
    async fn finish_export(
        &self,
        id: i64,
        parts: i64,
        bytes: i64,
        expires_at: i64,
        at: i64,
    ) -> Result<bool>;

    async fn fail_export(&self, id: i64, failure: &str, at: i64) -> Result<()>;

    /// The user's requests, newest first.
    async fn exports_of(&self, user: UserId) -> Result<Vec<DataExport>>;

    async fn export(&self, id: i64) -> Result<Option<DataExport>>;

    /// Ready archives past their expiry, to purge.
    async fn expired_exports(&self, now: i64, limit: i64) -> Result<Vec<DataExport>>;

    async fn mark_export_purged(&self, id: i64) -> Result<()>;
}

pub(crate) const EXPORT_SELECT: &str = "SELECT id, user_id, status, requested_at, due_at, \
completed_at, expires_at, parts, bytes, failure FROM data_exports";

/// Implements `ExportStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_export_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::ExportStore for $ty {
            #[tracing::instrument(skip_all, name = "store.request_export")]
            async fn request_export(
                &self,
                user: domain::UserId,
                at: i64,
                due: i64,
            ) -> $crate::Result<($crate::DataExport, bool)> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "{} WHERE user_id = $1 AND status IN ('pending', 'running') ORDER BY id LIMIT 1{}",
                    $crate::exports::EXPORT_SELECT,
                    // SQLite's write transaction already holds the lock.
                    if $lock.is_empty() { "" } else { " FOR UPDATE" }
                );
                let active: Option<$crate::DataExport> =
                    sqlx::query_as(&sql).bind(user.get()).fetch_optional(&mut *tx).await?;
                if let Some(a) = active {
                    tx.commit().await?;
                    return Ok((a, false));
                }
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO data_exports (user_id, status, requested_at, due_at) \
                     VALUES ($1, 'pending', $2, $3) RETURNING id",
                )
                .bind(user.get())
                .bind(at)
                .bind(due)
                .fetch_one(&mut *tx)
                .await?;
                let sql = format!("{} WHERE id = $1", $crate::exports::EXPORT_SELECT);
                let row: $crate::DataExport = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok((row, true))
            }

            #[tracing::instrument(skip_all, name = "store.claim_export")]
            async fn claim_export(
                &self,
                at: i64,
                stale_before: i64,
            ) -> $crate::Result<Option<$crate::DataExport>> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "{} WHERE status = 'pending' OR (status = 'running' AND started_at < $1) \
                     ORDER BY id LIMIT 1{}",
                    $crate::exports::EXPORT_SELECT,
                    $skip
                );
                let found: Option<$crate::DataExport> =
                    sqlx::query_as(&sql).bind(stale_before).fetch_optional(&mut *tx).await?;
                if let Some(e) = &found {
                    sqlx::query("UPDATE data_exports SET status = 'running', started_at = $1 WHERE id = $2")
                        .bind(at)
                        .bind(e.id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(found)
            }

            #[tracing::instrument(skip_all, name = "store.finish_export")]
            async fn finish_export(
                &self,
                id: i64,
                parts: i64,
                bytes: i64,
                expires_at: i64,
                at: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE data_exports SET status = 'ready', parts = $1, bytes = $2, expires_at = $3, \
                     completed_at = $4, failure = NULL WHERE id = $5",
                )
                .bind(parts)
                .bind(bytes)
                .bind(expires_at)
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all, name = "store.fail_export")]
            async fn fail_export(&self, id: i64, failure: &str, at: i64) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE data_exports SET status = 'failed', failure = $1, completed_at = $2 WHERE id = $3",
                )
                .bind(failure.chars().take(300).collect::<String>())
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.exports_of")]
            async fn exports_of(&self, user: domain::UserId) -> $crate::Result<Vec<$crate::DataExport>> {
                let sql = format!("{} WHERE user_id = $1 ORDER BY id DESC LIMIT 20", $crate::exports::EXPORT_SELECT);
                Ok(sqlx::query_as(&sql).bind(user.get()).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.export")]
            async fn export(&self, id: i64) -> $crate::Result<Option<$crate::DataExport>> {
                let sql = format!("{} WHERE id = $1", $crate::exports::EXPORT_SELECT);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.expired_exports")]
            async fn expired_exports(&self, now: i64, limit: i64) -> $crate::Result<Vec<$crate::DataExport>> {
                let sql = format!(
                    "{} WHERE status = 'ready' AND expires_at < $1 ORDER BY id LIMIT $2",
                    $crate::exports::EXPORT_SELECT
                );
                Ok(sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.mark_export_purged")]
            async fn mark_export_purged(&self, id: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE data_exports SET status = 'purged' WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_export_store;
