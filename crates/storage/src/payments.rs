//! Card deposits: the PaymentIntents created for requests, the provider's events applied once
//! each (the deposit ledger follows them), refunds, and artists' payout accounts.

use crate::error::Result;
use async_trait::async_trait;
use domain::{ArtistId, BookingId, UserId};

/// Where a card payment stands, as the provider's events left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created; the client has not paid yet (or their bank is still deciding).
    Pending,
    Succeeded,
    Failed,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            PaymentStatus::Pending,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::Refunded,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// One card payment of a request's deposit (a Stripe PaymentIntent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Payment {
    pub id: i64,
    pub booking_id: BookingId,
    pub intent_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// What the provider said when the card was declined; safe to show to the payer.
    pub failure: Option<String>,
    pub refund_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the payment provider told us, reduced to what the booking flow acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEventKind {
    Succeeded {
        intent_id: String,
        amount_cents: i64,
    },
    Failed {
        intent_id: String,
        message: String,
    },
    Refunded {
        intent_id: String,
        refund_id: String,
    },
    /// An event we subscribe to nothing for; remembered so a retry is not looked at twice.
    Other,
}

/// What applying one provider event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event id was seen before: nothing was done again.
    Duplicate,
    /// Not about a payment of ours, or nothing to change.
    Ignored,
    /// The payment, and where it applies the ledger and the request, were updated.
    Applied,
    /// The money arrived but the request no longer takes a deposit (it expired, was withdrawn, or
    /// the artist recorded the deposit by hand meanwhile): the payment must be refunded.
    RefundDue(Payment),
}

