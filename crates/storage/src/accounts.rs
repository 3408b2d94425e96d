//! Accounts: users, email verification, the second factor, session epochs and the sign-in throttle.

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// Accounts's storage operations.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_user(&self, new: NewUser) -> Result<User>;

    async fn user(&self, id: UserId) -> Result<Option<User>>;

    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>>;

    async fn count_users(&self) -> Result<i64>;

    /// Renames the account (the name others see on requests and reviews).
    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> Result<()>;

    /// Makes a client an artist; `Conflict` for any other role (admins and studio owners keep
    /// theirs, and an artist already is one).
    async fn become_artist(&self, id: UserId) -> Result<()>;

    /// Records that the owner of `id` proved they read `email`; false when the account's address
    /// has changed since (or the account is gone).
    async fn mark_email_verified(&self, id: UserId, email: &Email, at: i64) -> Result<bool>;

    /// Moves the account from `old` to `new`, confirmed, only while it still has `old`;
    /// `Conflict` when another account holds `new`.
    async fn change_email(&self, id: UserId, old: &Email, new: &Email, at: i64) -> Result<bool>;

    /// The account's TOTP second factor, when it has one.
    async fn two_factor(&self, id: UserId) -> Result<Option<TwoFactor>>;

    /// Turns the second factor on (`Some(secret)`, with fresh recovery code hashes) or off.
    async fn set_two_factor(
        &self,
        id: UserId,
        secret: Option<&str>,
        recovery_hashes: &[String],
    ) -> Result<()>;

    /// Accepts a TOTP time step if it is later than every step accepted before (no replays).
    async fn accept_totp_step(&self, id: UserId, step: i64) -> Result<bool>;

    /// Replaces the recovery code hashes `before` with `after` (one used); false on a race.
    async fn use_recovery_code(
        &self,
        id: UserId,
        before: &[String],
        after: &[String],
    ) -> Result<bool>;

    /// Ends every session of the account, in every instance ("sign out everywhere").
    async fn end_all_sessions(&self, id: UserId) -> Result<()>;

    /// Replaces the password if it is still `expected_hash`, ending every session; false when it
    /// changed meanwhile (so a reset link works once).
    async fn reset_password(&self, id: UserId, expected_hash: &str, new_hash: &str)
    -> Result<bool>;

    /// Until when (unix seconds) sign-in for this email hash is locked; 0 when it is not.
    async fn sign_in_locked_until(&self, email_hash: &str) -> Result<i64>;

    /// Counts one failed sign-in for this email hash at `at` and locks further sign-ins as
    /// `domain::throttle` says; emails `owner` (when the account exists) once per streak.
    /// Returns the new lock's end.
    async fn record_sign_in_failure(
        &self,
        email_hash: &str,
        owner: Option<UserId>,
        at: i64,
    ) -> Result<i64>;

    /// Ends the streak after a successful sign-in.
    async fn clear_sign_in_failures(&self, email_hash: &str) -> Result<()>;

    /// The account a provider's subject is linked to, if any.
    async fn identity_owner(&self, provider: &str, subject: &str) -> Result<Option<UserId>>;

    /// The providers linked to an account, as (provider, email at the provider).
    async fn identities(&self, user: UserId) -> Result<Vec<(String, String)>>;

    /// Links a provider's subject to an account; `Conflict` when the subject is linked already.
    async fn link_identity(
        &self,
        user: UserId,
        provider: &str,
        subject: &str,
        email: &Email,
        at: i64,
    ) -> Result<()>;

    /// Creates an account for a provider's verified identity in one transaction: the account,
    /// its email marked verified, and the subject linked.
    async fn create_identity_user(
        &self,
        new: NewUser,
        provider: &str,
        subject: &str,
        at: i64,
    ) -> Result<User>;

    /// Records a newly signed-in browser.
    async fn add_device(&self, id: &str, user: UserId, label: &str, at: i64) -> Result<()>;

    /// Whether the browser `id` of `user` is still signed in; notes that it was seen at `at`
    /// (at most once a minute, so reads stay reads).
    async fn device_seen(&self, id: &str, user: UserId, at: i64) -> Result<bool>;

    /// The account's signed-in browsers, most recently seen first.
    async fn devices(&self, user: UserId) -> Result<Vec<Device>>;

    /// Signs one of the account's browsers out; false when it was not (or no longer) signed in.
    async fn remove_device(&self, user: UserId, id: &str) -> Result<bool>;
}

