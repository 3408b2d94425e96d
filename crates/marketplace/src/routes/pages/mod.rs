//! HTML pages: each handler parses the form, calls its use case and renders a template.

pub mod accounts;
pub mod bookings;
pub mod catalogue;
pub mod identity;
pub mod portfolio;
pub mod settings;

use crate::auth::csrf;
use crate::error::AppError;
use crate::state::AppState;
use crate::templates::Layout;
use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use storage::User;
use tower_sessions::Session;

pub fn render(page: impl Template) -> Result<Html<String>, AppError> {
    page.render()
        .map(Html)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering template: {e}")))
}

/// The layout for anyone; the CSRF token for the sign-out form only when someone is signed in.
pub async fn layout(
    state: &AppState,
    session: &Session,
    user: Option<&User>,
) -> Result<Layout, AppError> {
    let csrf = match user {
        Some(_) => Some(csrf::token(session).await?),
        None => None,
    };
    Ok(Layout::new(state, user, csrf))
}

/// The layout for a signed-in user's page.
pub async fn signed_in_layout(
    state: &AppState,
    session: &Session,
    user: &User,
) -> Result<Layout, AppError> {
    layout(state, session, Some(user)).await
}

/// Pages that anyone may open but only a signed-in user may use send others to sign in first.
pub fn sign_in_redirect(next: &str) -> Response {
    let next: String =
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC).collect();
    Redirect::to(&format!("/sign-in?next={next}")).into_response()
}
