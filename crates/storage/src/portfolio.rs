//! The artist's work: portfolio pieces, healed photos, flash designs and guest spots.

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// The artist's work's storage operations.
#[async_trait]
pub trait PortfolioStore: Send + Sync {
    async fn portfolio(&self, artist: ArtistId, limit: i64) -> Result<Vec<PortfolioEntry>>;

    /// Adds a piece to the signed-in artist's own portfolio.
    async fn add_portfolio_item(
        &self,
        artist_user: UserId,
        item: NewUpload,
    ) -> Result<PortfolioEntry>;

    /// Removes one of the artist's own pieces and returns its image keys for deletion.
    async fn delete_portfolio_item(&self, artist_user: UserId, id: i64)
    -> Result<(String, String)>;

    /// Adds a healed photo the client of a completed booking shares to the artist's portfolio.
    async fn add_healed_photo(
        &self,
        id: BookingId,
        client: UserId,
        item: NewUpload,
    ) -> Result<PortfolioEntry>;

    async fn add_flash(&self, artist_user: UserId, flash: NewFlash) -> Result<FlashDesign>;

    async fn delete_flash(&self, artist_user: UserId, id: i64) -> Result<(String, String)>;

    async fn flash_for_artist(&self, artist: ArtistId, limit: i64) -> Result<Vec<FlashDesign>>;

    async fn flash_design(&self, id: i64) -> Result<Option<FlashDesign>>;

    /// Adds a guest spot for the signed-in artist at the studio named by `studio_slug`.
    async fn add_guest_spot(
        &self,
        artist_user: UserId,
        studio_slug: &str,
        spot: domain::GuestSpot,
    ) -> Result<GuestSpotView>;

    async fn delete_guest_spot(&self, artist_user: UserId, id: i64) -> Result<()>;

    /// Guest spots of an artist ending on or after `from` (YYYY-MM-DD).
    async fn guest_spots_for_artist(
        &self,
        artist: ArtistId,
        from: &str,
    ) -> Result<Vec<GuestSpotView>>;
}

