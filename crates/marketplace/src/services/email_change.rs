//! Changing an account's email address (GDPR rectification): asked for with the password,
//! confirmed from the new address, the old one told, each step audited.

use crate::auth::email_link::{LinkSigner, Purpose};
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use domain::{AuditAction, Email, UserId};
use storage::User;

/// How long a confirmation link works.
const LINK_SECS: i64 = 24 * 3600;

fn binding(old: &Email, new: &Email) -> String {
    format!("{}\n{}", old.as_str(), new.as_str())
}

/// Checks the password and emails a confirmation link to `new`. An address another account
/// holds gets a notice instead and the answer is the same, so the form tells nobody who has an
/// account.
pub async fn request(
    state: &AppState,
    user: &User,
    new: &str,
    password: &str,
    origin: &Origin,
) -> Result<Email, AppError> {
    let new = Email::parse(new).map_err(|e| AppError::field("email", e.to_string()))?;
    if new == user.email {
        return Err(AppError::field("email", "That is already your address."));
    }
    let credentials = state
        .store
        .credentials_by_email(&user.email)
        .await?
        .ok_or(AppError::NotFound)?;
    if !state
        .passwords
        .verify(password.to_owned(), credentials.password_hash)
        .await?
    {
        return Err(AppError::field(
            "password",
            "That is not your current password.",
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let base = state.settings.mail.public_url.trim_end_matches('/');
    match state.store.credentials_by_email(&new).await? {
        Some(owner) => {
            state
                .store
                .queue_account_email(
                    owner.user.id,
                    "account.email_change_attempt",
                    "Someone tried to move another account to your email address",
                    &format!(
                        "Someone signed in to another Tattoo Marketplace account asked to change \
                         its address to this one, which already has an account. Nothing was \
                         changed.\n\nIf that was you, sign in to this account instead: \
                         {base}/sign-in\n"
                    ),
                    now,
                )
                .await?
        }
        None => {
            let token = state.links.sign(
                Purpose::ChangeEmail,
                user.id.get(),
                &binding(&user.email, &new),
                now + LINK_SECS,
            );
            let query =
                serde_urlencoded::to_string([("token", token.as_str()), ("email", new.as_str())])
                    .map_err(|e| AppError::Internal(e.into()))?;
            state
                .store
                .queue_email_to_address(
                    user.id,
                    &new,
                    "account.email_change",
                    "Confirm your new email address",
                    &format!(
                        "You asked to use this address for your Tattoo Marketplace account. \
                         Confirm it within 24 hours:\n\n{base}/account/email/confirm?{query}\n\n\
                         If you did not ask, ignore this email: nothing changes.\n"
                    ),
                    now,
                )
                .await?
        }
    }
    let who = Some(user.id);
    let detail = serde_json::json!({ "step": "requested" });
    audit::record(state, AuditAction::EmailChanged, who, who, origin, detail).await?;
    Ok(new)
}

/// Follows the emailed link: moves the account to the new address, confirmed, and tells the old
/// address. The link works once: afterwards the account no longer has the address it is bound to.
pub async fn confirm(
    state: &AppState,
    token: &str,
    new: &str,
    origin: &Origin,
) -> Result<User, AppError> {
    let invalid = || {
        AppError::BadRequest(
            "This link is not valid, has been used or has expired. Ask for a new one on your \
             profile page."
                .into(),
        )
    };
    let new = Email::parse(new).map_err(|_| invalid())?;
    let id = UserId::new(LinkSigner::user_of(token).map_err(|_| invalid())?);
    let user = state.store.user(id).await?.ok_or_else(invalid)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    state
        .links
        .check(
            Purpose::ChangeEmail,
            token,
            &binding(&user.email, &new),
            now,
        )
        .map_err(|_| invalid())?;
    let old = user.email.clone();
    match state.store.change_email(id, &old, &new, now).await {
        Ok(true) => {}
        Ok(false) => return Err(invalid()),
        Err(storage::StoreError::Conflict(_)) => {
            return Err(AppError::Conflict(
                "Another account took that address meanwhile, so it cannot be yours.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // The old address learns of it, in case the change was not its owner's doing.
    state
        .store
        .queue_email_to_address(
            id,
            &old,
            "account.email_changed",
            "Your Tattoo Marketplace address was changed",
            "The email address of your Tattoo Marketplace account was just changed to another \
             one. If you did not do this, reply to this email at once so we can secure your \
             account.\n",
            now,
        )
        .await?;
    let detail = serde_json::json!({ "step": "confirmed" });
    audit::record(
        state,
        AuditAction::EmailChanged,
        Some(id),
        Some(id),
        origin,
        detail,
    )
    .await?;
    tracing::info!(user_id = %id, "email address changed");
    state.store.user(id).await?.ok_or_else(invalid)
}
