//! The `Store` logic both backends share: one body of Rust, instantiated once per pool type.
//!
//! sqlx binds `$1, $2, …` by number on SQLite as well as PostgreSQL, so the SQL text here is
//! common too; each backend passes in only the statements whose dialects differ.

use crate::{StoreError, User};
use domain::{DisplayName, Email, Role, UserId};
use time::OffsetDateTime;

/// A `users` row before its columns are parsed back into domain types.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub email_verified_at: Option<i64>,
    pub session_epoch: i64,
    pub two_factor: bool,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let corrupt = |e: domain::ParseError| StoreError::Corrupt(format!("user {}: {e}", r.id));
        Ok(User {
            id: UserId::new(r.id),
            email: Email::parse(&r.email).map_err(corrupt)?,
            display_name: DisplayName::parse(&r.display_name).map_err(corrupt)?,
            role: Role::parse(&r.role).map_err(corrupt)?,
            created_at: r.created_at,
            email_verified: r.email_verified_at.is_some(),
            session_epoch: r.session_epoch,
            two_factor: r.two_factor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ArtistCardRow {
    pub id: i64,
    pub slug: String,
    pub display_name: String,
    pub city: String,
    pub country: String,
    pub studio_name: Option<String>,
    pub styles: Option<String>,
    pub books_open: bool,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub thumb_path: Option<String>,
}

impl From<ArtistCardRow> for crate::ArtistCard {
    fn from(r: ArtistCardRow) -> Self {
        // Styles are written only from `Style` values, so unknown ones can only come from a
        // newer release's taxonomy (expand/contract): they are skipped, not fatal.
        let mut styles: Vec<_> = r
            .styles
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| domain::Style::parse(s).ok())
            .collect();
        styles.sort_by_key(|s| s.slug());
        crate::ArtistCard {
            id: domain::ArtistId::new(r.id),
            slug: r.slug,
            display_name: r.display_name,
            city: r.city,
            country: r.country,
            studio_name: r.studio_name,
            styles,
            books_open: r.books_open,
            price_min_cents: r.price_min_cents,
            price_max_cents: r.price_max_cents,
            thumb_path: r.thumb_path,
        }
    }
}

pub(crate) const USER_COLUMNS: &str = "id, email, display_name, role, created_at, email_verified_at, session_epoch, \
     totp_secret IS NOT NULL AS two_factor";

/// Picks the schema status out of sqlx's bookkeeping table.
pub(crate) fn schema_status(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, bool)],
) -> crate::SchemaStatus {
    let ok: Vec<i64> = applied
        .iter()
        .filter(|(_, s)| *s)
        .map(|(v, _)| *v)
        .collect();
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    crate::SchemaStatus {
        current: ok.iter().copied().max(),
        expected: known.iter().copied().max().unwrap_or(0),
        pending: known.into_iter().filter(|v| !ok.contains(v)).collect(),
        dirty: applied
            .iter()
            .filter(|(_, s)| !*s)
            .map(|(v, _)| *v)
            .collect(),
    }
}

