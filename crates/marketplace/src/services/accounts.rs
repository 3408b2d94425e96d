//! Registration and sign-in rules shared by the HTML pages and the JSON API.

use crate::auth::email_link::{LinkSigner, Purpose};
use crate::auth::two_factor;
use crate::client_ip::Origin;
use crate::error::{AppError, FieldError};
use crate::services::{audit, legal};
use crate::state::AppState;
use domain::{AuditAction, DisplayName, Email, NewPassword, RegistrableRole, UserId};
use storage::{NewUser, User};

/// What a sign-up form or API call sent, before parsing.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct Registration {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    /// The version of the terms of service (`/terms`) accepted; omitted, the current one.
    #[serde(default)]
    pub accepted_terms: Option<String>,
    /// The version of the privacy policy (`/privacy`) acknowledged; omitted, the current one.
    #[serde(default)]
    pub accepted_privacy: Option<String>,
}

/// The single message for every sign-in failure, so it never reveals whether an account exists.
pub const SIGN_IN_FAILED: &str = "That email and password do not match an account.";

/// How long an email verification link works.
const VERIFY_LINK_SECS: i64 = 48 * 3600;

/// Parses every field, reporting all problems at once, hashes the password and creates the user,
/// unverified, emailing a verification link. When the address already has an account, its owner
/// is emailed instead; the caller answers both the same way, after the same work, so registration
/// never tells whether an address has an account.
pub async fn register(
    state: &AppState,
    input: Registration,
    origin: &Origin,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|e| errors.push(FieldError::from(e)))
        .ok();
    let display_name = DisplayName::parse(&input.display_name)
        .map_err(|e| errors.push(e.into()))
        .ok();
    let role = RegistrableRole::parse(&input.role)
        .map_err(|e| errors.push(e.into()))
        .ok();
    let password = email.as_ref().and_then(|email| {
        NewPassword::parse(&input.password, email, display_name.as_ref())
            .map_err(|e| {
                errors.push(FieldError {
                    field: "password".into(),
                    message: format!("Password {e}"),
                })
            })
            .ok()
    });
    let (Some(email), Some(display_name), Some(role), Some(password)) =
        (email, display_name, role, password)
    else {
        return Err(AppError::Validation(errors));
    };
    let password_hash = state.passwords.hash(password.expose().to_owned()).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (accepted_terms, accepted_privacy) = (input.accepted_terms, input.accepted_privacy);
    let created = state
        .store
        .create_user(NewUser {
            email: email.clone(),
            display_name,
            role: role.role(),
            password_hash,
        })
        .await;
    match created {
        Ok(user) => {
            state.metrics.registrations.inc();
            state.metrics.kpi.registered(user.role);
            tracing::info!(user_id = %user.id, role = user.role.as_str(), "account registered");
            let detail = serde_json::json!({ "role": user.role.as_str() });
            audit::record(
                state,
                AuditAction::AccountRegistered,
                Some(user.id),
                Some(user.id),
                origin,
                detail,
            )
            .await?;
            let shown = [
                (
                    "terms",
                    accepted_terms.as_deref().unwrap_or(legal::TERMS.version),
                ),
                (
                    "privacy",
                    accepted_privacy
                        .as_deref()
                        .unwrap_or(legal::PRIVACY.version),
                ),
            ];
            legal::accept(state, user.id, origin, &shown, "sign_up").await?;
            legal::honour_gpc(state, user.id, origin).await?;
            send_verification(state, &user, now).await
        }
        Err(storage::StoreError::Conflict(_)) => {
            let Some(owner) = state.store.credentials_by_email(&email).await? else {
                return Ok(());
            };
            let base = state.settings.mail.public_url.trim_end_matches('/');
            state
                .store
                .queue_account_email(
                    owner.user.id,
                    "account.sign_up_attempt",
                    "Someone tried to create an account with your email address",
                    &format!(
                        "Someone, perhaps you, tried to create a Tattoo Marketplace account with \
                         this email address, which already has one.\n\nIf it was you, sign in \
                         here: {base}/sign-in\n\nIf it was not, you need do nothing: no second \
                         account was made.\n"
                    ),
                    now,
                )
                .await?;
            tracing::info!(user_id = %owner.user.id, "sign-up attempted for an existing account");
            Ok(())
        }
        Err(other) => Err(other.into()),
    }
}

