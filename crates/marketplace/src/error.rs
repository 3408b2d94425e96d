//! What can go wrong in a request, and the report each error leaves in its response.
//!
//! Handlers return `AppError`, which only records what went wrong in a response extension;
//! `routes::render` turns that into the body the caller expects (an HTML page or problem+json).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// A field-level validation message, shown next to the form field or in `errors` of problem+json.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<domain::ParseError> for FieldError {
    fn from(e: domain::ParseError) -> Self {
        Self {
            field: e.field.to_owned(),
            message: e.message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("sign in required")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("conflict: {0}")]
    Conflict(String),
    /// It existed and was deleted on purpose (an expired download): 410.
    #[error("gone: {0}")]
    Gone(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Too much of some bounded work is in flight (or one client sent too much): retry later.
    #[error("busy: {message}")]
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<storage::StoreError> for AppError {
    fn from(e: storage::StoreError) -> Self {
        match e {
            storage::StoreError::NotFound => AppError::NotFound,
            storage::StoreError::Conflict(m) => AppError::Conflict(m.to_owned()),
            storage::StoreError::Refused(m) => AppError::Conflict(m),
            storage::StoreError::WrongParty(m) => AppError::Forbidden(m),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("session store: {e}"))
    }
}

/// What the renderer needs to know about a failed request.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Only for logs: never sent to the client.
    pub internal: Option<Arc<anyhow::Error>>,
    /// Sent as `Retry-After` (seconds) with 429 and 503.
    pub retry_after: Option<u64>,
}

impl AppError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    fn report(self) -> ErrorReport {
        let mut retry_after = None;
        let (status, detail, errors, internal) = match self {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "There is nothing at this address.".to_owned(),
                vec![],
                None,
            ),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in to continue. If you were signed in, your session has expired.".to_owned(),
                vec![],
                None,
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m, vec![], None),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m, vec![], None),
            AppError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large.".to_owned(),
                vec![],
                None,
            ),
            AppError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, m, vec![], None)
            }
            AppError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Some fields need attention.".to_owned(),
                errors,
                None,
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m, vec![], None),
            AppError::Gone(m) => (StatusCode::GONE, m, vec![], None),
            AppError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m, vec![], None),
            AppError::Busy {
                message,
                retry_after_secs,
            } => {
                retry_after = Some(retry_after_secs);
                (StatusCode::TOO_MANY_REQUESTS, message, vec![], None)
            }
            AppError::Internal(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. It has been logged; please try again."
                    .to_owned(),
                vec![],
                Some(Arc::new(e)),
            ),
        };
        ErrorReport {
            status,
            detail,
            errors,
            internal,
            retry_after,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let report = self.report();
        let mut response = report.status.into_response();
        response.extensions_mut().insert(report);
        response
    }
}

/// The body of every API error: RFC 9457 problem details.
#[derive(Serialize, utoipa::ToSchema, utoipa::ToResponse)]
#[response(
    description = "An error, as RFC 9457 problem details",
    content_type = "application/problem+json"
)]
pub struct Problem<'a> {
    /// Always `about:blank`: the status and title say what went wrong.
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    /// What happened and what to do about it, for a person.
    detail: &'a str,
    /// One entry per field that needs attention (422 only).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl<'a> Problem<'a> {
    /// The problem details of `report`.
    pub fn of(report: &'a ErrorReport) -> Self {
        Problem {
            kind: "about:blank",
            title: report.status.canonical_reason().unwrap_or("Error"),
            status: report.status.as_u16(),
            detail: &report.detail,
            errors: &report.errors,
        }
    }
}
