//! Retention: what a closed request no longer needs (reference photos, message bodies) and
//! accounts never confirmed, found and removed in small batches.

use crate::error::Result;
use async_trait::async_trait;

/// The retention job's storage operations.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Reference photos (image and thumbnail keys, with their request) of requests closed
    /// before `closed_before`.
    async fn expired_references(
        &self,
        closed_before: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String)>>;

    /// Forgets a request's reference photos once their objects are deleted.
    async fn forget_references(&self, booking: i64) -> Result<u64>;

    /// Empties the message bodies of requests closed before `closed_before`, keeping who wrote
    /// and when; returns how many.
    async fn remove_message_bodies(&self, closed_before: i64, at: i64) -> Result<u64>;

    /// Deletes client and artist accounts that never confirmed their address and were made
    /// before `made_before` (they cannot have sent a request); returns how many.
    async fn expire_unverified_accounts(&self, made_before: i64) -> Result<u64>;
}

/// The requests a retention rule applies to: closed (a final state, which never changes, so
/// the last update is when it closed) before `$1`.
macro_rules! closed_before_sql {
    () => {
        "SELECT id FROM booking_requests WHERE state IN ('completed', 'declined', 'withdrawn', \
         'expired') AND updated_at < $1"
    };
}
pub(crate) use closed_before_sql;

/// Implements `RetentionStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_retention_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::RetentionStore for $ty {
            #[tracing::instrument(skip_all, name = "store.expired_references")]
            async fn expired_references(
                &self,
                closed_before: i64,
                limit: i64,
            ) -> $crate::Result<Vec<(i64, String, String)>> {
                let sql = concat!(
                    "SELECT booking_id, image_path, thumb_path FROM booking_references WHERE booking_id IN (",
                    $crate::retention::closed_before_sql!(),
                    ") ORDER BY id LIMIT $2"
                );
                Ok(sqlx::query_as(sql)
                    .bind($crate::rows::ts(closed_before))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, name = "store.forget_references")]
            async fn forget_references(&self, booking: i64) -> $crate::Result<u64> {
                let done = sqlx::query("DELETE FROM booking_references WHERE booking_id = $1")
                    .bind(booking)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all, name = "store.remove_message_bodies")]
            async fn remove_message_bodies(&self, closed_before: i64, at: i64) -> $crate::Result<u64> {
                let sql = concat!(
                    "UPDATE messages SET body = '', body_removed_at = $2 WHERE body_removed_at IS NULL \
                     AND booking_id IN (",
                    $crate::retention::closed_before_sql!(),
                    ")"
                );
                let done = sqlx::query(sql)
                    .bind($crate::rows::ts(closed_before))
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all, name = "store.expire_unverified_accounts")]
            async fn expire_unverified_accounts(&self, made_before: i64) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM users WHERE email_verified_at IS NULL AND role IN ('client', 'artist') \
                     AND created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM booking_requests b WHERE b.client_id = users.id) \
                     AND NOT EXISTS (SELECT 1 FROM artists a WHERE a.user_id = users.id \
                         AND EXISTS (SELECT 1 FROM booking_requests b WHERE b.artist_id = a.id))",
                )
                .bind($crate::rows::ts(made_before))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_retention_store;