/// Emails `user` a link that confirms their address.
pub async fn send_verification(state: &AppState, user: &User, now: i64) -> Result<(), AppError> {
    let token = state.links.sign(
        Purpose::VerifyEmail,
        user.id.get(),
        user.email.as_str(),
        now + VERIFY_LINK_SECS,
    );
    let base = state.settings.mail.public_url.trim_end_matches('/');
    state
        .store
        .queue_account_email(
            user.id,
            "account.verify_email",
            "Confirm your email address",
            &format!(
                "Welcome to Tattoo Marketplace, {}.\n\nConfirm your email address to send booking \
                 requests: {base}/verify-email?token={token}\n\nThe link works for 48 hours. If \
                 you did not create this account, ignore this email.\n",
                user.display_name.as_str()
            ),
            now,
        )
        .await?;
    Ok(())
}

/// Checks a verification link and marks the address verified; the user it belongs to.
pub async fn verify_email(
    state: &AppState,
    token: &str,
    origin: &Origin,
) -> Result<User, AppError> {
    let invalid = || {
        AppError::BadRequest("This link is not valid or has expired. Sign in and ask for a new one on your account page.".into())
    };
    let id = LinkSigner::user_of(token).map_err(|_| invalid())?;
    let user = state
        .store
        .user(domain::UserId::new(id))
        .await?
        .ok_or_else(invalid)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    state
        .links
        .check(Purpose::VerifyEmail, token, user.email.as_str(), now)
        .map_err(|_| invalid())?;
    if !state
        .store
        .mark_email_verified(user.id, &user.email, now)
        .await?
    {
        return Err(invalid());
    }
    tracing::info!(user_id = %user.id, "email address verified");
    let (who, none) = (Some(user.id), serde_json::json!({}));
    audit::record(state, AuditAction::EmailVerified, who, who, origin, none).await?;
    Ok(User {
        email_verified: true,
        ..user
    })
}

/// How long a password reset link works.
const RESET_LINK_SECS: i64 = 3600;

/// What a reset link is bound to: a digest of the password hash it replaces, so the link dies
/// with the first reset (or any other change of password).
fn reset_binding(password_hash: &str) -> String {
    crate::auth::sha256_hex(password_hash.as_bytes())
}

/// Emails a reset link when `email` has an account; the caller answers the same either way.
pub async fn request_password_reset(state: &AppState, email: &str) -> Result<(), AppError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let Some(credentials) = state.store.credentials_by_email(&email).await? else {
        return Ok(());
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = &credentials.user;
    let token = state.links.sign(
        Purpose::ResetPassword,
        user.id.get(),
        &reset_binding(&credentials.password_hash),
        now + RESET_LINK_SECS,
    );
    let base = state.settings.mail.public_url.trim_end_matches('/');
    state
        .store
        .queue_account_email(
            user.id,
            "account.password_reset",
            "Choose a new password",
            &format!(
                "Someone, hopefully you, asked to reset the password of your Tattoo Marketplace \
                 account.\n\nChoose a new one here (the link works for one hour, once): \
                 {base}/reset-password?token={token}\n\nIf it was not you, ignore this email: \
                 your password stays as it is.\n"
            ),
            now,
        )
        .await?;
    tracing::info!(user_id = %user.id, "password reset link sent");
    Ok(())
}

/// Sets a new password through a reset link: every session of the account ends, the link with
/// it, and the sign-in throttle is cleared. Returns the user, to sign in afresh.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    new_password: &str,
    origin: &Origin,
) -> Result<User, AppError> {
    let invalid = || {
        AppError::BadRequest(
            "This link is not valid, has been used or has expired. Ask for a new one.".into(),
        )
    };
    let id = domain::UserId::new(LinkSigner::user_of(token).map_err(|_| invalid())?);
    let user = state.store.user(id).await?.ok_or_else(invalid)?;
    let credentials = state
        .store
        .credentials_by_email(&user.email)
        .await?
        .ok_or_else(invalid)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    state
        .links
        .check(
            Purpose::ResetPassword,
            token,
            &reset_binding(&credentials.password_hash),
            now,
        )
        .map_err(|_| invalid())?;
    let password = NewPassword::parse(new_password, &user.email, Some(&user.display_name))
        .map_err(|e| {
            AppError::Validation(vec![FieldError {
                field: "password".into(),
                message: format!("Password {e}"),
            }])
        })?;
    let hash = state.passwords.hash(password.expose().to_owned()).await?;
    if !state
        .store
        .reset_password(id, &credentials.password_hash, &hash)
        .await?
    {
        return Err(invalid());
    }
    state
        .store
        .clear_sign_in_failures(&throttle_key(user.email.as_str()))
        .await?;
    tracing::info!(user_id = %id, "password reset; every session ended");
    let detail = serde_json::json!({ "method": "email_link" });
    audit::record(
        state,
        AuditAction::PasswordReset,
        Some(id),
        Some(id),
        origin,
        detail,
    )
    .await?;
    state.store.user(id).await?.ok_or_else(invalid)
}

