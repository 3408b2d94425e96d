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
