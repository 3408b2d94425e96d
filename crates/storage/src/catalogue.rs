//! The catalogue: artists, their profiles and policies, studios, search, and the counts the admin page shows.

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// The catalogue's storage operations.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Writes a whole batch of catalogue data in one transaction: all of it or none.
    async fn import_catalogue(&self, batch: CatalogueBatch) -> Result<ImportSummary>;

    /// Imports the batch only into a database with no accounts, deciding inside the import's
    /// own serialised transaction: when several instances start on one empty database at once,
    /// exactly one seeds and the others get `None`.
    async fn seed_catalogue(&self, batch: CatalogueBatch) -> Result<Option<ImportSummary>>;

    async fn featured_artists(&self, limit: u32) -> Result<Vec<ArtistCard>>;

    async fn catalogue_counts(&self) -> Result<CatalogueCounts>;

    async fn booking_counts(&self) -> Result<Vec<(BookingState, i64)>>;

    async fn search_artists(&self, query: &ArtistQuery) -> Result<SearchResults>;

    /// Every city with at least one artist, for the search filter.
    async fn cities(&self) -> Result<Vec<String>>;

    async fn artist_by_slug(&self, slug: &str) -> Result<Option<ArtistProfile>>;

    /// The artist whose private calendar feed `token` addresses.
    async fn artist_by_calendar_token(&self, token: &str) -> Result<Option<ArtistProfile>>;

    /// The artist's calendar feed token, if one was made.
    async fn calendar_token(&self, artist_user: UserId) -> Result<Option<String>>;

    /// Gives the artist's feed a new token; the old address stops working.
    async fn set_calendar_token(&self, artist_user: UserId, token: &str) -> Result<()>;

    async fn artist_by_id(&self, id: ArtistId) -> Result<Option<ArtistProfile>>;

    async fn artist_for_user(&self, user: UserId) -> Result<Option<ArtistProfile>>;

    /// Creates or updates the signed-in artist's own profile.
    async fn save_artist_settings(
        &self,
        user: UserId,
        settings: ArtistSettings,
    ) -> Result<ArtistProfile>;

    /// Every studio as (slug, name, city), for pickers.
    async fn studios(&self) -> Result<Vec<(String, String, String)>>;

    async fn studio(&self, slug: &str, from: &str) -> Result<Option<StudioPage>>;
}