/// Implements `PortfolioStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_portfolio_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        impl $ty {
            /// Writes a flash design and its sizes inside `tx` (an artist's upload, or the seed).
            pub(crate) async fn insert_flash(
                tx: &mut sqlx::Transaction<'static, $db>,
                artist: i64,
                flash: &$crate::NewFlash,
                now: i64,
            ) -> $crate::Result<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO flash_designs (artist_id, title, style, image_path, thumb_path, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(artist)
                .bind(&flash.title)
                .bind(flash.style.slug())
                .bind(&flash.image_path)
                .bind(&flash.thumb_path)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                for v in &flash.variants {
                    sqlx::query("INSERT INTO flash_variants (flash_id, size, price_cents, minutes) VALUES ($1, $2, $3, $4)")
                        .bind(id)
                        .bind(v.size.as_str())
                        .bind(v.price_cents)
                        .bind(v.minutes)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(id)
            }

            /// Deletes one of the artist's own rows in `table` (portfolio or flash) and returns
            /// its image keys; someone else's id is `NotFound`.
            #[tracing::instrument(skip_all, name = "store.delete_owned_image")]
            async fn delete_owned_image(
                &self,
                table: &'static str,
                artist_user: domain::UserId,
                id: i64,
            ) -> $crate::Result<(String, String)> {
                let sql = format!(
                    "DELETE FROM {table} WHERE id = $1 AND artist_id = \
                     (SELECT a.id FROM artists a WHERE a.user_id = $2) RETURNING image_path, thumb_path"
                );
                let row: Option<(String, String)> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind(artist_user.get())
                    .fetch_optional(&self.pool)
                    .await?;
                row.ok_or($crate::StoreError::NotFound)
            }

            async fn insert_piece(
                pool: &sqlx::Pool<$db>,
                artist: i64,
                booking: Option<i64>,
                item: $crate::NewUpload,
            ) -> $crate::Result<$crate::PortfolioEntry> {
                let tones = item
                    .draft
                    .skin_tones
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                Ok(sqlx::query_as(
                    "INSERT INTO portfolio_items (artist_id, title, style, placement, healed, image_path, \
                     thumb_path, skin_tones, booking_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     RETURNING id, title, style, placement, healed, image_path, thumb_path, skin_tones, booking_id",
                )
                .bind(artist)
                .bind(&item.draft.title)
                .bind(item.draft.style.slug())
                .bind(&item.draft.placement)
                .bind(item.draft.healed)
                .bind(&item.image_path)
                .bind(&item.thumb_path)
                .bind(tones)
                .bind(booking)
                .bind(time::OffsetDateTime::now_utc())
                .fetch_one(pool)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::PortfolioStore for $ty {
            #[tracing::instrument(skip_all, name = "store.portfolio")]
            async fn portfolio(&self, artist: domain::ArtistId, limit: i64) -> $crate::Result<Vec<$crate::PortfolioEntry>> {
                Ok(sqlx::query_as(
                    "SELECT id, title, style, placement, healed, image_path, thumb_path, skin_tones, booking_id \
                     FROM portfolio_items WHERE artist_id = $1 ORDER BY healed DESC, id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, name = "store.add_portfolio_item")]
            async fn add_portfolio_item(
                &self,
                artist_user: domain::UserId,
                item: $crate::NewUpload,
            ) -> $crate::Result<$crate::PortfolioEntry> {
                let artist: Option<(i64,)> = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(artist_user.get())
                    .fetch_optional(&self.pool)
                    .await?;
                let (artist,) = artist.ok_or($crate::StoreError::NotFound)?;
                Self::insert_piece(&self.pool, artist, None, item).await
            }

            #[tracing::instrument(skip_all, name = "store.delete_portfolio_item")]
            async fn delete_portfolio_item(
                &self,
                artist_user: domain::UserId,
                id: i64,
            ) -> $crate::Result<(String, String)> {
                self.delete_owned_image("portfolio_items", artist_user, id).await
            }

            #[tracing::instrument(skip_all, name = "store.add_healed_photo")]
            async fn add_healed_photo(
                &self,
                id: domain::BookingId,
                client: domain::UserId,
                mut item: $crate::NewUpload,
            ) -> $crate::Result<$crate::PortfolioEntry> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT br.artist_id, (SELECT COUNT(*) FROM appointments ap WHERE ap.booking_id = br.id \
                     AND ap.state = 'completed') FROM booking_requests br WHERE br.id = $1 AND br.client_id = $2",
                )
                .bind(id.get())
                .bind(client.get())
                .fetch_optional(&self.pool)
                .await?;
                let (artist, completed) = row.ok_or($crate::StoreError::NotFound)?;
                if completed == 0 {
                    return Err($crate::StoreError::Refused(
                        "a healed photo can be shared once a session is completed".into(),
                    ));
                }
                item.draft.healed = true;
                Self::insert_piece(&self.pool, artist, Some(id.get()), item).await
            }

            #[tracing::instrument(skip_all, name = "store.add_flash")]
            async fn add_flash(
                &self,
                artist_user: domain::UserId,
                flash: $crate::NewFlash,
            ) -> $crate::Result<$crate::FlashDesign> {
                let mut tx = self.write_tx().await?;
                let artist: Option<(i64,)> = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(artist_user.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                let (artist,) = artist.ok_or($crate::StoreError::NotFound)?;
                let id = Self::insert_flash(&mut tx, artist, &flash, time::OffsetDateTime::now_utc().unix_timestamp()).await?;
                tx.commit().await?;
                Ok($crate::FlashDesign {
                    id,
                    artist_id: domain::ArtistId::new(artist),
                    title: flash.title,
                    style: flash.style.slug().to_owned(),
                    image_path: flash.image_path,
                    thumb_path: flash.thumb_path,
                    variants: flash.variants,
                })
            }

            #[tracing::instrument(skip_all, name = "store.delete_flash")]
            async fn delete_flash(&self, artist_user: domain::UserId, id: i64) -> $crate::Result<(String, String)> {
                self.delete_owned_image("flash_designs", artist_user, id).await
            }

            #[tracing::instrument(skip_all, name = "store.flash_for_artist")]
            async fn flash_for_artist(&self, artist: domain::ArtistId, limit: i64) -> $crate::Result<Vec<$crate::FlashDesign>> {
                let designs: Vec<(i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, title, style, image_path, thumb_path FROM flash_designs WHERE artist_id = $1 \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let variants: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                    "SELECT v.flash_id, v.size, v.price_cents, v.minutes FROM flash_variants v \
                     JOIN flash_designs f ON f.id = v.flash_id WHERE f.artist_id = $1 ORDER BY v.price_cents",
                )
                .bind(artist.get())
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::portfolio::assemble_flash(artist, designs, variants))
            }

            #[tracing::instrument(skip_all, name = "store.flash_design")]
            async fn flash_design(&self, id: i64) -> $crate::Result<Option<$crate::FlashDesign>> {
                let artist: Option<(i64,)> = sqlx::query_as("SELECT artist_id FROM flash_designs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some((artist,)) = artist else { return Ok(None) };
                let all = self.flash_for_artist(domain::ArtistId::new(artist), 1000).await?;
                Ok(all.into_iter().find(|f| f.id == id))
            }

            #[tracing::instrument(skip_all, name = "store.add_guest_spot")]
            async fn add_guest_spot(
                &self,
                artist_user: domain::UserId,
                studio_slug: &str,
                spot: domain::GuestSpot,
            ) -> $crate::Result<$crate::GuestSpotView> {
                let ids: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT a.id, s.id FROM artists a, studios s WHERE a.user_id = $1 AND s.slug = $2",
                )
                .bind(artist_user.get())
                .bind(studio_slug)
                .fetch_optional(&self.pool)
                .await?;
                let (artist, studio) = ids.ok_or($crate::StoreError::NotFound)?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO guest_spots (artist_id, studio_id, starts_on, ends_on, time_zone, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(artist)
                .bind(studio)
                .bind(spot.starts_on.to_string())
                .bind(spot.ends_on.to_string())
                .bind(&spot.time_zone)
                .bind(time::OffsetDateTime::now_utc().unix_timestamp())
                .fetch_one(&self.pool)
                .await?;
                let sql = format!("{} WHERE g.id = $1", $crate::portfolio::GUEST_SPOT_SELECT);
                Ok(sqlx::query_as(&sql).bind(id).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.delete_guest_spot")]
            async fn delete_guest_spot(&self, artist_user: domain::UserId, id: i64) -> $crate::Result<()> {
                let done = sqlx::query(
                    "DELETE FROM guest_spots WHERE id = $1 AND artist_id = (SELECT a.id FROM artists a WHERE a.user_id = $2)",
                )
                .bind(id)
                .bind(artist_user.get())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.guest_spots_for_artist")]
            async fn guest_spots_for_artist(&self, artist: domain::ArtistId, from: &str) -> $crate::Result<Vec<$crate::GuestSpotView>> {
                let sql = format!(
                    "{} WHERE g.artist_id = $1 AND g.ends_on >= $2 ORDER BY g.starts_on LIMIT 50",
                    $crate::portfolio::GUEST_SPOT_SELECT
                );
                Ok(sqlx::query_as(&sql).bind(artist.get()).bind(from).fetch_all(&self.pool).await?)
            }
        }
    };
}
pub(crate) use impl_portfolio_store;

pub(crate) const GUEST_SPOT_SELECT: &str = "SELECT g.id, a.slug AS artist_slug, u.display_name AS artist_name, \
s.slug AS studio_slug, s.name AS studio_name, s.city, g.starts_on, g.ends_on, g.time_zone \
FROM guest_spots g JOIN artists a ON a.id = g.artist_id JOIN users u ON u.id = a.user_id \
JOIN studios s ON s.id = g.studio_id";

/// Groups flash variants under their designs.
pub(crate) fn assemble_flash(
    artist: domain::ArtistId,
    designs: Vec<(i64, String, String, String, String)>,
    variants: Vec<(i64, String, i64, i64)>,
) -> Vec<crate::FlashDesign> {
    designs
        .into_iter()
        .map(
            |(id, title, style, image_path, thumb_path)| crate::FlashDesign {
                id,
                artist_id: artist,
                title,
                style,
                image_path,
                thumb_path,
                variants: variants
                    .iter()
                    .filter(|v| v.0 == id)
                    .filter_map(|(_, size, price_cents, minutes)| {
                        domain::Size::parse(size)
                            .ok()
                            .map(|size| domain::FlashVariant {
                                size,
                                price_cents: *price_cents,
                                minutes: *minutes,
                            })
                    })
                    .collect(),
            },
        )
        .collect()
}