/// Implements `Store` for a backend type. `$featured_sql` is the one listing query that needs
/// dialect-specific string aggregation; `$extra` holds the methods that differ per backend.
macro_rules! impl_store {
    ($ty:ty, featured_sql: $featured_sql:expr, { $($extra:tt)* }) => {
    #[async_trait::async_trait]
    impl $crate::Store for $ty {
        $($extra)*

        #[tracing::instrument(skip_all, name = "store.ping")]
        async fn ping(&self) -> $crate::Result<()> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        #[tracing::instrument(skip_all, name = "store.migrate")]
        async fn migrate(&self) -> $crate::Result<Vec<i64>> {
            let before = self.schema_status().await?;
            let mut migrator = Self::migrator();
            // An older release may run `migrate` against a newer schema during a rollback.
            migrator.set_ignore_missing(true);
            migrator.run(&self.pool).await?;
            self.session_store().migrate().await?;
            Ok(before.pending)
        }

        #[tracing::instrument(skip_all, name = "store.schema_status")]
        async fn schema_status(&self) -> $crate::Result<$crate::SchemaStatus> {
            let applied: Vec<(i64, bool)> =
                match sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
                    .fetch_all(&self.pool)
                    .await
                {
                    Ok(rows) => rows,
                    Err(sqlx::Error::Database(e)) if Self::is_missing_table(&*e) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
            Ok($crate::shared::schema_status(&Self::migrator(), &applied))
        }

        fn pool_stats(&self) -> $crate::PoolStats {
            $crate::PoolStats {
                size: self.pool.size(),
                idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                max: self.pool.options().get_max_connections(),
            }
        }

        #[tracing::instrument(skip_all, name = "store.close")]
        async fn close(&self) {
            self.pool.close().await;
        }

        #[tracing::instrument(skip_all, name = "store.create_user")]
        async fn create_user(&self, new: $crate::NewUser) -> $crate::Result<$crate::User> {
            let sql = format!(
                "INSERT INTO users (email, password_hash, display_name, role, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {}",
                $crate::shared::USER_COLUMNS
            );
            let row: $crate::shared::UserRow = sqlx::query_as(&sql)
                .bind(new.email.as_str())
                .bind(&new.password_hash)
                .bind(new.display_name.as_str())
                .bind(new.role.as_str())
                .bind(time::OffsetDateTime::now_utc())
                .fetch_one(&self.pool)
                .await
                .map_err(|e| match $crate::StoreError::from(e) {
                    $crate::StoreError::Conflict(_) => {
                        $crate::StoreError::Conflict("an account with this email already exists")
                    }
                    other => other,
                })?;
            row.try_into()
        }

        #[tracing::instrument(skip_all, name = "store.mark_email_verified")]
        async fn mark_email_verified(
            &self,
            id: domain::UserId,
            email: &domain::Email,
            at: i64,
        ) -> $crate::Result<bool> {
            // Only while the address is still the one the link was sent to.
            let done = sqlx::query(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) \
                 WHERE id = $2 AND email = $3",
            )
            .bind(at)
            .bind(id.get())
            .bind(email.as_str())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        #[tracing::instrument(skip_all, name = "store.two_factor")]
        async fn two_factor(&self, id: domain::UserId) -> $crate::Result<Option<$crate::TwoFactor>> {
            let row: Option<(Option<String>, i64, String)> = sqlx::query_as(
                "SELECT totp_secret, totp_last_step, totp_recovery FROM users WHERE id = $1",
            )
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.and_then(|(secret, last_step, recovery)| {
                secret.map(|secret| $crate::TwoFactor {
                    secret,
                    last_step,
                    recovery: recovery
                        .split(',')
                        .filter(|h| !h.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            }))
        }

        #[tracing::instrument(skip_all, name = "store.set_two_factor")]
        async fn set_two_factor(
            &self,
            id: domain::UserId,
            secret: Option<&str>,
            recovery_hashes: &[String],
        ) -> $crate::Result<()> {
            sqlx::query(
                "UPDATE users SET totp_secret = $1, totp_last_step = 0, totp_recovery = $2 WHERE id = $3",
            )
            .bind(secret)
            .bind(recovery_hashes.join(","))
            .bind(id.get())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        #[tracing::instrument(skip_all, name = "store.accept_totp_step")]
        async fn accept_totp_step(&self, id: domain::UserId, step: i64) -> $crate::Result<bool> {
            // Compare-and-set: a code (its time step) is accepted once, on any instance.
            let done = sqlx::query(
                "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            )
            .bind(step)
            .bind(id.get())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        #[tracing::instrument(skip_all, name = "store.use_recovery_code")]
        async fn use_recovery_code(
            &self,
            id: domain::UserId,
            before: &[String],
            after: &[String],
        ) -> $crate::Result<bool> {
            let done = sqlx::query(
                "UPDATE users SET totp_recovery = $1 WHERE id = $2 AND totp_recovery = $3",
            )
            .bind(after.join(","))
            .bind(id.get())
            .bind(before.join(","))
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        #[tracing::instrument(skip_all, name = "store.end_all_sessions")]
        async fn end_all_sessions(&self, id: domain::UserId) -> $crate::Result<()> {
            sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1")
                .bind(id.get())
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        #[tracing::instrument(skip_all, name = "store.reset_password")]
        async fn reset_password(
            &self,
            id: domain::UserId,
            expected_hash: &str,
            new_hash: &str,
        ) -> $crate::Result<bool> {
            // Compare-and-set on the old hash: a reset link works once, and never after another
            // change of password. Every session ends with it.
            let done = sqlx::query(
                "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1 \
                 WHERE id = $2 AND password_hash = $3",
            )
            .bind(new_hash)
            .bind(id.get())
            .bind(expected_hash)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

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

        #[tracing::instrument(skip_all, name = "store.sign_in_locked_until")]
        async fn sign_in_locked_until(&self, email_hash: &str) -> $crate::Result<i64> {
            let row: Option<(i64,)> =
                sqlx::query_as("SELECT locked_until FROM sign_in_throttle WHERE email_hash = $1")
                    .bind(email_hash)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map_or(0, |(t,)| t))
        }

        #[tracing::instrument(skip_all, name = "store.record_sign_in_failure")]
        async fn record_sign_in_failure(
            &self,
            email_hash: &str,
            owner: Option<domain::UserId>,
            at: i64,
        ) -> $crate::Result<i64> {
            use domain::throttle;
            let mut tx = self.write_tx().await?;
            // One statement, so concurrent failures on several instances all count.
            let (failures,): (i64,) = sqlx::query_as(
                "INSERT INTO sign_in_throttle (email_hash, failures, locked_until, updated_at) \
                 VALUES ($1, 1, 0, $2) ON CONFLICT (email_hash) DO UPDATE SET \
                 failures = CASE WHEN sign_in_throttle.updated_at < $3 THEN 1 \
                 ELSE sign_in_throttle.failures + 1 END, updated_at = $2 RETURNING failures",
            )
            .bind(email_hash)
            .bind(at)
            .bind(at - throttle::FORGET_AFTER_SECS)
            .fetch_one(&mut *tx)
            .await?;
            let locked_until = at + throttle::lock_secs(failures);
            sqlx::query("UPDATE sign_in_throttle SET locked_until = $1 WHERE email_hash = $2")
                .bind(locked_until)
                .bind(email_hash)
                .execute(&mut *tx)
                .await?;
            if let Some(owner) = owner.filter(|_| failures == throttle::NOTIFY_AT_FAILURES) {
                sqlx::query(
                    "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                     next_attempt_at) VALUES ('account.sign_in_failures', NULL, $1, $2, $3, $4, $4)",
                )
                .bind(owner.get())
                .bind("Failed sign-ins to your Tattoo Marketplace account")
                .bind(format!(
                    "Someone has tried {failures} times to sign in to your account with a wrong \
                     password. Further attempts are being slowed down.\n\nIf it was you, you can \
                     sign in again in a few minutes. If it was not, your account is still \
                     protected by your password; choose a long one that you use nowhere else.\n\n{{link}}\n"
                ))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(locked_until)
        }

        #[tracing::instrument(skip_all, name = "store.clear_sign_in_failures")]
        async fn clear_sign_in_failures(&self, email_hash: &str) -> $crate::Result<()> {
            sqlx::query("DELETE FROM sign_in_throttle WHERE email_hash = $1")
                .bind(email_hash)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        #[tracing::instrument(skip_all, name = "store.user")]
        async fn user(&self, id: domain::UserId) -> $crate::Result<Option<$crate::User>> {
            let sql = format!(
                "SELECT {} FROM users WHERE id = $1",
                $crate::shared::USER_COLUMNS
            );
            let row: Option<$crate::shared::UserRow> = sqlx::query_as(&sql)
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?;
            row.map(TryInto::try_into).transpose()
        }

        #[tracing::instrument(skip_all, name = "store.credentials_by_email")]
        async fn credentials_by_email(
            &self,
            email: &domain::Email,
        ) -> $crate::Result<Option<$crate::Credentials>> {
            let sql = format!(
                "SELECT {}, password_hash FROM users WHERE email = $1",
                $crate::shared::USER_COLUMNS
            );
            let row: Option<$crate::shared::CredentialsRow> = sqlx::query_as(&sql)
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| {
                Ok($crate::Credentials {
                    user: r.user.try_into()?,
                    password_hash: r.password_hash,
                })
            })
            .transpose()
        }

        #[tracing::instrument(skip_all, name = "store.count_users")]
        async fn count_users(&self) -> $crate::Result<i64> {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(&self.pool)
                .await?;
            Ok(n)
        }

        #[tracing::instrument(skip_all, name = "store.import_catalogue")]
        async fn import_catalogue(
            &self,
            batch: $crate::CatalogueBatch,
        ) -> $crate::Result<$crate::ImportSummary> {
            let now = time::OffsetDateTime::now_utc();
            let missing = |what: &str, i: usize| {
                $crate::StoreError::Corrupt(format!("batch refers to {what} #{i}, which it does not hold"))
            };
            let mut tx = self.pool.begin().await?;
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
            sqlx::query(&format!("{}search_text = ''", $crate::booking_sql::REFRESH_SEARCH_TEXT))
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
            tx.commit().await?;
            Ok($crate::ImportSummary {
                users: batch.users.len(),
                studios: batch.studios.len(),
                artists: batch.artists.len(),
                portfolio_items: batch.portfolio.len(),
                bookings: batch.bookings.len(),
            })
        }

        #[tracing::instrument(skip_all, name = "store.featured_artists")]
        async fn featured_artists(&self, limit: u32) -> $crate::Result<Vec<$crate::ArtistCard>> {
            let rows: Vec<$crate::shared::ArtistCardRow> = sqlx::query_as($featured_sql)
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
    }
    };
}
pub(crate) use impl_store;

/// The featured-artists query around a dialect's string aggregate.
macro_rules! featured_sql {
    ($aggregate:literal) => {
        concat!(
            // Pick the page of artists first, so the per-artist subqueries run only for them.
            "WITH page AS (SELECT id FROM artists ORDER BY books_open DESC, id LIMIT $1) ",
            "SELECT a.id, a.slug, u.display_name, a.city, a.country, s.name AS studio_name, ",
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
