//! The one place errors become HTTP: an HTML page for browsers, problem+json for `/api`, and
//! internal errors logged exactly once. Bare error responses from axum or tower (rejections,
//! 405s, body limits, caught panics) are dressed the same way.

use crate::error::{ErrorReport, Problem};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;

/// Renders error responses and logs internal errors; see the module docs.
pub async fn render(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // A page's own script asking for JSON (the card form) reads errors as the API does.
    let is_api = request.uri().path().starts_with("/api/")
        || request.headers().get(axum::http::header::ACCEPT)
            == Some(&axum::http::HeaderValue::from_static("application/json"));
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
    let mut response = (report.status, axum::Json(Problem::of(report))).into_response();
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
