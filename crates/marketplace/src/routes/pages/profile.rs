//! Pages where people change their own account: name, password, becoming an artist, optional
//! emails, and asking to be told when an artist's books open.

use crate::auth::CurrentUser;
use crate::auth::csrf::CsrfForm;
use crate::auth::session::sign_in as start_session;
use crate::client_ip::Origin;
use crate::error::{AppError, FieldError};
use crate::routes::pages::{confirm, render, signed_in_layout};
use crate::services::{audit, email_change, profile};
use crate::state::AppState;
use crate::templates::accounts::{NotificationsPage, ProfilePage};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::AuditAction;
use std::collections::HashMap;
use storage::User;
use tower_sessions::Session;

async fn profile_page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ProfilePage {
        layout: signed_in_layout(state, session, user).await?,
        name: user.display_name.as_str().to_owned(),
        errors,
    };
    Ok((status, render(page)?).into_response())
}

#[tracing::instrument(skip_all)]
pub async fn profile_form(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    profile_page(&state, &session, &user, vec![]).await
}

#[derive(serde::Deserialize)]
pub struct NameForm {
    #[serde(default)]
    display_name: String,
}

#[tracing::instrument(skip_all)]
pub async fn rename(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm { form, session }: CsrfForm<NameForm>,
) -> Result<Response, AppError> {
    match profile::rename(&state, &user, &form.display_name).await {
        Ok(()) => {
            confirm(&session, "Your name is saved.").await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(AppError::Validation(errors)) => profile_page(&state, &session, &user, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Asks for a new address: a link goes to it, and nothing changes until it is followed.
#[tracing::instrument(skip_all)]
pub async fn change_email(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<EmailForm>,
) -> Result<Response, AppError> {
    match email_change::request(&state, &user, &form.email, &form.password, &origin).await {
        Ok(new) => {
            let text = format!(
                "We emailed a link to {}: follow it within 24 hours to make it your address.                  Until then, your address stays {}.",
                new.as_str(),
                user.email.as_str()
            );
            confirm(&session, text).await?;
            Ok(Redirect::to("/account/profile").into_response())
        }
        Err(AppError::Validation(errors)) => profile_page(&state, &session, &user, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
pub struct EmailConfirmQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
}

/// The link from the new address. It is signed and bound to both addresses, so it needs no
/// signed-in browser; the browser that follows it is told, and signs in as usual.
#[tracing::instrument(skip_all)]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Query(query): Query<EmailConfirmQuery>,
) -> Result<Response, AppError> {
    let user = email_change::confirm(&state, &query.token, &query.email, &origin).await?;
    confirm(
        &session,
        format!("Your address is now {}.", user.email.as_str()),
    )
    .await?;
    Ok(Redirect::to("/account/profile").into_response())
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[tracing::instrument(skip_all)]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<PasswordForm>,
) -> Result<Response, AppError> {
    match profile::change_password(&state, &user, &form.current_password, &form.new_password).await
    {
        Ok(user) => {
            let (who, none) = (Some(user.id), serde_json::json!({}));
            audit::record(
                &state,
                AuditAction::PasswordChanged,
                who,
                who,
                &origin,
                none,
            )
            .await?;
            start_session(&session, &user).await?;
            confirm(
                &session,
                "Password changed. Every other browser has been signed out.",
            )
            .await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(AppError::Validation(errors)) => profile_page(&state, &session, &user, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
pub struct Empty {}

#[tracing::instrument(skip_all)]
pub async fn become_artist(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    profile::become_artist(&state, &user).await?;
    let detail = serde_json::json!({ "from": user.role.as_str(), "to": "artist" });
    let who = Some(user.id);
    audit::record(&state, AuditAction::RoleChanged, who, who, &origin, detail).await?;
    confirm(
        &session,
        "You are now an artist. Set up your profile and booking policy, then add your work.",
    )
    .await?;
    Ok(Redirect::to("/dashboard/profile").into_response())
}

#[tracing::instrument(skip_all)]
pub async fn notifications(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    let page = NotificationsPage {
        layout: signed_in_layout(&state, &session, &user).await?,
        choices: profile::email_choices(&state, &user).await?,
    };
    Ok(render(page)?.into_response())
}

#[tracing::instrument(skip_all)]
pub async fn save_notifications(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm { form, session }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let on: Vec<&str> = form.keys().map(String::as_str).collect();
    profile::save_email_choices(&state, &user, &on).await?;
    confirm(&session, "Your email choices are saved.").await?;
    Ok(Redirect::to("/account/notifications").into_response())
}

#[derive(serde::Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    stop: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn watch_books(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
    CsrfForm { form, session }: CsrfForm<WatchForm>,
) -> Result<Response, AppError> {
    let watch = form.stop.is_none();
    let artist = profile::watch_books(&state, &user, &slug, watch).await?;
    let done = if watch {
        format!(
            "We will email you once when {} opens their books.",
            artist.display_name
        )
    } else {
        format!(
            "You will not be emailed about {}'s books.",
            artist.display_name
        )
    };
    confirm(&session, done).await?;
    Ok(Redirect::to(&format!("/artists/{}", artist.slug)).into_response())
}
