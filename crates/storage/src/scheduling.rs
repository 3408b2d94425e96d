//! Scheduling by proposal: artists' days off, the times a client proposes for a booked request,
//! and what the calendar already holds.

use crate::error::Result;
use async_trait::async_trait;
use domain::{ArtistId, BookingId, UserId};

/// A time a client proposed for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Proposal {
    pub id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// The most times a client proposes at once.
pub const MAX_PROPOSALS: usize = 3;

/// Scheduling's storage operations.
#[async_trait]
pub trait SchedulingStore: Send + Sync {
    /// The artist's days off (YYYY-MM-DD) from `from` on, in order.
    async fn days_off(&self, artist: ArtistId, from: &str) -> Result<Vec<String>>;

    /// Replaces the signed-in artist's days off.
    async fn set_days_off(&self, artist_user: UserId, days: &[String]) -> Result<()>;

    /// Scheduled and confirmed sessions of the artist overlapping `[from, to)`.
    async fn busy_times(&self, artist: ArtistId, from: i64, to: i64) -> Result<Vec<(i64, i64)>>;

    /// The client of a booked request proposes up to three times, replacing earlier ones; the
    /// artist is told.
    async fn propose_slots(
        &self,
        booking: BookingId,
        client: UserId,
        slots: &[domain::Slot],
        at: i64,
    ) -> Result<Vec<Proposal>>;

    /// The request's open proposals, for its two participants.
    async fn proposals(&self, booking: BookingId, viewer: UserId) -> Result<Vec<Proposal>>;

    /// Forgets the request's proposals once one became a session.
    async fn clear_proposals(&self, booking: BookingId) -> Result<()>;
}

/// Implements `SchedulingStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_scheduling_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::SchedulingStore for $ty {
            #[tracing::instrument(skip_all, name = "store.days_off")]
            async fn days_off(&self, artist: domain::ArtistId, from: &str) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT day FROM artist_days_off WHERE artist_id = $1 AND day >= $2 ORDER BY day",
                )
                .bind(artist.get())
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(d,)| d).collect())
            }

            #[tracing::instrument(skip_all, name = "store.set_days_off")]
            async fn set_days_off(&self, artist_user: domain::UserId, days: &[String]) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                let (artist,): (i64,) = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(artist_user.get())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                sqlx::query("DELETE FROM artist_days_off WHERE artist_id = $1")
                    .bind(artist)
                    .execute(&mut *tx)
                    .await?;
                for day in days {
                    sqlx::query(
                        "INSERT INTO artist_days_off (artist_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(artist)
                    .bind(day)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.busy_times")]
            async fn busy_times(&self, artist: domain::ArtistId, from: i64, to: i64) -> $crate::Result<Vec<(i64, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT starts_at, ends_at FROM appointments WHERE artist_id = $1 \
                     AND state IN ('scheduled', 'confirmed') AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at",
                )
                .bind(artist.get())
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, name = "store.propose_slots")]
            async fn propose_slots(
                &self,
                booking: domain::BookingId,
                client: domain::UserId,
                slots: &[domain::Slot],
                at: i64,
            ) -> $crate::Result<Vec<$crate::Proposal>> {
                if slots.is_empty() || slots.len() > $crate::scheduling::MAX_PROPOSALS {
                    return Err($crate::StoreError::Refused(format!(
                        "propose between one and {} times",
                        $crate::scheduling::MAX_PROPOSALS
                    )));
                }
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, booking, Some(client)).await?;
                if req.actor_for(client) != Some(domain::Actor::Client) {
                    return Err($crate::StoreError::WrongParty("the client proposes times".into()));
                }
                if req.state != domain::BookingState::Booked {
                    return Err($crate::StoreError::Refused(
                        "times can be proposed once the deposit is paid".into(),
                    ));
                }
                sqlx::query("DELETE FROM slot_proposals WHERE booking_id = $1")
                    .bind(booking.get())
                    .execute(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(slots.len());
                for s in slots {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO slot_proposals (booking_id, starts_at, ends_at, created_at) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(booking.get())
                    .bind(s.starts_at)
                    .bind(s.ends_at)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                    out.push($crate::Proposal { id, starts_at: s.starts_at, ends_at: s.ends_at });
                }
                Self::notify(&mut tx, "booking.slots_proposed", &req, &[req.artist_user_id], at).await?;
                tx.commit().await?;
                Ok(out)
            }

            #[tracing::instrument(skip_all, name = "store.proposals")]
            async fn proposals(&self, booking: domain::BookingId, viewer: domain::UserId) -> $crate::Result<Vec<$crate::Proposal>> {
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT p.id, p.starts_at, p.ends_at FROM slot_proposals p \
                     JOIN booking_requests br ON br.id = p.booking_id JOIN artists a ON a.id = br.artist_id \
                     WHERE p.booking_id = $1 AND (br.client_id = $2 OR a.user_id = $2) ORDER BY p.starts_at",
                )
                .bind(booking.get())
                .bind(viewer.get())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, starts_at, ends_at)| $crate::Proposal { id, starts_at, ends_at })
                    .collect())
            }

            #[tracing::instrument(skip_all, name = "store.clear_proposals")]
            async fn clear_proposals(&self, booking: domain::BookingId) -> $crate::Result<()> {
                sqlx::query("DELETE FROM slot_proposals WHERE booking_id = $1")
                    .bind(booking.get())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_scheduling_store;
