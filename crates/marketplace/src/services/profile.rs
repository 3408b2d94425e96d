//! What a person changes about their own account: their name, their password, becoming an
//! artist, which optional emails they get, and being told when an artist's books open.

use crate::error::AppError;
use crate::state::AppState;
use crate::templates::email::OPTIONAL;
use domain::{DisplayName, NewPassword};
use storage::User;

pub async fn rename(state: &AppState, user: &User, name: &str) -> Result<(), AppError> {
    let name =
        DisplayName::parse(name).map_err(|e| AppError::field("display_name", e.to_string()))?;
    state.store.set_display_name(user.id, &name).await?;
    Ok(())
}

/// Replaces the password after checking the current one. Every other session ends (a changed
/// password is what someone does after a scare); the caller signs this browser in afresh.
pub async fn change_password(
    state: &AppState,
    user: &User,
    current: &str,
    new: &str,
) -> Result<User, AppError> {
    let credentials = state
        .store
        .credentials_by_email(&user.email)
        .await?
        .ok_or(AppError::NotFound)?;
    if !state
        .passwords
        .verify(current.to_owned(), credentials.password_hash.clone())
        .await?
    {
        return Err(AppError::field(
            "current_password",
            "That is not your current password.",
        ));
    }
    let password = NewPassword::parse(new, &user.email, Some(&user.display_name))
        .map_err(|e| AppError::field("new_password", format!("Password {e}")))?;
    let hash = state.passwords.hash(password.expose().to_owned()).await?;
    if !state
        .store
        .reset_password(user.id, &credentials.password_hash, &hash)
        .await?
    {
        return Err(AppError::Conflict(
            "The password changed meanwhile, in another browser. Sign in again.".into(),
        ));
    }
    tracing::info!(user_id = %user.id, "password changed; other sessions ended");
    state.store.user(user.id).await?.ok_or(AppError::NotFound)
}

pub async fn become_artist(state: &AppState, user: &User) -> Result<(), AppError> {
    state.store.become_artist(user.id).await?;
    Ok(())
}

/// The optional emails as (kind, label, on).
pub async fn email_choices(
    state: &AppState,
    user: &User,
) -> Result<Vec<(&'static str, &'static str, bool)>, AppError> {
    let off = state.store.email_opt_out(user.id).await?;
    Ok(OPTIONAL
        .iter()
        .map(|(kind, label)| (*kind, *label, !off.iter().any(|k| k == kind)))
        .collect())
}

/// Keeps the optional emails in `on` and turns the others off.
pub async fn save_email_choices(
    state: &AppState,
    user: &User,
    on: &[&str],
) -> Result<(), AppError> {
    let off: Vec<String> = OPTIONAL
        .iter()
        .map(|(kind, _)| *kind)
        .filter(|kind| !on.contains(kind))
        .map(str::to_owned)
        .collect();
    state.store.set_email_opt_out(user.id, &off).await?;
    Ok(())
}

/// Checks a `List-Unsubscribe` link and returns the label of the kind it stops; the link carries
/// no session, so anyone holding the email can use it (as RFC 8058 expects), and only for that.
pub fn unsubscribe_link(
    state: &AppState,
    token: &str,
    kind: &str,
) -> Result<(domain::UserId, &'static str, &'static str), AppError> {
    let invalid = || {
        AppError::BadRequest("This unsubscribe link is not valid or has expired. Choose which emails you get on your account's notifications page.".into())
    };
    let (kind, label) = OPTIONAL
        .iter()
        .find(|(k, _)| *k == kind)
        .copied()
        .ok_or_else(invalid)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = state
        .links
        .check(
            crate::auth::email_link::Purpose::Unsubscribe,
            token,
            kind,
            now,
        )
        .map_err(|_| invalid())?;
    Ok((domain::UserId::new(user), kind, label))
}

/// Turns one optional kind off for `user`, keeping the others as they were.
pub async fn unsubscribe(
    state: &AppState,
    user: domain::UserId,
    kind: &str,
) -> Result<(), AppError> {
    let mut off = state.store.email_opt_out(user).await?;
    if !off.iter().any(|k| k == kind) {
        off.push(kind.to_owned());
        state.store.set_email_opt_out(user, &off).await?;
        tracing::info!(user_id = %user, kind, "unsubscribed by link");
    }
    Ok(())
}

/// Asks to be told when `slug`'s books open (or stops asking). Only closed books can be watched:
/// for open ones the profile offers the request form instead.
pub async fn watch_books(
    state: &AppState,
    user: &User,
    slug: &str,
    watch: bool,
) -> Result<storage::ArtistProfile, AppError> {
    let artist = state
        .store
        .artist_by_slug(slug)
        .await?
        .ok_or(AppError::NotFound)?;
    if watch {
        if artist.books_open {
            return Err(AppError::Conflict(format!(
                "{}'s books are open: you can send a request now.",
                artist.display_name
            )));
        }
        state
            .store
            .watch_books(artist.id, user.id, crate::clock::now())
            .await?;
    } else {
        state.store.unwatch_books(artist.id, user.id).await?;
    }
    Ok(artist)
}
