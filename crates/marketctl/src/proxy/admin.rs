//! The admin API (loopback only, bearer token): routes, instances, sliding-window metrics.

use super::Shared;
use super::routes::RouteSpec;
use super::supervisor::{InstanceSpec, SupervisorError};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    let protected = Router::new()
        .route("/v1/state", get(state))
        .route("/v1/routes", put(replace_routes).get(routes))
        .route("/v1/instances", axum::routing::post(start_instance))
        .route("/v1/instances/{id}", get(instance).delete(stop_instance))
        .route("/v1/window/{version}", get(window))
        .route("/v1/markers", axum::routing::post(record_marker))
        .route_layer(middleware::from_fn_with_state(shared.clone(), authorize));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .merge(protected)
        .with_state(shared)
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(json!({ "status": status.as_u16(), "title": status.canonical_reason(), "detail": detail.into() })),
    )
        .into_response()
}

async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty()
        || !constant_time_eq::constant_time_eq(presented.as_bytes(), shared.token.as_bytes())
    {
        return problem(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer TOKEN)",
        );
    }
    next.run(request).await
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<crate::wire::AgentState> {
    Json(crate::wire::AgentState {
        routes: (*shared.routes.snapshot()).clone(),
        instances: shared.supervisor.list(),
    })
}

async fn routes(State(shared): State<Arc<Shared>>) -> Json<RouteSpec> {
    Json((*shared.routes.snapshot()).clone())
}

async fn replace_routes(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<RouteSpec>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(spec) = match body {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match shared.routes.replace(spec) {
        Ok(()) => {
            shared.save();
            Json((*shared.routes.snapshot()).clone()).into_response()
        }
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn start_instance(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<InstanceSpec>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(spec) = match body {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match shared.supervisor.start(spec) {
        Ok(view) => {
            shared.save();
            (StatusCode::CREATED, Json(view)).into_response()
        }
        Err(e @ (SupervisorError::Exists(_) | SupervisorError::PortTaken(..))) => {
            problem(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn instance(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.supervisor.get(&id) {
        Some(view) => Json(view).into_response(),
        None => problem(StatusCode::NOT_FOUND, format!("no instance {id:?}")),
    }
}

#[derive(serde::Deserialize)]
struct StopQuery {
    /// `false`: answer 202 at once and let the instance drain in the agent, up to its own
    /// deadline (an abort must not wait on a bad release's hung requests).
    #[serde(default = "yes")]
    wait: bool,
}

fn yes() -> bool {
    true
}

/// Stops an instance after it has left the routes, so no request can reach a stopping process.
async fn stop_instance(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Response {
    if shared.routes.snapshot().routes_to(&id) {
        return problem(
            StatusCode::CONFLICT,
            format!("instance {id:?} still receives traffic; remove it from the routes first"),
        );
    }
    if shared.supervisor.get(&id).is_none() {
        return problem(StatusCode::NOT_FOUND, format!("no instance {id:?}"));
    }
    if !q.wait {
        tokio::spawn(async move {
            if shared.supervisor.stop(&id).await.is_ok() {
                shared.save();
            }
        });
        return StatusCode::ACCEPTED.into_response();
    }
    match shared.supervisor.stop(&id).await {
        Ok(()) => {
            shared.save();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => problem(StatusCode::NOT_FOUND, e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct WindowQuery {
    #[serde(default = "default_seconds")]
    seconds: u64,
}

fn default_seconds() -> u64 {
    30
}

async fn window(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    Query(q): Query<WindowQuery>,
) -> Response {
    Json(shared.metrics.window(&version, q.seconds)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render() + &shared.markers.render(),
    )
        .into_response()
}

/// A deploy or rollback ended: counted in `/metrics` under its version and outcome.
async fn record_marker(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<super::markers::DeployMarker>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(marker) = match body {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if let Some(why) = marker.problem() {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, why);
    }
    shared.markers.record(&marker);
    tracing::info!(environment = %marker.environment, action = %marker.action, outcome = %marker.outcome, version = %marker.version, "deploy marker");
    StatusCode::NO_CONTENT.into_response()
}
