//! Wrapped data keys for field-level encryption: created, read, and rewrapped in place.

use crate::error::Result;
use async_trait::async_trait;

/// A data key as stored: only ever wrapped by the key-encryption key (KMS).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DataKey {
    pub id: i64,
    /// The wrapped key, base64.
    pub wrapped: String,
    /// Which key-encryption key wrapped it (a KMS key ARN, or `local:` and a fingerprint).
    pub key_ref: String,
    pub created_at: i64,
}

/// Data keys' storage operations.
#[async_trait]
pub trait DataKeyStore: Send + Sync {
    async fn insert_data_key(&self, wrapped: &str, key_ref: &str, at: i64) -> Result<DataKey>;

    async fn data_key(&self, id: i64) -> Result<Option<DataKey>>;

    /// The newest key, which new data is encrypted with.
    async fn newest_data_key(&self) -> Result<Option<DataKey>>;

    /// Every key, oldest first (for rotation).
    async fn data_keys(&self) -> Result<Vec<DataKey>>;

    /// Replaces a key's wrapping, only if it is still `old` (two rotations at once do not
    /// overwrite each other). The key itself does not change, so no data is re-encrypted.
    async fn rewrap_data_key(
        &self,
        id: i64,
        old: &str,
        wrapped: &str,
        key_ref: &str,
        at: i64,
    ) -> Result<bool>;
}

pub(crate) const KEY_SELECT_SQL: &str = "SELECT id, wrapped, key_ref, created_at FROM data_keys";

/// Implements `DataKeyStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_data_key_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::DataKeyStore for $ty {
            #[tracing::instrument(skip_all, name = "store.insert_data_key")]
            async fn insert_data_key(
                &self,
                wrapped: &str,
                key_ref: &str,
                at: i64,
            ) -> $crate::Result<$crate::DataKey> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO data_keys (wrapped, key_ref, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(wrapped)
                .bind(key_ref)
                .bind(at)
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::DataKey {
                    id,
                    wrapped: wrapped.to_owned(),
                    key_ref: key_ref.to_owned(),
                    created_at: at,
                })
            }

            #[tracing::instrument(skip_all, name = "store.data_key")]
            async fn data_key(&self, id: i64) -> $crate::Result<Option<$crate::DataKey>> {
                let sql = format!("{} WHERE id = $1", $crate::keys::KEY_SELECT_SQL);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.newest_data_key")]
            async fn newest_data_key(&self) -> $crate::Result<Option<$crate::DataKey>> {
                let sql = format!("{} ORDER BY id DESC LIMIT 1", $crate::keys::KEY_SELECT_SQL);
                Ok(sqlx::query_as(&sql).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.data_keys")]
            async fn data_keys(&self) -> $crate::Result<Vec<$crate::DataKey>> {
                let sql = format!("{} ORDER BY id", $crate::keys::KEY_SELECT_SQL);
                Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.rewrap_data_key")]
            async fn rewrap_data_key(
                &self,
                id: i64,
                old: &str,
                wrapped: &str,
                key_ref: &str,
                at: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE data_keys SET wrapped = $1, key_ref = $2, rewrapped_at = $3 \
                     WHERE id = $4 AND wrapped = $5",
                )
                .bind(wrapped)
                .bind(key_ref)
                .bind(at)
                .bind(id)
                .bind(old)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_data_key_store;
