//! The data rights in the API: asking for a copy of one's data and downloading it, and asking
//! for, following and calling off the erasure of one's account; the same services as the pages.

use crate::auth::CurrentUser;
use crate::client_ip::Origin;
use crate::error::{AppError, Problem};
use crate::routes::api::Json;
use crate::services::erasure::{self, Refusal};
use crate::services::exports::{self, Download};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A request for a copy of one's data.
#[derive(Serialize, ToSchema)]
pub struct DataExport {
    id: i64,
    /// `pending`, `running`, `ready`, `failed` or `purged`.
    status: String,
    requested_at: i64,
    /// The legal deadline (unix seconds).
    due_at: i64,
    completed_at: Option<i64>,
    /// Until when `download` works.
    expires_at: Option<i64>,
    bytes: i64,
    /// Where the archive is downloaded while it is ready.
    download: Option<String>,
}

impl From<storage::DataExport> for DataExport {
    fn from(e: storage::DataExport) -> Self {
        let download = (e.status == "ready").then(|| format!("/api/v1/me/data-exports/{}", e.id));
        Self {
            id: e.id,
            status: e.status,
            requested_at: e.requested_at,
            due_at: e.due_at,
            completed_at: e.completed_at,
            expires_at: e.expires_at,
            bytes: e.bytes,
            download,
        }
    }
}

/// Asks for a copy of one's data; the request already under way is returned as it is.
#[utoipa::path(post, path = "/me/data-exports", tag = "accounts", operation_id = "requestDataExport",
    security(("session" = [])),
    responses(
        (status = 202, description = "Being prepared; an email says when it is ready", body = DataExport),
        (status = 401, response = Problem),
    ))]
pub async fn request_export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
) -> Result<(StatusCode, Json<DataExport>), AppError> {
    let export = exports::request(&state, &user, &origin).await?;
    Ok((StatusCode::ACCEPTED, Json(export.into())))
}

/// One's copies of one's data, newest first.
#[utoipa::path(get, path = "/me/data-exports", tag = "accounts", operation_id = "listDataExports",
    security(("session" = [])),
    responses(
        (status = 200, description = "The requests", body = [DataExport]),
        (status = 401, response = Problem),
    ))]
pub async fn list_exports(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<DataExport>>, AppError> {
    let all = state.store.exports_of(user.id).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// Downloads a ready copy: a tar of JSON and image files.
#[utoipa::path(get, path = "/me/data-exports/{id}", tag = "accounts", operation_id = "downloadDataExport",
    security(("session" = [])),
    params(("id" = i64, Path, description = "The export")),
    responses(
        (status = 200, description = "The archive", content_type = "application/x-tar"),
        (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 410, response = Problem),
    ))]
pub async fn download_export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    match exports::for_download(&state, &user, id).await? {
        Download::Ready(export) => Ok((
            [
                (header::CONTENT_TYPE, "application/x-tar".to_owned()),
                (header::CONTENT_LENGTH, export.bytes.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"tattoo-marketplace-data-{id}.tar\""),
                ),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            Body::from_stream(exports::stream(state, export)),
        )
            .into_response()),
        Download::Expired => Err(AppError::Gone(
            "This copy has expired and was deleted.".into(),
        )),
        Download::NotYet => Err(AppError::Conflict(
            "This copy is still being prepared.".into(),
        )),
    }
}

/// The erasure of one's account.
#[derive(Serialize, ToSchema)]
pub struct Erasure {
    id: i64,
    /// `scheduled`, `waiting` (open booking requests hold it), `erasing`, `done` or `cancelled`.
    status: String,
    requested_at: i64,
    /// When the grace period ends (unix seconds).
    erase_after: i64,
    /// The legal deadline.
    due_at: i64,
    completed_at: Option<i64>,
}

impl From<storage::ErasureRequest> for Erasure {
    fn from(r: storage::ErasureRequest) -> Self {
        Self {
            id: r.id,
            status: r.status,
            requested_at: r.requested_at,
            erase_after: r.erase_after,
            due_at: r.due_at,
            completed_at: r.completed_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EraseAccount {
    /// The account's current password.
    password: String,
}

/// Asks for the account's erasure after the grace period; an erasure already under way is
/// returned as it is.
#[utoipa::path(post, path = "/me/erasure", tag = "accounts", operation_id = "requestErasure",
    security(("session" = [])),
    request_body = EraseAccount,
    responses(
        (status = 202, description = "Scheduled; an email carries the link that calls it off", body = Erasure),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
        (status = 422, response = Problem),
    ))]
pub async fn request_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    Json(body): Json<EraseAccount>,
) -> Result<(StatusCode, Json<Erasure>), AppError> {
    match erasure::request(&state, &user, &body.password, &origin).await? {
        Ok(r) => Ok((StatusCode::ACCEPTED, Json(r.into()))),
        Err(Refusal::WrongPassword) => Err(AppError::field(
            "password",
            "That is not your current password.",
        )),
        Err(Refusal::Admin) => Err(AppError::Forbidden(
            "An administrator account cannot delete itself: another administrator must change its role first."
                .into(),
        )),
        Err(Refusal::ActiveRequests(ids)) => Err(AppError::Conflict(format!(
            "Cancel or finish these open booking requests first: {}.",
            ids.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The account's latest erasure request.
#[utoipa::path(get, path = "/me/erasure", tag = "accounts", operation_id = "getErasure",
    security(("session" = [])),
    responses(
        (status = 200, description = "The latest request", body = Erasure),
        (status = 401, response = Problem),
        (status = 404, response = Problem),
    ))]
pub async fn get_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Erasure>, AppError> {
    let r = state
        .store
        .erasure_of(user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(r.into()))
}

/// Calls off the account's erasure during the grace period.
#[utoipa::path(delete, path = "/me/erasure", tag = "accounts", operation_id = "cancelErasure",
    security(("session" = [])),
    responses(
        (status = 200, description = "Called off", body = Erasure),
        (status = 401, response = Problem),
        (status = 404, response = Problem),
    ))]
pub async fn cancel_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
) -> Result<Json<Erasure>, AppError> {
    let mut r = erasure::cancel(&state, user.id, &origin)
        .await?
        .ok_or(AppError::NotFound)?;
    r.status = "cancelled".into();
    Ok(Json(r.into()))
}
