//! The notification outbox: emails recorded in the transaction of the change they announce, delivered (and retried) by the worker.

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// The notification outbox's storage operations.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues an email about the account itself (verification, a sign-up attempt with its address).
    async fn queue_account_email(
        &self,
        to: UserId,
        kind: &str,
        subject: &str,
        body: &str,
        at: i64,
    ) -> Result<()>;

    /// Queues an account email to `address` instead of the account's own (a new address the
    /// person must confirm).
    async fn queue_email_to_address(
        &self,
        to: UserId,
        address: &domain::Email,
        kind: &str,
        subject: &str,
        body: &str,
        at: i64,
    ) -> Result<()>;

    /// Queues the reminders of sessions starting within 48 h and within 24 h, to both sides,
    /// each once. Returns how many sessions were reminded.
    async fn remind_sessions(&self, at: i64, limit: i64) -> Result<usize>;

    /// The optional email kinds `user` turned off.
    async fn email_opt_out(&self, user: UserId) -> Result<Vec<String>>;

    /// Replaces the optional email kinds `user` turned off.
    async fn set_email_opt_out(&self, user: UserId, kinds: &[String]) -> Result<()>;

    /// Asks to be emailed once when `artist` opens their books (again: no duplicate).
    async fn watch_books(&self, artist: ArtistId, user: UserId, at: i64) -> Result<()>;

    async fn unwatch_books(&self, artist: ArtistId, user: UserId) -> Result<()>;

    async fn watches_books(&self, artist: ArtistId, user: UserId) -> Result<bool>;

    /// Asks the clients of sessions completed at least `after` seconds ago for a healed photo,
    /// once per session. Returns how many were asked.
    async fn prompt_healed_photos(&self, at: i64, after: i64, limit: i64) -> Result<usize>;

    /// Claims up to `limit` due notifications for `lease` seconds.
    async fn claim_notifications(
        &self,
        at: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<Notification>>;

    async fn notification_sent(&self, id: i64, at: i64) -> Result<()>;

    async fn notification_failed(&self, id: i64, error: &str, retry_at: i64) -> Result<()>;

    async fn pending_notifications(&self) -> Result<i64>;
}

