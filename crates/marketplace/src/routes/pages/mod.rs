//! HTML pages: each handler parses the form, calls its use case and renders a template.

pub mod accounts;
pub mod audit;
pub mod bookings;
pub mod catalogue;
pub mod data;
pub mod erasure;
pub mod identity;
pub mod insights;
pub mod legal;
pub mod payments;
pub mod portfolio;
pub mod profile;
pub mod settings;
pub mod two_factor;

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

/// Where a confirmation waits for the next page the user sees.
const NOTICE_KEY: &str = "notice";

/// Confirms what a form did on the page it redirects to (post/redirect/get keeps the message
/// out of the URL, and a reload does not show it twice).
pub async fn confirm(session: &Session, text: impl Into<String>) -> Result<(), AppError> {
    session
        .insert(NOTICE_KEY, text.into())
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("saving a confirmation: {e}")))
}

/// The layout for anyone; the CSRF token for the sign-out form and any waiting confirmation only
/// when someone is signed in.
pub async fn layout(
    state: &AppState,
    session: &Session,
    user: Option<&User>,
) -> Result<Layout, AppError> {
    let (csrf, notice) = match user {
        Some(_) => (
            Some(csrf::token(session).await?),
            take_notice(session).await,
        ),
        None => (None, None),
    };
    let mut layout = Layout::new(state, user, csrf);
    layout.notice = notice;
    if let Some(user) = user {
        layout.legal_update = !legal_current(state, session, user).await?;
    }
    Ok(layout)
}

/// Session key: the terms' versions this session's person is known to have accepted.
pub const LEGAL_KEY: &str = "legal_accepted";

/// Whether `user` accepted the current terms and privacy policy. Remembered in the session once
/// true, so pages ask the database only until then.
async fn legal_current(state: &AppState, session: &Session, user: &User) -> Result<bool, AppError> {
    // The account is part of the value, so it never carries over to another person's sign-in.
    let current = format!("{}|{}", user.id, crate::services::legal::current_versions());
    if session.get::<String>(LEGAL_KEY).await?.as_deref() == Some(current.as_str()) {
        return Ok(true);
    }
    let ok = crate::services::legal::outdated(state, user.id)
        .await?
        .is_empty();
    if ok {
        session.insert(LEGAL_KEY, current).await?;
    }
    Ok(ok)
}

/// The waiting confirmation, removed so it shows once. Reading first keeps the session unwritten
/// on the many pages that have none.
async fn take_notice(session: &Session) -> Option<String> {
    match session.get::<String>(NOTICE_KEY).await {
        Ok(Some(text)) => {
            let _ = session.remove::<String>(NOTICE_KEY).await;
            Some(text)
        }
        _ => None,
    }
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
