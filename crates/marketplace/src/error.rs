//! The one place errors become HTTP: an HTML page for browsers, problem+json for `/api`.
//!
//! Handlers return `AppError`, which only records what went wrong in a response extension. The
//! `render` middleware turns that, or any bare error response from axum or tower, into the body
//! the caller expects, and logs internal errors exactly once.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
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

/// Renders error responses and logs internal errors; see the module docs.
pub async fn render(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let report = match response.extensions().get::<ErrorReport>() {
        Some(r) => r.clone(),
        None if has_rendered_body(&response) => return response,
        None => bare_report(response).await,
    };
    if let Some(internal) = &report.internal {
        tracing::error!(error = format!("{internal:#}"), "request failed");
    }
    if report.status == StatusCode::UNAUTHORIZED && !is_api {
        return Redirect::to(&format!("/sign-in?next={}", encode_next(&path_and_query)))
            .into_response();
    }
    let mut response = if is_api {
        problem_json(&report)
    } else {
        let mut response = Html(crate::templates::error_page(&report, &state)).into_response();
        *response.status_mut() = report.status;
        response
    };
    if let Some(secs) = report.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn problem_json(report: &ErrorReport) -> Response {
    let title = report.status.canonical_reason().unwrap_or("Error");
    let body = Problem {
        kind: "about:blank",
        title,
        status: report.status.as_u16(),
        detail: &report.detail,
        errors: &report.errors,
    };
    let mut response = (report.status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Responses our own handlers already rendered (readiness JSON, for example) pass through.
fn has_rendered_body(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.contains("json"))
}

/// Builds a report for error responses made outside our handlers: axum's extractor rejections,
/// 405s, body-limit 413s and caught panics. Their plain-text body is a useful 4xx detail; a 5xx
/// body is never shown.
async fn bare_report(response: Response) -> ErrorReport {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty());
    let detail = match (status, text) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "The request body is too large.".to_owned(),
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            "This address does not accept that method.".to_owned()
        }
        (s, Some(t)) if s.is_client_error() => t,
        (s, None) if s.is_client_error() => {
            s.canonical_reason().unwrap_or("Request failed").to_owned()
        }
        _ => "Something went wrong on our side. It has been logged; please try again.".to_owned(),
    };
    let internal = status.is_server_error().then(|| {
        Arc::new(anyhow::anyhow!(
            "{status} produced outside a handler (panic or middleware)"
        ))
    });
    ErrorReport {
        status,
        detail,
        errors: vec![],
        internal,
        retry_after: None,
    }
}

fn encode_next(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Turns a caught panic into a plain 500 that `render` then dresses; the panic itself is logged.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    let report = ErrorReport {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        detail: "Something went wrong on our side. It has been logged; please try again.".into(),
        errors: vec![],
        internal: Some(Arc::new(anyhow::anyhow!("handler panicked: {message}"))),
        retry_after: None,
    };
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(report);
    response
}
