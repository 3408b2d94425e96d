//! The JSON API under `/api/v1`: accounts, session and the admin overview. Errors are problem+json.

use crate::accounts::{self, Registration, SIGN_IN_FAILED};
use crate::auth::session::{sign_in as start_session, sign_out as end_session};
use crate::auth::{AdminUser, CurrentUser};
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use storage::{CatalogueCounts, User};
use tower_sessions::Session;

/// `axum::Json` whose rejections are our problem+json errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
                "Send the body as JSON with Content-Type: application/json.".into(),
            ),
            JsonRejection::JsonDataError(e) => {
                AppError::Validation(vec![crate::error::FieldError {
                    field: "body".into(),
                    message: e.body_text(),
                }])
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
            other => AppError::BadRequest(other.body_text()),
        }
    }
}

/// The OpenAPI 3 description of this API, for clients and for schemathesis (DAST in CI).
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi/openapi.json"),
    )
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    session: Session,
    Json(input): Json<Registration>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let user = accounts::register(&state, input)
        .await
        .map_err(|e| match e {
            AppError::Validation(errors)
                if errors.iter().any(|f| f.message.contains("already exists")) =>
            {
                AppError::Conflict("An account with this email already exists.".into())
            }
            other => other,
        })?;
    start_session(&session, user.id).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    Json(input): Json<SignIn>,
) -> Result<Json<User>, AppError> {
    let user = accounts::authenticate(&state, &input.email, &input.password)
        .await?
        .ok_or_else(|| AppError::Forbidden(SIGN_IN_FAILED.into()))?;
    start_session(&session, user.id).await?;
    Ok(Json(user))
}

#[tracing::instrument(skip_all)]
pub async fn sign_out(
    session: Session,
    CurrentUser(_): CurrentUser,
) -> Result<StatusCode, AppError> {
    end_session(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}

#[derive(Serialize)]
pub struct Overview {
    counts: CatalogueCounts,
    bookings: std::collections::BTreeMap<&'static str, i64>,
}

#[tracing::instrument(skip_all)]
pub async fn admin_overview(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Overview>, AppError> {
    let (counts, bookings) =
        tokio::try_join!(state.store.catalogue_counts(), state.store.booking_counts())?;
    Ok(Json(Overview {
        counts,
        bookings: bookings.into_iter().map(|(s, n)| (s.as_str(), n)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    /// The OpenAPI document is written by hand, so this keeps it honest: every route the API
    /// router declares must be described (the fuzzing in CI only reaches described routes).
    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let router = include_str!("mod.rs");
        let start = router
            .find("let api = Router::new()")
            .expect("the API router");
        let end = start
            + router[start..]
                .find(".fallback(api::not_found)")
                .expect("its end");
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi/openapi.json")).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let mut checked = 0;
        for chunk in router[start..end].split(".route(").skip(1) {
            let route = chunk.trim_start().trim_start_matches('"');
            let route = &route[..route.find('"').expect("a quoted path")];
            if route == "/openapi.json" {
                continue;
            }
            // axum's `{id}` and OpenAPI's `{id}` are spelled alike.
            let documented = format!("/api/v1{route}");
            assert!(
                paths.contains_key(&documented),
                "{documented} is not in openapi.json"
            );
            checked += 1;
        }
        assert!(
            checked >= 15,
            "found only {checked} routes: is the router still parsed?"
        );
    }
}