/// Implements `OutboxStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_outbox_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::OutboxStore for $ty {
            #[tracing::instrument(skip_all, name = "store.queue_account_email", fields(kind))]
            async fn queue_account_email(
                &self,
                to: domain::UserId,
                kind: &str,
                subject: &str,
                body: &str,
                at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                     next_attempt_at) VALUES ($1, NULL, $2, $3, $4, $5, $5)",
                )
                .bind(kind)
                .bind(to.get())
                .bind(subject)
                .bind(body)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.queue_email_to_address", fields(kind))]
            async fn queue_email_to_address(
                &self,
                to: domain::UserId,
                address: &domain::Email,
                kind: &str,
                subject: &str,
                body: &str,
                at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                     next_attempt_at, to_address) VALUES ($1, NULL, $2, $3, $4, $5, $5, $6)",
                )
                .bind(kind)
                .bind(to.get())
                .bind(subject)
                .bind(body)
                .bind(at)
                .bind(address.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.prompt_healed_photos")]
            async fn prompt_healed_photos(&self, at: i64, after: i64, limit: i64) -> $crate::Result<usize> {
                let mut tx = self.write_tx().await?;
                let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
                    "SELECT ap.id, ap.booking_id FROM appointments ap WHERE ap.state = 'completed' \
                     AND ap.healed_prompted_at IS NULL AND ap.ends_at <= $1 ORDER BY ap.id LIMIT $2{}",
                    $skip
                ))
                .bind(at - after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let mut asked = 0;
                for (ap, booking) in due {
                    let done = sqlx::query(
                        "UPDATE appointments SET healed_prompted_at = $1 WHERE id = $2 AND healed_prompted_at IS NULL",
                    )
                    .bind(at)
                    .bind(ap)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 1 {
                        let req = Self::lock_booking(&mut tx, domain::BookingId::new(booking), None).await?;
                        Self::notify(&mut tx, "healed.prompt", &req, &[req.client_id], at).await?;
                        asked += 1;
                    }
                }
                tx.commit().await?;
                Ok(asked)
            }

            #[tracing::instrument(skip_all, name = "store.remind_sessions")]
            async fn remind_sessions(&self, at: i64, limit: i64) -> $crate::Result<usize> {
                let mut tx = self.write_tx().await?;
                let mut reminded = 0;
                // The 48 h reminder only for sessions more than a day away, so a session booked
                // at short notice gets the one reminder that fits.
                for (column, kind, from, to) in [
                    ("reminded_48_at", "appointment.reminder_48", at + 86_400, at + 2 * 86_400),
                    ("reminded_24_at", "appointment.reminder_24", at, at + 86_400),
                ] {
                    let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
                        "SELECT ap.id, ap.booking_id FROM appointments ap WHERE ap.state IN ('scheduled', 'confirmed') \
                         AND ap.{column} IS NULL AND ap.starts_at > $1 AND ap.starts_at <= $2 ORDER BY ap.starts_at LIMIT $3{}",
                        $skip
                    ))
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (ap, booking) in due {
                        let done = sqlx::query(&format!(
                            "UPDATE appointments SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
                        ))
                        .bind(at)
                        .bind(ap)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            let req = Self::lock_booking(&mut tx, domain::BookingId::new(booking), None).await?;
                            let both = [req.client_id, req.artist_user_id];
                            Self::notify_session(&mut tx, kind, &req, Some(domain::AppointmentId::new(ap)), &both, at).await?;
                            reminded += 1;
                        }
                    }
                }
                tx.commit().await?;
                Ok(reminded)
            }

            #[tracing::instrument(skip_all, name = "store.email_opt_out")]
            async fn email_opt_out(&self, user: domain::UserId) -> $crate::Result<Vec<String>> {
                let (kinds,): (String,) = sqlx::query_as("SELECT email_opt_out FROM users WHERE id = $1")
                    .bind(user.get())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                Ok(kinds.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect())
            }

            #[tracing::instrument(skip_all, name = "store.set_email_opt_out")]
            async fn set_email_opt_out(&self, user: domain::UserId, kinds: &[String]) -> $crate::Result<()> {
                sqlx::query("UPDATE users SET email_opt_out = $2 WHERE id = $1")
                    .bind(user.get())
                    .bind(kinds.join(","))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.watch_books")]
            async fn watch_books(&self, artist: domain::ArtistId, user: domain::UserId, at: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO books_open_watches (artist_id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (artist_id, user_id) DO NOTHING",
                )
                .bind(artist.get())
                .bind(user.get())
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.unwatch_books")]
            async fn unwatch_books(&self, artist: domain::ArtistId, user: domain::UserId) -> $crate::Result<()> {
                sqlx::query("DELETE FROM books_open_watches WHERE artist_id = $1 AND user_id = $2")
                    .bind(artist.get())
                    .bind(user.get())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.watches_books")]
            async fn watches_books(&self, artist: domain::ArtistId, user: domain::UserId) -> $crate::Result<bool> {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT artist_id FROM books_open_watches WHERE artist_id = $1 AND user_id = $2",
                )
                .bind(artist.get())
                .bind(user.get())
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            #[tracing::instrument(skip_all, name = "store.claim_notifications")]
            async fn claim_notifications(
                &self,
                at: i64,
                lease: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Notification>> {
                let mut tx = self.write_tx().await?;
                let sql = concat!(
                    "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 WHERE id IN (",
                    "SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 ",
                    "AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY id LIMIT $3", $skip, ") RETURNING id"
                );
                let ids: Vec<(i64,)> = sqlx::query_as(sql)
                    .bind(at)
                    .bind(at + lease)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                for (id,) in ids {
                    let row: $crate::rows::NotificationRow = sqlx::query_as(
                        "SELECT o.id, o.kind, o.booking_id, o.recipient_id, COALESCE(o.to_address, u.email) AS email, u.display_name, o.subject, o.body, o.attempts, \
                         u.email_opt_out, cu.display_name AS client_name, \
                         COALESCE(au.display_name, wu.display_name) AS artist_name, \
                         COALESCE(a.slug, wa.slug) AS artist_slug, \
                         o.appointment_id, sap.starts_at AS session_starts_at, sap.ends_at AS session_ends_at, \
                         a.time_zone AS time_zone, a.city AS artist_city, \
                         pay.amount_cents AS payment_amount, pay.currency AS payment_currency, \
                         pay.intent_id AS payment_intent \
                         FROM outbox o JOIN users u ON u.id = o.recipient_id \
                         LEFT JOIN booking_requests br ON br.id = o.booking_id \
                         LEFT JOIN users cu ON cu.id = br.client_id \
                         LEFT JOIN artists a ON a.id = br.artist_id \
                         LEFT JOIN users au ON au.id = a.user_id \
                         LEFT JOIN artists wa ON wa.id = o.artist_id \
                         LEFT JOIN users wu ON wu.id = wa.user_id \
                         LEFT JOIN appointments sap ON sap.id = o.appointment_id \
                         LEFT JOIN payments pay ON pay.id = o.payment_id WHERE o.id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    out.push(row.into());
                }
                tx.commit().await?;
                out.sort_by_key(|n: &$crate::Notification| n.id);
                Ok(out)
            }

            #[tracing::instrument(skip_all, name = "store.notification_sent")]
            async fn notification_sent(&self, id: i64, at: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET sent_at = $2, claimed_until = NULL, last_error = NULL WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.notification_failed")]
            async fn notification_failed(&self, id: i64, error: &str, retry_at: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET claimed_until = NULL, last_error = $2, next_attempt_at = $3 WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(error)
                    .bind(retry_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.pending_notifications")]
            async fn pending_notifications(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }
        }
    };
}
pub(crate) use impl_outbox_store;
