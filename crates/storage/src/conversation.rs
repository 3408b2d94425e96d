//! Each request's message thread, and the reviews of completed requests.

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// Each request's message thread, and the reviews of completed requests.'s storage operations.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn messages(&self, id: BookingId, viewer: UserId) -> Result<Vec<Message>>;

    async fn post_message(
        &self,
        id: BookingId,
        viewer: UserId,
        body: String,
        at: i64,
    ) -> Result<Message>;

    async fn unread_total(&self, viewer: UserId) -> Result<i64>;

    async fn create_review(
        &self,
        id: BookingId,
        viewer: UserId,
        rating: Rating,
        body: String,
        at: i64,
    ) -> Result<Review>;

    async fn reviews_for_artist(&self, artist: ArtistId, limit: i64) -> Result<Vec<Review>>;
}

/// Implements `ConversationStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_conversation_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::ConversationStore for $ty {
            #[tracing::instrument(skip_all, name = "store.messages")]
            async fn messages(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Vec<$crate::Message>> {
                let mut tx = self.write_tx().await?;
                Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                let rows: Vec<$crate::rows::MessageRow> = sqlx::query_as(
                    "SELECT m.id, m.booking_id, m.sender_id, u.display_name AS sender_name, m.body, m.created_at \
                     FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.booking_id = $1 ORDER BY m.id",
                )
                .bind(id.get())
                .fetch_all(&mut *tx)
                .await?;
                if let Some(last) = rows.last() {
                    sqlx::query(
                        "INSERT INTO message_reads (booking_id, user_id, last_read_id) VALUES ($1, $2, $3) \
                         ON CONFLICT (booking_id, user_id) DO UPDATE SET last_read_id = excluded.last_read_id",
                    )
                    .bind(id.get())
                    .bind(viewer.get())
                    .bind(last.id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(skip_all, name = "store.post_message")]
            async fn post_message(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                body: String,
                at: i64,
            ) -> $crate::Result<$crate::Message> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                let other = if viewer == req.client_id { req.artist_user_id } else { req.client_id };
                let (erased,): (Option<i64>,) = sqlx::query_as("SELECT erased_at FROM users WHERE id = $1")
                    .bind(other.get())
                    .fetch_one(&mut *tx)
                    .await?;
                if erased.is_some() {
                    return Err($crate::StoreError::Refused(
                        "This person deleted their account, so they cannot be sent messages.".into(),
                    ));
                }
                let row: $crate::rows::MessageRow = sqlx::query_as(
                    "INSERT INTO messages (booking_id, sender_id, body, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, booking_id, sender_id, '' AS sender_name, body, created_at",
                )
                .bind(id.get())
                .bind(viewer.get())
                .bind(&body)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
                let mut message: $crate::Message = row.into();
                let (other, name) = if viewer == req.client_id {
                    (req.artist_user_id, req.client_name.clone())
                } else {
                    (req.client_id, req.artist_name.clone())
                };
                message.sender_name = name;
                Self::notify(&mut tx, "message", &req, &[other], at).await?;
                tx.commit().await?;
                Ok(message)
            }

            #[tracing::instrument(skip_all, name = "store.unread_total")]
            async fn unread_total(&self, viewer: domain::UserId) -> $crate::Result<i64> {
                let sql = format!(
                    "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM booking_requests br \
                     JOIN artists a ON a.id = br.artist_id WHERE br.client_id = $1 OR a.user_id = $1",
                    $crate::rows::UNREAD_SQL
                );
                let (n,): (i64,) = sqlx::query_as(&sql).bind(viewer.get()).fetch_one(&self.pool).await?;
                Ok(n)
            }

            #[tracing::instrument(skip_all, name = "store.create_review")]
            async fn create_review(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                rating: domain::Rating,
                body: String,
                at: i64,
            ) -> $crate::Result<$crate::Review> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                if req.actor_for(viewer) != Some(domain::Actor::Client) {
                    return Err($crate::StoreError::WrongParty("only the client reviews a booking".into()));
                }
                let (completed,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state = 'completed'",
                )
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
                if completed == 0 {
                    return Err($crate::StoreError::Refused(
                        "a review opens once a session is completed".into(),
                    ));
                }
                let (rid,): (i64,) = sqlx::query_as(
                    "INSERT INTO reviews (booking_id, artist_id, client_id, rating, body, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(id.get())
                .bind(req.artist_id.get())
                .bind(viewer.get())
                .bind(i64::from(rating.get()))
                .bind(&body)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match $crate::StoreError::from(e) {
                    $crate::StoreError::Conflict(_) => {
                        $crate::StoreError::Conflict("this booking has already been reviewed")
                    }
                    other => other,
                })?;
                sqlx::query(
                    "UPDATE artists SET rating_count = rating_count + 1, rating_sum = rating_sum + $2, \
                     rating_avg_centi = (rating_sum + $2) * 100 / (rating_count + 1) WHERE id = $1",
                )
                .bind(req.artist_id.get())
                .bind(i64::from(rating.get()))
                .execute(&mut *tx)
                .await?;
                Self::notify(&mut tx, "review", &req, &[req.artist_user_id], at).await?;
                tx.commit().await?;
                Ok($crate::Review {
                    id: rid,
                    booking_id: id,
                    artist_id: req.artist_id,
                    client_name: req.client_name,
                    rating: rating.get(),
                    body,
                    created_at: at,
                })
            }

            #[tracing::instrument(skip_all, name = "store.reviews_for_artist")]
            async fn reviews_for_artist(
                &self,
                artist: domain::ArtistId,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Review>> {
                Ok(sqlx::query_as::<_, $crate::rows::ReviewRow>(
                    "SELECT r.id, r.booking_id, r.artist_id, u.display_name AS client_name, r.rating, r.body, \
                     r.created_at FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.artist_id = $1 \
                     ORDER BY r.id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }
        }
    };
}
pub(crate) use impl_conversation_store;