/// Implements `AccountStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_accounts_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        impl $ty {
            /// Inserts an account; `verified_at` when its address is known to be the owner's.
            async fn insert_user(
                conn: &mut <$db as sqlx::Database>::Connection,
                new: &$crate::NewUser,
                verified_at: Option<i64>,
            ) -> $crate::Result<$crate::rows::UserRow> {
                let sql = format!(
                    "INSERT INTO users (email, password_hash, display_name, role, created_at, email_verified_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    $crate::rows::USER_COLUMNS
                );
                sqlx::query_as(&sql)
                    .bind(new.email.as_str())
                    .bind(&new.password_hash)
                    .bind(new.display_name.as_str())
                    .bind(new.role.as_str())
                    .bind(time::OffsetDateTime::now_utc())
                    .bind(verified_at)
                    .fetch_one(conn)
                    .await
                    .map_err(|e| match $crate::StoreError::from(e) {
                        $crate::StoreError::Conflict(_) => {
                            $crate::StoreError::Conflict("an account with this email already exists")
                        }
                        other => other,
                    })
            }

            /// Links a provider's subject to an account; one subject, one account.
            async fn insert_identity(
                conn: &mut <$db as sqlx::Database>::Connection,
                user: i64,
                provider: &str,
                subject: &str,
                email: &domain::Email,
                at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO oidc_identities (provider, subject, user_id, email, linked_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(provider)
                .bind(subject)
                .bind(user)
                .bind(email.as_str())
                .bind(at)
                .execute(conn)
                .await
                .map_err(|e| match $crate::StoreError::from(e) {
                    $crate::StoreError::Conflict(_) => {
                        $crate::StoreError::Conflict("this sign-in is linked to an account already")
                    }
                    other => other,
                })?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::AccountStore for $ty {
            #[tracing::instrument(skip_all, name = "store.create_user")]
            async fn create_user(&self, new: $crate::NewUser) -> $crate::Result<$crate::User> {
                let mut conn = self.pool.acquire().await?;
                Self::insert_user(&mut conn, &new, None).await?.try_into()
            }

            #[tracing::instrument(skip_all, name = "store.user")]
            async fn user(&self, id: domain::UserId) -> $crate::Result<Option<$crate::User>> {
                let sql = format!(
                    "SELECT {} FROM users WHERE id = $1",
                    $crate::rows::USER_COLUMNS
                );
                let row: Option<$crate::rows::UserRow> = sqlx::query_as(&sql)
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
                    $crate::rows::USER_COLUMNS
                );
                let row: Option<$crate::rows::CredentialsRow> = sqlx::query_as(&sql)
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

            #[tracing::instrument(skip_all, name = "store.set_display_name")]
            async fn set_display_name(&self, id: domain::UserId, name: &domain::DisplayName) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
                    .bind(id.get())
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await?;
                // An artist's search text holds their name.
                sqlx::query(&format!("{}user_id = $1", $crate::catalogue::REFRESH_SEARCH_TEXT))
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.become_artist")]
            async fn become_artist(&self, id: domain::UserId) -> $crate::Result<()> {
                let changed = sqlx::query("UPDATE users SET role = 'artist' WHERE id = $1 AND role = 'client'")
                    .bind(id.get())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if changed == 0 {
                    return Err($crate::StoreError::Conflict("only a client account can become an artist"));
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.count_users")]
            async fn count_users(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
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

            #[tracing::instrument(skip_all, name = "store.change_email")]
            async fn change_email(
                &self,
                id: domain::UserId,
                old: &domain::Email,
                new: &domain::Email,
                at: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3 AND email = $4",
                )
                .bind(new.as_str())
                .bind(at)
                .bind(id.get())
                .bind(old.as_str())
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

            #[tracing::instrument(skip_all, name = "store.identity_owner")]
            async fn identity_owner(&self, provider: &str, subject: &str) -> $crate::Result<Option<domain::UserId>> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT user_id FROM oidc_identities WHERE provider = $1 AND subject = $2",
                )
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id,)| domain::UserId::new(id)))
            }

            #[tracing::instrument(skip_all, name = "store.identities")]
            async fn identities(&self, user: domain::UserId) -> $crate::Result<Vec<(String, String)>> {
                Ok(sqlx::query_as(
                    "SELECT provider, email FROM oidc_identities WHERE user_id = $1 ORDER BY provider",
                )
                .bind(user.get())
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, name = "store.link_identity")]
            async fn link_identity(
                &self,
                user: domain::UserId,
                provider: &str,
                subject: &str,
                email: &domain::Email,
                at: i64,
            ) -> $crate::Result<()> {
                let mut conn = self.pool.acquire().await?;
                Self::insert_identity(&mut conn, user.get(), provider, subject, email, at).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.create_identity_user")]
            async fn create_identity_user(
                &self,
                new: $crate::NewUser,
                provider: &str,
                subject: &str,
                at: i64,
            ) -> $crate::Result<$crate::User> {
                let mut tx = self.write_tx().await?;
                let row = Self::insert_user(&mut tx, &new, Some(at)).await?;
                Self::insert_identity(&mut tx, row.id, provider, subject, &new.email, at).await?;
                tx.commit().await?;
                row.try_into()
            }

            #[tracing::instrument(skip_all, name = "store.add_device")]
            async fn add_device(&self, id: &str, user: domain::UserId, label: &str, at: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO user_devices (id, user_id, label, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(id)
                .bind(user.get())
                .bind(label)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.device_seen")]
            async fn device_seen(&self, id: &str, user: domain::UserId, at: i64) -> $crate::Result<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT last_seen_at FROM user_devices WHERE id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(user.get())
                .fetch_optional(&self.pool)
                .await?;
                let Some((seen,)) = row else { return Ok(false) };
                if at - seen >= 60 {
                    sqlx::query("UPDATE user_devices SET last_seen_at = $1 WHERE id = $2")
                        .bind(at)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(true)
            }

            #[tracing::instrument(skip_all, name = "store.devices")]
            async fn devices(&self, user: domain::UserId) -> $crate::Result<Vec<$crate::Device>> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT id, label, created_at, last_seen_at FROM user_devices WHERE user_id = $1 \
                     ORDER BY last_seen_at DESC, created_at DESC",
                )
                .bind(user.get())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, label, created_at, last_seen_at)| $crate::Device { id, label, created_at, last_seen_at })
                    .collect())
            }

            #[tracing::instrument(skip_all, name = "store.remove_device")]
            async fn remove_device(&self, user: domain::UserId, id: &str) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM user_devices WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user.get())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all, name = "store.end_all_sessions")]
            async fn end_all_sessions(&self, id: domain::UserId) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1")
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM user_devices WHERE user_id = $1")
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
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
                if done.rows_affected() == 1 {
                    sqlx::query("DELETE FROM user_devices WHERE user_id = $1")
                        .bind(id.get())
                        .execute(&self.pool)
                        .await?;
                }
                Ok(done.rows_affected() == 1)
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
                        // Worded by the worker from its template, like every notification.
                        "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                         next_attempt_at) VALUES ('account.sign_in_failures', NULL, $1, '', '', $2, $2)",
                    )
                    .bind(owner.get())
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
        }
    };
}
pub(crate) use impl_accounts_store;