/// Card deposits' storage operations.
#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// The request's card payments, newest first, for its two participants.
    async fn payments(&self, booking: BookingId, viewer: UserId) -> Result<Vec<Payment>>;

    /// Records the PaymentIntent created for a request's deposit. Creating the same intent again
    /// (the provider answered an idempotent retry with it) returns the stored row.
    async fn record_intent(
        &self,
        booking: BookingId,
        intent_id: &str,
        amount_cents: i64,
        currency: &str,
        at: i64,
    ) -> Result<Payment>;

    /// Applies one provider event exactly once: the event id, the payment's status, and for a
    /// success the deposit (state, ledger entry linked to the payment, receipt), in one
    /// transaction.
    async fn apply_payment_event(
        &self,
        event_id: &str,
        event: &PaymentEventKind,
        at: i64,
    ) -> Result<EventOutcome>;

    /// Records a refund the provider accepted: the payment, the ledger entry and the client's
    /// notice, once however often it is reported.
    async fn record_refund(&self, payment: i64, refund_id: &str, at: i64) -> Result<bool>;

    /// Card payments that succeeded but entered no ledger (the request no longer took a deposit)
    /// and are not refunded yet, last changed before `before`: refunds still owed.
    async fn unapplied_payments(&self, before: i64, limit: i64) -> Result<Vec<Payment>>;

    /// The artist's Stripe Connect account, once they started onboarding.
    async fn stripe_account(&self, artist: ArtistId) -> Result<Option<String>>;

    /// Keeps the Stripe Connect account created for the signed-in artist.
    async fn set_stripe_account(&self, artist_user: UserId, account: &str) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct PaymentRow {
    id: i64,
    booking_id: i64,
    intent_id: String,
    amount_cents: i64,
    currency: String,
    status: String,
    failure: Option<String>,
    refund_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = crate::StoreError;
    fn try_from(r: PaymentRow) -> Result<Self> {
        Ok(Payment {
            id: r.id,
            booking_id: BookingId::new(r.booking_id),
            status: PaymentStatus::parse(&r.status).ok_or_else(|| {
                crate::StoreError::Corrupt(format!("payment {}: status {:?}", r.id, r.status))
            })?,
            intent_id: r.intent_id,
            amount_cents: r.amount_cents,
            currency: r.currency,
            failure: r.failure,
            refund_id: r.refund_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const PAYMENT_SELECT: &str = "SELECT id, booking_id, intent_id, amount_cents, currency, \
status, failure, refund_id, created_at, updated_at FROM payments";

/// Implements `PaymentStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_payment_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        impl $ty {
            async fn payment_by(
                tx: &mut sqlx::Transaction<'static, $db>,
                intent_id: &str,
            ) -> $crate::Result<Option<$crate::Payment>> {
                let sql = format!("{} WHERE intent_id = $1{}", $crate::payments::PAYMENT_SELECT, Self::ROW_LOCK);
                let row: Option<$crate::payments::PaymentRow> = sqlx::query_as(&sql)
                    .bind(intent_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn payment_by_id(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: i64,
            ) -> $crate::Result<Option<$crate::Payment>> {
                let sql = format!("{} WHERE id = $1{}", $crate::payments::PAYMENT_SELECT, Self::ROW_LOCK);
                let row: Option<$crate::payments::PaymentRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            /// The payment row lock: none on SQLite, where the write transaction holds the lock.
            const ROW_LOCK: &str = if $lock.is_empty() { "" } else { " FOR UPDATE" };

            /// Queues a payment notice to the request's client, naming the payment.
            async fn notify_payment(
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: &str,
                req: &$crate::BookingRequest,
                payment: i64,
                at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                     next_attempt_at, payment_id) VALUES ($1, $2, $3, '', '', $4, $4, $5)",
                )
                .bind(kind)
                .bind(req.id.get())
                .bind(req.client_id.get())
                .bind(at)
                .bind(payment)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// The refund, in the caller's transaction: false when it was recorded before.
            async fn refund_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                payment: &$crate::Payment,
                refund_id: &str,
                at: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE payments SET status = 'refunded', refund_id = $1, updated_at = $2 \
                     WHERE id = $3 AND status <> 'refunded'",
                )
                .bind(refund_id)
                .bind(at)
                .bind(payment.id)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                // Only money the ledger received goes out of it again; a payment refunded
                // because the request no longer took it never entered the ledger.
                let (in_ledger,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM deposit_ledger WHERE payment_id = $1 AND entry = 'deposit_paid'",
                )
                .bind(payment.id)
                .fetch_one(&mut **tx)
                .await?;
                if in_ledger > 0 {
                    sqlx::query(
                        "INSERT INTO deposit_ledger (booking_id, entry, amount_cents, at, payment_id) \
                         VALUES ($1, 'deposit_refunded', $2, $3, $4)",
                    )
                    .bind(payment.booking_id.get())
                    .bind(payment.amount_cents)
                    .bind(at)
                    .bind(payment.id)
                    .execute(&mut **tx)
                    .await?;
                }
                let req = Self::lock_booking(tx, payment.booking_id, None).await?;
                Self::notify_payment(tx, "payment.refunded", &req, payment.id, at).await?;
                Ok(true)
            }
        }

        #[async_trait::async_trait]
        impl $crate::PaymentStore for $ty {
            #[tracing::instrument(skip_all, name = "store.payments")]
            async fn payments(
                &self,
                booking: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Vec<$crate::Payment>> {
                let sql = format!(
                    "{} WHERE booking_id = $1 AND EXISTS (SELECT 1 FROM booking_requests br \
                     JOIN artists a ON a.id = br.artist_id WHERE br.id = $1 \
                     AND (br.client_id = $2 OR a.user_id = $2)) ORDER BY id DESC",
                    $crate::payments::PAYMENT_SELECT
                );
                let rows: Vec<$crate::payments::PaymentRow> = sqlx::query_as(&sql)
                    .bind(booking.get())
                    .bind(viewer.get())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            #[tracing::instrument(skip_all, name = "store.record_intent")]
            async fn record_intent(
                &self,
                booking: domain::BookingId,
                intent_id: &str,
                amount_cents: i64,
                currency: &str,
                at: i64,
            ) -> $crate::Result<$crate::Payment> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO payments (booking_id, intent_id, amount_cents, currency, status, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5) \
                     ON CONFLICT (intent_id) DO NOTHING",
                )
                .bind(booking.get())
                .bind(intent_id)
                .bind(amount_cents)
                .bind(currency)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let payment = Self::payment_by(&mut tx, intent_id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                if payment.booking_id != booking {
                    return Err($crate::StoreError::Conflict("the payment belongs to another request"));
                }
                tx.commit().await?;
                Ok(payment)
            }

            #[tracing::instrument(skip_all, name = "store.apply_payment_event")]
            async fn apply_payment_event(
                &self,
                event_id: &str,
                event: &$crate::PaymentEventKind,
                at: i64,
            ) -> $crate::Result<$crate::EventOutcome> {
                use $crate::{EventOutcome, PaymentEventKind as K, PaymentStatus as S};
                let mut tx = self.write_tx().await?;
                let kind = match event {
                    K::Succeeded { .. } => "payment_intent.succeeded",
                    K::Failed { .. } => "payment_intent.payment_failed",
                    K::Refunded { .. } => "refund",
                    K::Other => "other",
                };
                let fresh = sqlx::query(
                    "INSERT INTO payment_events (event_id, kind, received_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id)
                .bind(kind)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fresh == 0 {
                    return Ok(EventOutcome::Duplicate);
                }
                let intent = match event {
                    K::Succeeded { intent_id, .. }
                    | K::Failed { intent_id, .. }
                    | K::Refunded { intent_id, .. } => intent_id,
                    K::Other => {
                        tx.commit().await?;
                        return Ok(EventOutcome::Ignored);
                    }
                };
                let Some(payment) = Self::payment_by(&mut tx, intent).await? else {
                    tx.commit().await?;
                    return Ok(EventOutcome::Ignored);
                };
                let outcome = match event {
                    K::Succeeded { amount_cents, .. } => {
                        if matches!(payment.status, S::Succeeded | S::Refunded) {
                            EventOutcome::Ignored
                        } else if *amount_cents != payment.amount_cents {
                            return Err($crate::StoreError::Corrupt(format!(
                                "payment {}: {} paid, {} asked",
                                payment.id, amount_cents, payment.amount_cents
                            )));
                        } else {
                            sqlx::query(
                                "UPDATE payments SET status = 'succeeded', failure = NULL, updated_at = $1 WHERE id = $2",
                            )
                            .bind(at)
                            .bind(payment.id)
                            .execute(&mut *tx)
                            .await?;
                            let req = Self::lock_booking(&mut tx, payment.booking_id, None).await?;
                            let takes_deposit = req.state == domain::BookingState::DepositPending
                                && req.quote.is_some_and(|q| q.deposit_cents == payment.amount_cents);
                            let applied = if takes_deposit {
                                Self::apply_change(
                                    &mut tx,
                                    req.clone(),
                                    domain::Actor::System,
                                    $crate::BookingChange::DepositPaid,
                                    at,
                                )
                                .await
                            } else {
                                Err($crate::StoreError::Refused("no deposit due".into()))
                            };
                            match applied {
                                Ok(_) => {
                                    sqlx::query(
                                        "UPDATE deposit_ledger SET payment_id = $1 WHERE booking_id = $2 \
                                         AND entry = 'deposit_paid' AND payment_id IS NULL \
                                         AND at = $3",
                                    )
                                    .bind(payment.id)
                                    .bind(req.id.get())
                                    .bind(at)
                                    .execute(&mut *tx)
                                    .await?;
                                    Self::notify_payment(&mut tx, "payment.receipt", &req, payment.id, at)
                                        .await?;
                                    EventOutcome::Applied
                                }
                                // The decision refuses before it writes anything, so the
                                // transaction holds only the payment's new status.
                                Err($crate::StoreError::Refused(_)) => EventOutcome::RefundDue($crate::Payment {
                                    status: S::Succeeded,
                                    updated_at: at,
                                    ..payment
                                }),
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    K::Failed { message, .. } => {
                        if payment.status == S::Pending {
                            sqlx::query(
                                "UPDATE payments SET status = 'failed', failure = $1, updated_at = $2 WHERE id = $3",
                            )
                            .bind(message.chars().take(300).collect::<String>())
                            .bind(at)
                            .bind(payment.id)
                            .execute(&mut *tx)
                            .await?;
                            EventOutcome::Applied
                        } else {
                            EventOutcome::Ignored
                        }
                    }
                    K::Refunded { refund_id, .. } => {
                        if Self::refund_in(&mut tx, &payment, refund_id, at).await? {
                            EventOutcome::Applied
                        } else {
                            EventOutcome::Ignored
                        }
                    }
                    K::Other => EventOutcome::Ignored,
                };
                tx.commit().await?;
                Ok(outcome)
            }

            #[tracing::instrument(skip_all, name = "store.record_refund")]
            async fn record_refund(&self, payment: i64, refund_id: &str, at: i64) -> $crate::Result<bool> {
                let mut tx = self.write_tx().await?;
                let payment = Self::payment_by_id(&mut tx, payment)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                let done = Self::refund_in(&mut tx, &payment, refund_id, at).await?;
                tx.commit().await?;
                Ok(done)
            }

            #[tracing::instrument(skip_all, name = "store.unapplied_payments")]
            async fn unapplied_payments(&self, before: i64, limit: i64) -> $crate::Result<Vec<$crate::Payment>> {
                let sql = format!(
                    "{} WHERE status = 'succeeded' AND updated_at < $1 AND NOT EXISTS \
                     (SELECT 1 FROM deposit_ledger l WHERE l.payment_id = payments.id) ORDER BY id LIMIT $2",
                    $crate::payments::PAYMENT_SELECT
                );
                let rows: Vec<$crate::payments::PaymentRow> = sqlx::query_as(&sql)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            #[tracing::instrument(skip_all, name = "store.stripe_account")]
            async fn stripe_account(&self, artist: domain::ArtistId) -> $crate::Result<Option<String>> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT stripe_account_id FROM artists WHERE id = $1")
                        .bind(artist.get())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.and_then(|(a,)| a))
            }

            #[tracing::instrument(skip_all, name = "store.set_stripe_account")]
            async fn set_stripe_account(&self, artist_user: domain::UserId, account: &str) -> $crate::Result<()> {
                let done = sqlx::query("UPDATE artists SET stripe_account_id = $1 WHERE user_id = $2")
                    .bind(account)
                    .bind(artist_user.get())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_payment_store;
