//! The "Your data" section's actions: asking for a copy of one's data, and downloading it.

use crate::auth::CurrentUser;
use crate::auth::csrf::CsrfForm;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::confirm;
use crate::services::exports::{self, Download};
use crate::state::AppState;
use crate::templates::accounts::ExportRow;
use crate::templates::format::when;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use storage::User;

/// The person's exports as the account page lists them.
pub async fn export_rows(state: &AppState, user: &User) -> Result<Vec<ExportRow>, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(state
        .store
        .exports_of(user.id)
        .await?
        .into_iter()
        .map(|e| {
            let (status, downloadable) = match e.status.as_str() {
                "ready" if e.expires_at.is_some_and(|t| t > now) => (
                    format!(
                        "Ready: download until {}",
                        when(e.expires_at.unwrap_or(now))
                    ),
                    true,
                ),
                "ready" | "purged" => ("Expired: ask again for a new copy".to_owned(), false),
                "failed" => (
                    e.failure
                        .unwrap_or_else(|| "Failed: please ask again.".into()),
                    false,
                ),
                _ => ("Being prepared: we will email you".to_owned(), false),
            };
            ExportRow {
                id: e.id,
                requested: when(e.requested_at),
                due: when(e.due_at),
                status,
                downloadable,
            }
        })
        .collect())
}

#[tracing::instrument(skip_all)]
pub async fn request_export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, AppError> {
    let export = exports::request(&state, &user, &origin).await?;
    confirm(
        &session,
        format!(
            "We are preparing a copy of your data and will email {} when it is ready (by {} at \
             the latest).",
            user.email.as_str(),
            when(export.due_at)
        ),
    )
    .await?;
    Ok(Redirect::to("/account#your-data").into_response())
}

/// Streams the owner's archive, one decrypted part at a time, never cached on the way.
#[tracing::instrument(skip_all)]
pub async fn download_export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    match exports::for_download(&state, &user, id).await? {
        Download::Ready(export) => {
            let name = format!("tattoo-marketplace-data-{}.tar", export.id);
            let length = export.bytes.to_string();
            Ok((
                [
                    (header::CONTENT_TYPE, "application/x-tar".to_owned()),
                    (header::CONTENT_LENGTH, length),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                    (header::CACHE_CONTROL, "private, no-store".to_owned()),
                ],
                Body::from_stream(exports::stream(state, export)),
            )
                .into_response())
        }
        Download::Expired => Err(AppError::Gone(
            "This copy of your data has expired and was deleted. Ask for a new one on your account page."
                .into(),
        )),
        Download::NotYet => Err(AppError::Conflict(
            "This copy of your data is still being prepared: we will email you when it is ready.".into(),
        )),
    }
}
