//! Erasure requests (GDPR art. 17, CCPA "delete"): scheduled after a grace period, carried out
//! in one transaction that anonymises the account and lists the objects to delete, then
//! finished once every listed object is gone.

use crate::error::Result;
use async_trait::async_trait;
use domain::UserId;

/// One erasure request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ErasureRequest {
    pub id: i64,
    pub user_id: i64,
    /// `scheduled` (in the grace period), `waiting` (an active booking holds it), `erasing`
    /// (the database part is done, objects remain), `done` or `cancelled`.
    pub status: String,
    pub requested_at: i64,
    /// When the grace period ends.
    pub erase_after: i64,
    /// The legal deadline: one month (GDPR), within CCPA's 45 days.
    pub due_at: i64,
    pub next_attempt_at: i64,
    pub completed_at: Option<i64>,
    pub note: Option<String>,
}

impl ErasureRequest {
    /// Still under way: it can be cancelled while `scheduled` or `waiting`.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "scheduled" | "waiting" | "erasing")
    }
}

/// What one attempt at the database part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseOutcome {
    /// Requests not yet closed hold the erasure back; it was set to `waiting`.
    Waiting { active: i64 },
    /// The account is anonymised; these objects are listed to delete.
    Erased { objects: i64 },
    /// Another worker already did it, or it was cancelled.
    NotDue,
}

/// A consent form kept after its client's account was erased.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeptConsent {
    pub id: i64,
    pub jurisdiction: String,
    pub signed_at: i64,
}

/// The requests still open (`booking_requests.state` not final) of a user, as client or artist.
macro_rules! active_requests_sql {
    () => {
        "SELECT id FROM booking_requests WHERE state NOT IN ('completed', 'declined', 'withdrawn', \
         'expired') AND (client_id = $1 OR artist_id IN (SELECT a.id FROM artists a WHERE a.user_id = $1))"
    };
}
pub(crate) use active_requests_sql;

/// Erasure's storage operations.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// The user's requests that are not closed yet, which must be cancelled before erasure.
    async fn active_requests_of(&self, user: UserId) -> Result<Vec<i64>>;

    /// Records a request, or returns the one already open (one at a time).
    async fn request_erasure(
        &self,
        user: UserId,
        at: i64,
        erase_after: i64,
        due: i64,
    ) -> Result<(ErasureRequest, bool)>;

    /// Calls off the user's request while it is `scheduled` or `waiting`.
    async fn cancel_erasure(&self, user: UserId, at: i64) -> Result<Option<ErasureRequest>>;

    /// The user's newest request.
    async fn erasure_of(&self, user: UserId) -> Result<Option<ErasureRequest>>;

    /// Takes the next request whose time has come, pushing its next attempt to `lease_until`
    /// so no other worker takes it meanwhile.
    async fn claim_erasure(&self, at: i64, lease_until: i64) -> Result<Option<ErasureRequest>>;

    /// The database part, in one transaction: nothing is half-erased if it stops.
    async fn erase_account(&self, request: i64, at: i64) -> Result<EraseOutcome>;

    /// The objects still to delete for a request.
    async fn erasure_objects(&self, request: i64) -> Result<Vec<String>>;

    async fn forget_erasure_object(&self, request: i64, key: &str) -> Result<()>;

    /// Marks a request done once its objects are gone.
    async fn finish_erasure(&self, request: i64, at: i64) -> Result<()>;

    /// Consent forms of erased accounts, after `after_id`, for the retention sweep.
    async fn kept_consents(&self, after_id: i64, limit: i64) -> Result<Vec<KeptConsent>>;

    /// Deletes a kept consent form whose retention period has passed.
    async fn delete_kept_consent(&self, id: i64) -> Result<()>;
}

pub(crate) const ERASURE_SELECT: &str = "SELECT id, user_id, status, requested_at, erase_after, \
due_at, next_attempt_at, completed_at, note FROM erasure_requests";

