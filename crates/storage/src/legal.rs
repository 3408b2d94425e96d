//! Legal documents and choices: the published versions of the terms and privacy policy, each
//! account's acceptances, and its "do not sell or share" choice.

use crate::error::Result;
use async_trait::async_trait;
use domain::UserId;

/// An account's "do not sell or share my personal information" choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyChoice {
    pub do_not_sell: bool,
    /// `form` (the person chose on the page) or `gpc` (their browser's Global Privacy Control).
    pub source: String,
    pub updated_at: i64,
}

/// Legal documents' and privacy choices' storage operations.
#[async_trait]
pub trait LegalStore: Send + Sync {
    /// Records a document version as published. Publishing it again with the same text is a
    /// no-op; with different text it is refused, since people accepted the words first published.
    async fn publish_document(
        &self,
        document: &str,
        version: &str,
        digest: &str,
        at: i64,
    ) -> Result<()>;

    /// Records that `user` accepted each (document, version), all or none.
    async fn accept_documents(
        &self,
        user: UserId,
        accepted: &[(&str, &str)],
        method: &str,
        at: i64,
    ) -> Result<()>;

    /// The latest version of each document the user accepted, as (document, version).
    async fn accepted_versions(&self, user: UserId) -> Result<Vec<(String, String)>>;

    async fn privacy_choice(&self, user: UserId) -> Result<Option<PrivacyChoice>>;

    /// Sets the choice; false when it already was `do_not_sell` (nothing changed).
    async fn set_do_not_sell(
        &self,
        user: UserId,
        do_not_sell: bool,
        source: &str,
        at: i64,
    ) -> Result<bool>;
}

/// Implements `LegalStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_legal_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::LegalStore for $ty {
            #[tracing::instrument(skip_all, name = "store.publish_document")]
            async fn publish_document(
                &self,
                document: &str,
                version: &str,
                digest: &str,
                at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO legal_documents (document, version, digest, published_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (document, version) DO NOTHING",
                )
                .bind(document)
                .bind(version)
                .bind(digest)
                .bind(at)
                .execute(&self.pool)
                .await?;
                let (stored,): (String,) = sqlx::query_as(
                    "SELECT digest FROM legal_documents WHERE document = $1 AND version = $2",
                )
                .bind(document)
                .bind(version)
                .fetch_one(&self.pool)
                .await?;
                if stored != digest {
                    return Err($crate::StoreError::Corrupt(format!(
                        "the text of the {document} changed but its version ({version}) did not: \
                         people accepted the words first published as {version}, so give the new \
                         text a new version"
                    )));
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.accept_documents")]
            async fn accept_documents(
                &self,
                user: domain::UserId,
                accepted: &[(&str, &str)],
                method: &str,
                at: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                for (document, version) in accepted {
                    sqlx::query(
                        "INSERT INTO legal_acceptances (user_id, document, version, method, accepted_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(user.get())
                    .bind(document)
                    .bind(version)
                    .bind(method)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.accepted_versions")]
            async fn accepted_versions(
                &self,
                user: domain::UserId,
            ) -> $crate::Result<Vec<(String, String)>> {
                // The newest acceptance per document; the id breaks ties within one second.
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT document, version FROM legal_acceptances la WHERE user_id = $1 \
                     AND id = (SELECT MAX(id) FROM legal_acceptances o \
                               WHERE o.user_id = la.user_id AND o.document = la.document) \
                     ORDER BY document",
                )
                .bind(user.get())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows)
            }

            #[tracing::instrument(skip_all, name = "store.privacy_choice")]
            async fn privacy_choice(
                &self,
                user: domain::UserId,
            ) -> $crate::Result<Option<$crate::PrivacyChoice>> {
                let row: Option<(bool, String, i64)> = sqlx::query_as(
                    "SELECT do_not_sell, source, updated_at FROM privacy_choices WHERE user_id = $1",
                )
                .bind(user.get())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(do_not_sell, source, updated_at)| $crate::PrivacyChoice {
                    do_not_sell,
                    source,
                    updated_at,
                }))
            }

            #[tracing::instrument(skip_all, name = "store.set_do_not_sell")]
            async fn set_do_not_sell(
                &self,
                user: domain::UserId,
                do_not_sell: bool,
                source: &str,
                at: i64,
            ) -> $crate::Result<bool> {
                let changed = sqlx::query(
                    "INSERT INTO privacy_choices (user_id, do_not_sell, source, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE \
                     SET do_not_sell = excluded.do_not_sell, source = excluded.source, \
                         updated_at = excluded.updated_at \
                     WHERE privacy_choices.do_not_sell <> excluded.do_not_sell",
                )
                .bind(user.get())
                .bind(do_not_sell)
                .bind(source)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(changed.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use impl_legal_store;
