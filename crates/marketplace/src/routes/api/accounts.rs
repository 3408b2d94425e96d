//! The accounts API: registration, the session, the signed-in account and the admin overview.

use crate::auth::session::{sign_in as start_session, sign_out as end_session};
use crate::auth::{AdminUser, CurrentUser};
use crate::client_ip::Origin;
use crate::error::{AppError, Problem};
use crate::routes::api::Json;
use crate::routes::api::types::{CatalogueCounts, User};
use crate::services::accounts::{self, Registration, SIGN_IN_FAILED};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tower_sessions::Session;

/// What registration answers, whether or not the address already had an account.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RegistrationAccepted {
    /// Always `verification_sent`.
    status: &'static str,
    /// What happens next, for a person.
    detail: &'static str,
}

/// Creates an account and emails a link to confirm the address. The answer is the same when the
/// address already has an account (its owner is emailed instead), so it reveals nothing; sign in
/// with the password to browse, and confirm the address to send booking requests.
#[utoipa::path(post, path = "/accounts", tag = "accounts", operation_id = "register",
    request_body = Registration,
    responses(
        (status = 202, description = "Accepted: a confirmation email is on its way", body = RegistrationAccepted),
        (status = 400, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    origin: Origin,
    Json(input): Json<Registration>,
) -> Result<(StatusCode, Json<RegistrationAccepted>), AppError> {
    accounts::register(&state, input, &origin).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RegistrationAccepted {
            status: "verification_sent",
            detail: "Check your inbox for a link to confirm your email address.",
        }),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// For accounts with two-factor sign-in: the authenticator app's current code, or a
    /// recovery code.
    #[serde(default)]
    totp_code: Option<String>,
}

/// Signs in; the session cookie carries the session from then on.
#[utoipa::path(post, path = "/auth/session", tag = "accounts", operation_id = "signIn",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in (the session cookie is set)", body = User),
        (status = 400, response = Problem), (status = 403, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Json(input): Json<SignIn>,
) -> Result<Json<User>, AppError> {
    let user = accounts::authenticate(&state, &input.email, &input.password, &origin)
        .await?
        .ok_or_else(|| AppError::Forbidden(SIGN_IN_FAILED.into()))?;
    if user.two_factor {
        let code = input.totp_code.as_deref().unwrap_or_default();
        let message = if code.is_empty() {
            "This account uses two-factor sign-in: send the authenticator app's code as totp_code."
        } else {
            "That code is not valid, or has been used. Try the next one."
        };
        if code.is_empty() || !accounts::second_factor(&state, &user, code, &origin).await? {
            return Err(AppError::Validation(vec![crate::error::FieldError {
                field: "totp_code".into(),
                message: message.into(),
            }]));
        }
    }
    accounts::signed_in(&state, &user, &origin, "password").await?;
    start_session(&session, &user).await?;
    Ok(Json(user.into()))
}

/// Ends the session.
#[utoipa::path(delete, path = "/auth/session", tag = "accounts", operation_id = "signOut",
    security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn sign_out(session: Session, _user: CurrentUser) -> Result<StatusCode, AppError> {
    end_session(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/me", tag = "accounts", operation_id = "me",
    security(("session" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = User),
        (status = 401, response = Problem),
    ))]
pub async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user.into())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    counts: CatalogueCounts,
    /// Requests per state.
    bookings: std::collections::BTreeMap<&'static str, i64>,
}

/// Catalogue and booking counts, for administrators.
#[utoipa::path(get, path = "/admin/overview", tag = "accounts", operation_id = "adminOverview",
    security(("session" = [])),
    responses(
        (status = 200, description = "Catalogue and booking counts", body = Overview),
        (status = 401, response = Problem), (status = 403, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn admin_overview(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Overview>, AppError> {
    let (counts, bookings) =
        tokio::try_join!(state.store.catalogue_counts(), state.store.booking_counts())?;
    Ok(Json(Overview {
        counts: counts.into(),
        bookings: bookings.into_iter().map(|(s, n)| (s.as_str(), n)).collect(),
    }))
}