/// Implements `ErasureStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_erasure_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::ErasureStore for $ty {
            #[tracing::instrument(skip_all, name = "store.active_requests_of")]
            async fn active_requests_of(&self, user: domain::UserId) -> $crate::Result<Vec<i64>> {
                let sql = concat!($crate::erasure::active_requests_sql!(), " ORDER BY id");
                let rows: Vec<(i64,)> = sqlx::query_as(sql).bind(user.get()).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            #[tracing::instrument(skip_all, name = "store.request_erasure")]
            async fn request_erasure(
                &self,
                user: domain::UserId,
                at: i64,
                erase_after: i64,
                due: i64,
            ) -> $crate::Result<($crate::ErasureRequest, bool)> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "{} WHERE user_id = $1 AND status IN ('scheduled', 'waiting', 'erasing') LIMIT 1{}",
                    $crate::erasure::ERASURE_SELECT,
                    if $lock.is_empty() { "" } else { " FOR UPDATE" }
                );
                let open: Option<$crate::ErasureRequest> =
                    sqlx::query_as(&sql).bind(user.get()).fetch_optional(&mut *tx).await?;
                if let Some(open) = open {
                    tx.commit().await?;
                    return Ok((open, false));
                }
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO erasure_requests (user_id, status, requested_at, erase_after, due_at, \
                     next_attempt_at) VALUES ($1, 'scheduled', $2, $3, $4, $3) RETURNING id",
                )
                .bind(user.get())
                .bind(at)
                .bind(erase_after)
                .bind(due)
                .fetch_one(&mut *tx)
                .await?;
                let sql = format!("{} WHERE id = $1", $crate::erasure::ERASURE_SELECT);
                let row = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok((row, true))
            }

            #[tracing::instrument(skip_all, name = "store.cancel_erasure")]
            async fn cancel_erasure(
                &self,
                user: domain::UserId,
                at: i64,
            ) -> $crate::Result<Option<$crate::ErasureRequest>> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "{} WHERE user_id = $1 AND status IN ('scheduled', 'waiting') LIMIT 1{}",
                    $crate::erasure::ERASURE_SELECT,
                    if $lock.is_empty() { "" } else { " FOR UPDATE" }
                );
                let open: Option<$crate::ErasureRequest> =
                    sqlx::query_as(&sql).bind(user.get()).fetch_optional(&mut *tx).await?;
                if let Some(r) = &open {
                    sqlx::query(
                        "UPDATE erasure_requests SET status = 'cancelled', completed_at = $1 WHERE id = $2",
                    )
                    .bind(at)
                    .bind(r.id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(open)
            }

            #[tracing::instrument(skip_all, name = "store.erasure_of")]
            async fn erasure_of(
                &self,
                user: domain::UserId,
            ) -> $crate::Result<Option<$crate::ErasureRequest>> {
                let sql = format!("{} WHERE user_id = $1 ORDER BY id DESC LIMIT 1", $crate::erasure::ERASURE_SELECT);
                Ok(sqlx::query_as(&sql).bind(user.get()).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.claim_erasure")]
            async fn claim_erasure(
                &self,
                at: i64,
                lease_until: i64,
            ) -> $crate::Result<Option<$crate::ErasureRequest>> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "{} WHERE status IN ('scheduled', 'waiting', 'erasing') AND next_attempt_at <= $1 \
                     ORDER BY next_attempt_at, id LIMIT 1{}",
                    $crate::erasure::ERASURE_SELECT,
                    $skip
                );
                let found: Option<$crate::ErasureRequest> =
                    sqlx::query_as(&sql).bind(at).fetch_optional(&mut *tx).await?;
                if let Some(r) = &found {
                    sqlx::query("UPDATE erasure_requests SET next_attempt_at = $1 WHERE id = $2")
                        .bind(lease_until)
                        .bind(r.id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(found)
            }

            #[tracing::instrument(skip_all, name = "store.erase_account")]
            async fn erase_account(&self, request: i64, at: i64) -> $crate::Result<$crate::EraseOutcome> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "SELECT user_id, status FROM erasure_requests WHERE id = $1{}",
                    if $lock.is_empty() { "" } else { " FOR UPDATE" }
                );
                let row: Option<(i64, String)> =
                    sqlx::query_as(&sql).bind(request).fetch_optional(&mut *tx).await?;
                let Some((user, status)) = row else {
                    return Ok($crate::EraseOutcome::NotDue);
                };
                if status != "scheduled" && status != "waiting" {
                    return Ok($crate::EraseOutcome::NotDue);
                }
                // The booking rows are locked too, so no request reopens while this runs.
                let sql = format!(
                    "{}{}",
                    $crate::erasure::active_requests_sql!(),
                    if $lock.is_empty() { "" } else { " FOR UPDATE" }
                );
                let active: Vec<(i64,)> = sqlx::query_as(&sql).bind(user).fetch_all(&mut *tx).await?;
                if !active.is_empty() {
                    sqlx::query(
                        "UPDATE erasure_requests SET status = 'waiting', note = $1, next_attempt_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(format!("{} booking request(s) still open", active.len()))
                    .bind(at + 3600)
                    .bind(request)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok($crate::EraseOutcome::Waiting { active: active.len() as i64 });
                }

                // Every object the account owns, listed before its rows go.
                let mut keys: Vec<String> = Vec::new();
                for sql in [
                    "SELECT image_path, thumb_path FROM booking_references WHERE booking_id IN \
                     (SELECT id FROM booking_requests WHERE client_id = $1)",
                    "SELECT image_path, thumb_path FROM portfolio_items WHERE artist_id IN \
                     (SELECT id FROM artists WHERE user_id = $1)",
                    "SELECT image_path, thumb_path FROM flash_designs WHERE artist_id IN \
                     (SELECT id FROM artists WHERE user_id = $1)",
                ] {
                    let pairs: Vec<(String, String)> = sqlx::query_as(sql).bind(user).fetch_all(&mut *tx).await?;
                    for (image, thumb) in pairs {
                        keys.push(image);
                        keys.push(thumb);
                    }
                }
                let exports: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT id, parts FROM data_exports WHERE user_id = $1 AND status <> 'purged'",
                )
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
                for (id, parts) in exports {
                    keys.extend((0..parts).map(|n| format!("exports/{user}/{id}/part-{n}")));
                }
                keys.sort_unstable();
                keys.dedup();
                for key in &keys {
                    sqlx::query("INSERT INTO erasure_objects (erasure_id, object_key) VALUES ($1, $2) \
                                 ON CONFLICT DO NOTHING")
                        .bind(request)
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }

                // Kept, minimised: requests (their ledger and payments are tax records) without
                // what the client wrote; signed consent forms, unchanged, until their
                // jurisdiction's period ends (the retention sweep); the audit log, which names
                // no one. Everything else about the person goes.
                for sql in [
                    "UPDATE booking_requests SET idea = '', placement = '', size = '', preferred_dates = '', \
                     date_of_birth = NULL WHERE client_id = $1",
                    "DELETE FROM booking_references WHERE booking_id IN \
                     (SELECT id FROM booking_requests WHERE client_id = $1)",
                    "UPDATE portfolio_items SET booking_id = NULL WHERE booking_id IN \
                     (SELECT id FROM booking_requests WHERE client_id = $1)",
                    "DELETE FROM message_reads WHERE user_id = $1",
                    "DELETE FROM reviews WHERE client_id = $1",
                    "UPDATE artists SET \
                     rating_count = (SELECT COUNT(*) FROM reviews r WHERE r.artist_id = artists.id), \
                     rating_sum = (SELECT COALESCE(SUM(r.rating), 0) FROM reviews r WHERE r.artist_id = artists.id), \
                     rating_avg_centi = (SELECT CASE WHEN COUNT(*) = 0 THEN 0 ELSE SUM(r.rating) * 100 / COUNT(*) END \
                     FROM reviews r WHERE r.artist_id = artists.id) \
                     WHERE id IN (SELECT artist_id FROM booking_requests WHERE client_id = $1)",
                    // The outbox is a delivery queue, not an archive: emails to or about the
                    // person (the other party's included, which name them) go.
                    "DELETE FROM outbox WHERE recipient_id = $1 OR artist_id IN \
                     (SELECT id FROM artists WHERE user_id = $1) OR booking_id IN \
                     (SELECT id FROM booking_requests WHERE client_id = $1 OR artist_id IN \
                     (SELECT id FROM artists WHERE user_id = $1))",
                    "DELETE FROM oidc_identities WHERE user_id = $1",
                    "DELETE FROM user_devices WHERE user_id = $1",
                    "DELETE FROM user_activity WHERE user_id = $1",
                    "DELETE FROM legal_acceptances WHERE user_id = $1",
                    "DELETE FROM privacy_choices WHERE user_id = $1",
                    "DELETE FROM data_exports WHERE user_id = $1",
                    "DELETE FROM books_open_watches WHERE user_id = $1 OR artist_id IN \
                     (SELECT id FROM artists WHERE user_id = $1)",
                    "DELETE FROM portfolio_items WHERE artist_id IN (SELECT id FROM artists WHERE user_id = $1)",
                    "DELETE FROM flash_designs WHERE artist_id IN (SELECT id FROM artists WHERE user_id = $1)",
                    "DELETE FROM guest_spots WHERE artist_id IN (SELECT id FROM artists WHERE user_id = $1)",
                    "DELETE FROM artist_styles WHERE artist_id IN (SELECT id FROM artists WHERE user_id = $1)",
                    "DELETE FROM artist_days_off WHERE artist_id IN (SELECT id FROM artists WHERE user_id = $1)",
                ] {
                    sqlx::query(sql).bind(user).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "UPDATE messages SET body = '', body_removed_at = $2 WHERE sender_id = $1 \
                     AND body_removed_at IS NULL",
                )
                .bind(user)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE artists SET slug = 'deleted-' || id, bio = '', search_text = '', books_open = FALSE, \
                     calendar_token = NULL, studio_id = NULL, delisted_at = $2 WHERE user_id = $1",
                )
                .bind(user)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE users SET email = 'erased-' || id || '@erased.invalid', password_hash = '!', \
                     display_name = 'Deleted user', totp_secret = NULL, totp_recovery = '', email_opt_out = '', \
                     session_epoch = session_epoch + 1, erased_at = $2 WHERE id = $1",
                )
                .bind(user)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                // The claim's lease stays: if deleting the objects fails, that is when it is tried again.
                sqlx::query("UPDATE erasure_requests SET status = 'erasing', note = NULL WHERE id = $1")
                .bind(request)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::EraseOutcome::Erased { objects: keys.len() as i64 })
            }

            #[tracing::instrument(skip_all, name = "store.erasure_objects")]
            async fn erasure_objects(&self, request: i64) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT object_key FROM erasure_objects WHERE erasure_id = $1 ORDER BY object_key",
                )
                .bind(request)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(k,)| k).collect())
            }

            #[tracing::instrument(skip_all, name = "store.forget_erasure_object")]
            async fn forget_erasure_object(&self, request: i64, key: &str) -> $crate::Result<()> {
                sqlx::query("DELETE FROM erasure_objects WHERE erasure_id = $1 AND object_key = $2")
                    .bind(request)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.finish_erasure")]
            async fn finish_erasure(&self, request: i64, at: i64) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE erasure_requests SET status = 'done', completed_at = $1, note = NULL \
                     WHERE id = $2 AND status = 'erasing'",
                )
                .bind(at)
                .bind(request)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.kept_consents")]
            async fn kept_consents(&self, after_id: i64, limit: i64) -> $crate::Result<Vec<$crate::KeptConsent>> {
                Ok(sqlx::query_as(
                    "SELECT c.id, c.jurisdiction, c.signed_at FROM consents c JOIN users u ON u.id = c.client_id \
                     WHERE u.erased_at IS NOT NULL AND c.id > $1 ORDER BY c.id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, name = "store.delete_kept_consent")]
            async fn delete_kept_consent(&self, id: i64) -> $crate::Result<()> {
                sqlx::query(
                    "DELETE FROM consents WHERE id = $1 AND client_id IN \
                     (SELECT id FROM users WHERE erased_at IS NOT NULL)",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_erasure_store;