/// Implements `CatalogueStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_catalogue_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        impl $ty {
            /// One transaction for the whole batch; with `only_if_empty`, it first takes the
            /// backend's seed lock and returns `None` untouched when any account exists.
            #[tracing::instrument(skip_all, name = "store.import_batch")]
            async fn import_batch(
                &self,
                batch: $crate::CatalogueBatch,
                only_if_empty: bool,
            ) -> $crate::Result<Option<$crate::ImportSummary>> {
                let now = time::OffsetDateTime::now_utc();
                let missing = |what: &str, i: usize| {
                    $crate::StoreError::Corrupt(format!("batch refers to {what} #{i}, which it does not hold"))
                };
                let mut tx = self.write_tx().await?;
                if only_if_empty {
                    if !Self::SEED_LOCK.is_empty() {
                        sqlx::query(Self::SEED_LOCK).execute(&mut *tx).await?;
                    }
                    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                        .fetch_one(&mut *tx)
                        .await?;
                    if users > 0 {
                        return Ok(None);
                    }
                }
                let mut user_ids = Vec::with_capacity(batch.users.len());
                for u in &batch.users {
                    let (id,): (i64,) = sqlx::query_as(
                        // Imported (demo) accounts need no verification email.
                        "INSERT INTO users (email, password_hash, display_name, role, created_at, \
                         email_verified_at) VALUES ($1, $2, $3, $4, $5, 0) RETURNING id",
                    )
                    .bind(u.email.as_str())
                    .bind(&u.password_hash)
                    .bind(u.display_name.as_str())
                    .bind(u.role.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    user_ids.push(id);
                }
                let mut studio_ids = Vec::with_capacity(batch.studios.len());
                for s in &batch.studios {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO studios (slug, name, city, country, jurisdiction, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(s.slug.as_str())
                    .bind(&s.name)
                    .bind(&s.city)
                    .bind(&s.country)
                    .bind(&s.jurisdiction)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    studio_ids.push(id);
                }
                let mut artist_ids = Vec::with_capacity(batch.artists.len());
                for a in &batch.artists {
                    let user_id = *user_ids.get(a.user).ok_or_else(|| missing("user", a.user))?;
                    let studio_id = a
                        .studio
                        .map(|i| studio_ids.get(i).copied().ok_or_else(|| missing("studio", i)))
                        .transpose()?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO artists (user_id, slug, bio, city, country, jurisdiction, studio_id, \
                         price_min_cents, price_max_cents, hourly_rate_cents, books_open, min_age, created_at, time_zone) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                    )
                    .bind(user_id)
                    .bind(a.slug.as_str())
                    .bind(&a.bio)
                    .bind(&a.city)
                    .bind(&a.country)
                    .bind(&a.jurisdiction)
                    .bind(studio_id)
                    .bind(a.price_min_cents)
                    .bind(a.price_max_cents)
                    .bind(a.hourly_rate_cents)
                    .bind(a.books_open)
                    .bind(a.min_age)
                    .bind(now)
                    .bind(&a.time_zone)
                    .fetch_one(&mut *tx)
                    .await?;
                    for style in &a.styles {
                        sqlx::query("INSERT INTO artist_styles (artist_id, style) VALUES ($1, $2)")
                            .bind(id)
                            .bind(style.slug())
                            .execute(&mut *tx)
                            .await?;
                    }
                    artist_ids.push(id);
                }
                sqlx::query(&format!("{}search_text = ''", $crate::catalogue::REFRESH_SEARCH_TEXT))
                    .execute(&mut *tx)
                    .await?;
                for p in &batch.portfolio {
                    let artist_id = *artist_ids.get(p.artist).ok_or_else(|| missing("artist", p.artist))?;
                    sqlx::query(
                        "INSERT INTO portfolio_items (artist_id, title, style, placement, healed, \
                         image_path, thumb_path, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(artist_id)
                    .bind(&p.title)
                    .bind(p.style.slug())
                    .bind(&p.placement)
                    .bind(p.healed)
                    .bind(&p.image_path)
                    .bind(&p.thumb_path)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                for b in &batch.bookings {
                    let client_id = *user_ids.get(b.client).ok_or_else(|| missing("user", b.client))?;
                    let artist_id = *artist_ids.get(b.artist).ok_or_else(|| missing("artist", b.artist))?;
                    sqlx::query(
                        "INSERT INTO booking_requests (client_id, artist_id, state, idea, placement, size, \
                         created_at, updated_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                    )
                    .bind(client_id)
                    .bind(artist_id)
                    // `completed` is a booked request with `completed_at` (see its migration).
                    .bind(match b.state {
                        domain::BookingState::Completed => "booked",
                        other => other.as_str(),
                    })
                    .bind(&b.idea)
                    .bind(&b.placement)
                    .bind(&b.size)
                    .bind(b.created_at)
                    .bind(
                        (b.state == domain::BookingState::Completed)
                            .then(|| b.created_at.unix_timestamp()),
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                for f in &batch.flash {
                    let artist_id = *artist_ids.get(f.artist).ok_or_else(|| missing("artist", f.artist))?;
                    Self::insert_flash(&mut tx, artist_id, &f.flash, now.unix_timestamp()).await?;
                }
                tx.commit().await?;
                Ok(Some($crate::ImportSummary {
                    users: batch.users.len(),
                    studios: batch.studios.len(),
                    artists: batch.artists.len(),
                    portfolio_items: batch.portfolio.len(),
                    bookings: batch.bookings.len(),
                    flash_designs: batch.flash.len(),
                }))
            }

            #[tracing::instrument(skip_all, name = "store.profile_where")]
            async fn profile_where(
                &self,
                clause: &str,
                bind: $crate::catalogue::ProfileKey<'_>,
            ) -> $crate::Result<Option<$crate::ArtistProfile>> {
                let sql = format!("{PROFILE_SELECT} WHERE {clause}");
                let q = sqlx::query_as::<_, $crate::rows::ProfileRow>(&sql);
                let q = match bind {
                    $crate::catalogue::ProfileKey::Id(id) => q.bind(id),
                    $crate::catalogue::ProfileKey::Slug(s) => q.bind(s.to_owned()),
                };
                q.fetch_optional(&self.pool).await?.map(TryInto::try_into).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::CatalogueStore for $ty {
            #[tracing::instrument(skip_all, name = "store.import_catalogue")]
            async fn import_catalogue(
                &self,
                batch: $crate::CatalogueBatch,
            ) -> $crate::Result<$crate::ImportSummary> {
                let summary = self.import_batch(batch, false).await?;
                summary.ok_or_else(|| $crate::StoreError::Corrupt("an unconditional import skipped".into()))
            }

            #[tracing::instrument(skip_all, name = "store.seed_catalogue")]
            async fn seed_catalogue(
                &self,
                batch: $crate::CatalogueBatch,
            ) -> $crate::Result<Option<$crate::ImportSummary>> {
                self.import_batch(batch, true).await
            }

            #[tracing::instrument(skip_all, name = "store.featured_artists")]
            async fn featured_artists(&self, limit: u32) -> $crate::Result<Vec<$crate::ArtistCard>> {
                let rows: Vec<$crate::rows::ArtistCardRow> = sqlx::query_as($crate::catalogue::featured_sql!($agg))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(skip_all, name = "store.catalogue_counts")]
            async fn catalogue_counts(&self) -> $crate::Result<$crate::CatalogueCounts> {
                let (users, artists, studios, portfolio_items, cities): (i64, i64, i64, i64, i64) =
                    sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM artists), \
                         (SELECT COUNT(*) FROM studios), (SELECT COUNT(*) FROM portfolio_items), \
                         (SELECT COUNT(DISTINCT city) FROM artists)",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                Ok($crate::CatalogueCounts {
                    users,
                    artists,
                    studios,
                    portfolio_items,
                    cities,
                })
            }

            #[tracing::instrument(skip_all, name = "store.booking_counts")]
            async fn booking_counts(&self) -> $crate::Result<Vec<(domain::BookingState, i64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT CASE WHEN completed_at IS NULL THEN state ELSE 'completed' END AS s, COUNT(*) \
                     FROM booking_requests GROUP BY s ORDER BY s",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(s, n)| {
                        domain::BookingState::parse(&s)
                            .map(|state| (state, n))
                            .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all, name = "store.search_artists")]
            async fn search_artists(
                &self,
                q: &$crate::ArtistQuery,
            ) -> $crate::Result<$crate::SearchResults> {
                use $crate::search::Bind;
                let st = $crate::search::search_statements(q, $search);
                let mut page = sqlx::query_as::<_, $crate::search::SearchRow>(&st.page_sql);
                for b in &st.page_binds {
                    page = match b {
                        Bind::Text(t) => page.bind(t.clone()),
                        Bind::Int(i) => page.bind(*i),
                    };
                }
                let rows = page.fetch_all(&self.pool).await?;
                let mut count = sqlx::query_as::<_, (i64,)>(&st.count_sql);
                for b in &st.count_binds {
                    count = match b {
                        Bind::Text(t) => count.bind(t.clone()),
                        Bind::Int(i) => count.bind(*i),
                    };
                }
                let (total,) = count.fetch_one(&self.pool).await?;
                Ok($crate::SearchResults {
                    artists: rows.into_iter().map(Into::into).collect(),
                    total,
                })
            }

            #[tracing::instrument(skip_all, name = "store.cities")]
            async fn cities(&self) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT city FROM artists ORDER BY city LIMIT 500")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(c,)| c).collect())
            }

            #[tracing::instrument(skip_all, name = "store.artist_by_slug")]
            async fn artist_by_slug(&self, slug: &str) -> $crate::Result<Option<$crate::ArtistProfile>> {
                self.profile_where("a.slug = $1 AND a.delisted_at IS NULL", $crate::catalogue::ProfileKey::Slug(slug)).await
            }

            #[tracing::instrument(skip_all, name = "store.artist_by_calendar_token")]
            async fn artist_by_calendar_token(&self, token: &str) -> $crate::Result<Option<$crate::ArtistProfile>> {
                self.profile_where("a.calendar_token = $1", $crate::catalogue::ProfileKey::Slug(token)).await
            }

            #[tracing::instrument(skip_all, name = "store.calendar_token")]
            async fn calendar_token(&self, artist_user: domain::UserId) -> $crate::Result<Option<String>> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT calendar_token FROM artists WHERE user_id = $1")
                        .bind(artist_user.get())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.ok_or($crate::StoreError::NotFound)?.0)
            }

            #[tracing::instrument(skip_all, name = "store.set_calendar_token")]
            async fn set_calendar_token(&self, artist_user: domain::UserId, token: &str) -> $crate::Result<()> {
                let done = sqlx::query("UPDATE artists SET calendar_token = $2 WHERE user_id = $1")
                    .bind(artist_user.get())
                    .bind(token)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.artist_by_id")]
            async fn artist_by_id(&self, id: domain::ArtistId) -> $crate::Result<Option<$crate::ArtistProfile>> {
                self.profile_where("a.id = $1", $crate::catalogue::ProfileKey::Id(id.get())).await
            }

            #[tracing::instrument(skip_all, name = "store.artist_for_user")]
            async fn artist_for_user(&self, user: domain::UserId) -> $crate::Result<Option<$crate::ArtistProfile>> {
                self.profile_where("a.user_id = $1", $crate::catalogue::ProfileKey::Id(user.get())).await
            }

            #[tracing::instrument(skip_all, name = "store.save_artist_settings")]
            async fn save_artist_settings(
                &self,
                user: domain::UserId,
                s: $crate::ArtistSettings,
            ) -> $crate::Result<$crate::ArtistProfile> {
                let (kind, value) = match s.policy.deposit {
                    domain::DepositRule::Fixed { cents } => ("fixed", cents),
                    domain::DepositRule::Percent { percent } => ("percent", i64::from(percent)),
                };
                let mut tx = self.write_tx().await?;
                let existing: Option<(i64, bool)> =
                    sqlx::query_as("SELECT id, books_open FROM artists WHERE user_id = $1")
                        .bind(user.get())
                        .fetch_optional(&mut *tx)
                        .await?;
                let sql = if existing.is_some() {
                    "UPDATE artists SET slug = $2, bio = $3, city = $4, country = $5, jurisdiction = $6, \
                     price_min_cents = $7, price_max_cents = $8, hourly_rate_cents = $9, books_open = $10, \
                     min_age = $11, deposit_kind = $12, deposit_value = $13, deposit_due_days = $14, \
                     response_hours = $15, notice_hours = $16, max_reschedules = $17, time_zone = $19, \
                     work_days = $20, work_start_min = $21, work_end_min = $22, currency = $23, session_minutes = $24 \
                     WHERE user_id = $1 RETURNING id"
                } else {
                    "INSERT INTO artists (user_id, slug, bio, city, country, jurisdiction, price_min_cents, \
                     price_max_cents, hourly_rate_cents, books_open, min_age, deposit_kind, deposit_value, \
                     deposit_due_days, response_hours, notice_hours, max_reschedules, created_at, time_zone, \
                     work_days, work_start_min, work_end_min, currency, session_minutes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) \
                     RETURNING id"
                };
                let (id,): (i64,) = sqlx::query_as(sql)
                    .bind(user.get())
                    .bind(s.slug.as_str())
                    .bind(&s.bio)
                    .bind(&s.city)
                    .bind(&s.country)
                    .bind(&s.jurisdiction)
                    .bind(s.price_min_cents)
                    .bind(s.price_max_cents)
                    .bind(s.hourly_rate_cents)
                    .bind(s.books_open)
                    .bind(i64::from(s.min_age))
                    .bind(kind)
                    .bind(value)
                    .bind(i64::from(s.policy.deposit_due_days))
                    .bind(i64::from(s.policy.response_hours))
                    .bind(i64::from(s.policy.notice_hours))
                    .bind(i64::from(s.policy.max_reschedules))
                    .bind(time::OffsetDateTime::now_utc())
                    .bind(&s.time_zone)
                    .bind(s.availability.days_key())
                    .bind(i64::from(s.availability.start_min))
                    .bind(i64::from(s.availability.end_min))
                    .bind(s.currency.map(|c| c.code()))
                    .bind(s.session_minutes)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| match $crate::StoreError::from(e) {
                        $crate::StoreError::Conflict(_) => {
                            $crate::StoreError::Conflict("that profile address is already taken")
                        }
                        other => other,
                    })?;
                // Books that open tell everyone who asked, once, in the same transaction.
                if s.books_open && existing.is_some_and(|(_, was_open)| !was_open) {
                    let at = time::OffsetDateTime::now_utc().unix_timestamp();
                    sqlx::query(
                        "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                         next_attempt_at, artist_id) SELECT 'artist.books_open', NULL, w.user_id, '', '', $2, $2, \
                         w.artist_id FROM books_open_watches w WHERE w.artist_id = $1",
                    )
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM books_open_watches WHERE artist_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(&format!("{}id = $1", $crate::catalogue::REFRESH_SEARCH_TEXT))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM artist_styles WHERE artist_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for style in &s.styles {
                    sqlx::query("INSERT INTO artist_styles (artist_id, style) VALUES ($1, $2)")
                        .bind(id)
                        .bind(style.slug())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.artist_by_id(domain::ArtistId::new(id))
                    .await?
                    .ok_or($crate::StoreError::NotFound)
            }

            #[tracing::instrument(skip_all, name = "store.studios")]
            async fn studios(&self) -> $crate::Result<Vec<(String, String, String)>> {
                Ok(sqlx::query_as("SELECT slug, name, city FROM studios ORDER BY name LIMIT 1000")
                    .fetch_all(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, name = "store.studio")]
            async fn studio(&self, slug: &str, from: &str) -> $crate::Result<Option<$crate::StudioPage>> {
                let row: Option<(i64, String, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, slug, name, city, country, jurisdiction FROM studios WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?;
                let Some((id, slug, name, city, country, jurisdiction)) = row else { return Ok(None) };
                let q = $crate::ArtistQuery { studio_id: Some(id), page: 1, per_page: 100, ..Default::default() };
                let members = $crate::CatalogueStore::search_artists(self, &q).await?.artists;
                let sql = format!(
                    "{} WHERE g.studio_id = $1 AND g.ends_on >= $2 ORDER BY g.starts_on LIMIT 50",
                    $crate::portfolio::GUEST_SPOT_SELECT
                );
                let guests = sqlx::query_as(&sql).bind(id).bind(from).fetch_all(&self.pool).await?;
                Ok(Some($crate::StudioPage {
                    slug,
                    name,
                    city,
                    country,
                    jurisdiction,
                    members: members.into_iter().map(|h| h.card).collect(),
                    guests,
                }))
            }
        }
    };
}
pub(crate) use impl_catalogue_store;

/// Recomputes `artists.search_text` (what free-text search matches) for the rows `filter` picks.
pub(crate) const REFRESH_SEARCH_TEXT: &str = "UPDATE artists SET search_text = lower(\
COALESCE((SELECT u.display_name FROM users u WHERE u.id = artists.user_id), '') || ' ' || city || ' ' || \
COALESCE((SELECT s.name FROM studios s WHERE s.id = artists.studio_id), '') || ' ' || bio) WHERE ";

/// How a profile is looked up.
pub(crate) enum ProfileKey<'a> {
    Id(i64),
    Slug(&'a str),
}

/// The featured-artists query around a dialect's string aggregate.
macro_rules! featured_sql {
    ($aggregate:literal) => {
        concat!(
            // Pick the page of artists first, so the per-artist subqueries run only for them.
            "WITH page AS (SELECT id FROM artists WHERE delisted_at IS NULL ORDER BY books_open DESC, id LIMIT $1) ",
            "SELECT a.id, a.slug, u.display_name, a.city, a.country, a.currency, s.name AS studio_name, ",
            "(SELECT ", $aggregate, " FROM artist_styles st WHERE st.artist_id = a.id) AS styles, ",
            "a.books_open, a.price_min_cents, a.price_max_cents, ",
            "(SELECT p.thumb_path FROM portfolio_items p WHERE p.artist_id = a.id ORDER BY p.healed DESC, p.id LIMIT 1) AS thumb_path ",
            "FROM page JOIN artists a ON a.id = page.id JOIN users u ON u.id = a.user_id ",
            "LEFT JOIN studios s ON s.id = a.studio_id ",
            "ORDER BY a.books_open DESC, a.id"
        )
    };
}
pub(crate) use featured_sql;