/// Checks the second factor of `user` (a TOTP code or a recovery code), under the same
/// per-account throttle as passwords, so six-digit codes cannot be tried at speed.
pub async fn second_factor(
    state: &AppState,
    user: &User,
    code: &str,
    origin: &Origin,
) -> Result<bool, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let key = throttle_key(user.email.as_str());
    ensure_not_locked(state, &key, now, "Too many wrong codes.").await?;
    let ok = verify_second_factor(state, user.id, code, origin).await?;
    if ok {
        state.store.clear_sign_in_failures(&key).await?;
    } else {
        state
            .store
            .record_sign_in_failure(&key, Some(user.id), now)
            .await?;
        audit::record(
            state,
            AuditAction::SignInFailed,
            None,
            Some(user.id),
            origin,
            serde_json::json!({ "factor": "second" }),
        )
        .await?;
    }
    Ok(ok)
}

/// Records a completed sign-in: `method` names how (`password`, `oidc`, `email_link`...).
pub async fn signed_in(
    state: &AppState,
    user: &User,
    origin: &Origin,
    method: &'static str,
) -> Result<(), AppError> {
    audit::record(
        state,
        AuditAction::SignInSucceeded,
        Some(user.id),
        Some(user.id),
        origin,
        serde_json::json!({ "method": method, "second_factor": user.two_factor }),
    )
    .await?;
    legal::honour_gpc(state, user.id, origin).await
}

/// Checks a TOTP code or an unused recovery code for `user`, consuming it. True when the user
/// has no second factor.
async fn verify_second_factor(
    state: &AppState,
    user: UserId,
    code: &str,
    origin: &Origin,
) -> Result<bool, AppError> {
    let Some(factor) = state.store.two_factor(user).await? else {
        return Ok(true);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    if let Some(step) = two_factor::matching_step(&factor.secret, code, now)? {
        return Ok(state.store.accept_totp_step(user, step).await?);
    }
    let hash = two_factor::hash_recovery(code);
    if two_factor::normalise(code).len() == 10 && factor.recovery.contains(&hash) {
        let after: Vec<String> = factor
            .recovery
            .iter()
            .filter(|h| **h != hash)
            .cloned()
            .collect();
        let used = state
            .store
            .use_recovery_code(user, &factor.recovery, &after)
            .await?;
        if used {
            let detail = serde_json::json!({ "remaining": after.len() });
            audit::record(
                state,
                AuditAction::RecoveryCodeUsed,
                Some(user),
                Some(user),
                origin,
                detail,
            )
            .await?;
        }
        return Ok(used);
    }
    Ok(false)
}

/// The key of an email's sign-in throttle: a hash, so that addresses without an account (which
/// are throttled alike, or the lock would tell which addresses have one) are not stored.
fn throttle_key(email: &str) -> String {
    crate::auth::sha256_hex(email.trim().to_lowercase().as_bytes())
}

/// Refuses with 429 while sign-in for `key` is locked; `what` names what failed too often.
async fn ensure_not_locked(
    state: &AppState,
    key: &str,
    now: i64,
    what: &str,
) -> Result<(), AppError> {
    let locked_until = state.store.sign_in_locked_until(key).await?;
    if locked_until > now {
        let secs = locked_until - now;
        return Err(AppError::Busy {
            message: format!("{what} Please wait {secs} seconds and try again."),
            retry_after_secs: u64::try_from(secs).unwrap_or(1),
        });
    }
    Ok(())
}

/// Checks an email and password. Always does the same argon2 work, found or not. Repeated
/// failures for one email lock its sign-in for a while (`domain::throttle`), on every instance.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
    origin: &Origin,
) -> Result<Option<User>, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let key = throttle_key(email);
    ensure_not_locked(state, &key, now, "Too many failed sign-ins for this email.").await?;
    let parsed = Email::parse(email).ok();
    let credentials = match &parsed {
        Some(e) => state.store.credentials_by_email(e).await?,
        None => None,
    };
    let password = password
        .chars()
        .take(NewPassword::MAX_CHARS)
        .collect::<String>();
    let (owner, user) = match credentials {
        Some(c) => {
            let ok = state.passwords.verify(password, c.password_hash).await?;
            (Some(c.user.id), ok.then_some(c.user))
        }
        None => {
            state
                .passwords
                .verify(password, state.dummy_hash.to_string())
                .await?;
            (None, None)
        }
    };
    match &user {
        Some(_) => state.store.clear_sign_in_failures(&key).await?,
        None => {
            state.store.record_sign_in_failure(&key, owner, now).await?;
            // The address is not recorded: for an unknown one it may be someone's mistyped
            // password, and for a known one the account id says enough.
            audit::record(
                state,
                AuditAction::SignInFailed,
                None,
                owner,
                origin,
                serde_json::json!({ "factor": "password" }),
            )
            .await?;
        }
    }
    Ok(user)
}
