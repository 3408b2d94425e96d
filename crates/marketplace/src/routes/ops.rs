//! Operations endpoints: liveness, readiness (database and schema), Prometheus metrics, version and static assets.

use crate::error::AppError;
use crate::state::{AppState, BuildInfo};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

/// How long readiness waits for the database before calling it down.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/health/live` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    #[schema(inline, value_type = String, example = "live")]
    status: &'static str,
}

#[utoipa::path(get, path = "/health/live", tag = "operations", operation_id = "live",
    responses((status = 200, description = "The process is running", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "live" })
}

/// Whether this instance should get traffic, and why not.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `draining` or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<i64>,
}

impl Readiness {
    fn not_ready(status: &'static str, reason: String) -> Response {
        let body = Readiness {
            status,
            reason: Some(reason),
            database: None,
            schema_version: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// 200 only when this instance should get traffic: not draining, database reachable, and every
/// migration this binary needs applied. Otherwise 503 with the reason.
#[utoipa::path(get, path = "/health/ready", tag = "operations", operation_id = "ready",
    responses(
        (status = 200, description = "Ready: database reachable, schema compatible, not draining", body = Readiness),
        (status = 503, description = "Not ready, with the reason", body = Readiness),
    ))]
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_draining() {
        return Readiness::not_ready("draining", "the instance is shutting down".into());
    }
    let unavailable = |reason: String| Readiness::not_ready("unavailable", reason);
    // Reading the migration table is the reachability check too: one round trip, not two.
    let status = match tokio::time::timeout(READY_DB_TIMEOUT, state.store.schema_status()).await {
        Err(_) => {
            state.metrics.database_unreachable.inc();
            return unavailable("database did not answer within 2 s".into());
        }
        Ok(Err(e)) => {
            state.metrics.database_unreachable.inc();
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
    Json(Readiness {
        status: "ready",
        reason: None,
        database: Some(state.store.backend().as_str()),
        schema_version: status.current,
    })
    .into_response()
}

/// Whether the request comes from an operator: it carries `server.operator_token` as a bearer
/// token, or no token is configured and this is development.
fn is_operator(state: &AppState, headers: &HeaderMap) -> bool {
    use secrecy::ExposeSecret;
    match &state.settings.server.operator_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| {
                constant_time_eq::constant_time_eq(
                    given.trim().as_bytes(),
                    token.expose_secret().as_bytes(),
                )
            }),
        None => !state.settings.env.is_strict(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    security((), ("operator" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain", body = String),
        (status = 404, description = "Not an operator: the bearer token is missing or wrong, \
            or none is configured outside development")))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !is_operator(&state, &headers) {
        return Err(AppError::NotFound);
    }
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

/// The running build. Everyone sees the version; operators also the commit, build time,
/// environment and database schema.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'static str>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    build_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_schema_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'static str>,
}

#[utoipa::path(get, path = "/version", tag = "operations", operation_id = "version",
    security((), ("operator" = [])),
    responses((status = 200, description = "Build and schema version", body = VersionInfo)))]
pub async fn version(State(state): State<AppState>, headers: HeaderMap) -> Json<VersionInfo> {
    if !is_operator(&state, &headers) {
        return Json(VersionInfo {
            version: BuildInfo::VERSION,
            commit: None,
            build_time: None,
            schema_version: None,
            expected_schema_version: None,
            environment: None,
        });
    }
    let schema = state.store.schema_status().await.ok();
    Json(VersionInfo {
        version: BuildInfo::VERSION,
        commit: Some(BuildInfo::COMMIT),
        build_time: Some(BuildInfo::built_at()),
        schema_version: schema.as_ref().and_then(|s| s.current),
        expected_schema_version: schema.as_ref().map(|s| s.expected),
        environment: Some(state.settings.env.as_str()),
    })
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

/// 404 for addresses that match no route; 400 for those with no canonical spelling.
pub async fn not_found(
    rejected: Option<axum::Extension<crate::canonical::RejectedPath>>,
) -> crate::error::AppError {
    match rejected {
        Some(axum::Extension(crate::canonical::RejectedPath(why))) => {
            crate::error::AppError::BadRequest(why.to_string())
        }
        None => crate::error::AppError::NotFound,
    }
}
