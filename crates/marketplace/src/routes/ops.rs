//! Operations endpoints: liveness, readiness (database and schema), Prometheus metrics, version and static assets.

use crate::error::AppError;
use crate::state::{AppState, BuildInfo};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// How long readiness waits for the database before calling it down.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live() -> impl IntoResponse {
    axum::Json(json!({ "status": "live" }))
}

/// 200 only when this instance should get traffic: not draining, database reachable, and every
/// migration this binary needs applied. Otherwise 503 with the reason.
pub async fn ready(State(state): State<AppState>) -> Response {
    let unavailable = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "reason": reason })),
        )
            .into_response()
    };
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "draining", "reason": "the instance is shutting down" })),
        )
            .into_response();
    }
    // Reading the migration table is the reachability check too: one round trip, not two.
    let status = match tokio::time::timeout(READY_DB_TIMEOUT, state.store.schema_status()).await {
        Err(_) => return unavailable("database did not answer within 2 s".into()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            return unavailable("database unreachable".into());
        }
        Ok(Ok(status)) => status,
    };
    if !status.is_compatible() {
        return unavailable(format!(
            "database schema is not compatible with this release: pending migrations {:?}, failed migrations {:?}",
            status.pending, status.dirty
        ));
    }
    axum::Json(json!({
        "status": "ready",
        "database": state.store.backend().as_str(),
        "schema_version": status.current,
    }))
    .into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    // A database outage must not hide the HTTP metrics, which matter most then.
    let bookings = match state.store.booking_counts().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: booking counts unavailable");
            Vec::new()
        }
    };
    let body = state.metrics.render(
        state.store.pool_stats(),
        &bookings,
        state.lifecycle.is_draining(),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response())
}

pub async fn version(State(state): State<AppState>) -> impl IntoResponse {
    let schema = state.store.schema_status().await.ok();
    axum::Json(json!({
        "version": BuildInfo::VERSION,
        "commit": BuildInfo::COMMIT,
        "build_time": BuildInfo::built_at(),
        "schema_version": schema.as_ref().and_then(|s| s.current),
        "expected_schema_version": schema.as_ref().map(|s| s.expected),
        "environment": state.settings.env.as_str(),
    }))
}

pub async fn static_asset(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let asset = state
        .assets
        .by_hashed_name(&file)
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response())
}
