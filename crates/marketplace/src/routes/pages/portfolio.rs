//! The artist's work pages: the portfolio (upload, delete), flash designs and guest spots, and
//! the healed photo a client shares from a completed request.

use crate::auth::csrf::{CsrfForm, CsrfMultipart};
use crate::auth::session::Authorized;
use crate::auth::{ArtistUser, CurrentUser};
use crate::error::{AppError, FieldError};
use crate::routes::pages::bookings::after_form;
use crate::routes::pages::{confirm, render, signed_in_layout};
use crate::services::portfolio::{self, GuestSpotInput, own_profile};
use crate::state::AppState;
use crate::templates::portfolio::{FlashPage, PortfolioPage};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::BookingId;
use storage::User;
use tower_sessions::Session;

fn status_for(errors: &[FieldError]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

async fn portfolio_page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let profile = own_profile(state, user).await?;
    let pieces = state.store.portfolio(profile.id, 500).await?;
    let layout = signed_in_layout(state, session, user).await?;
    let page = PortfolioPage::new(layout, profile, pieces, errors);
    Ok((status_for(&page.errors), render(page)?).into_response())
}

async fn flash_page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let profile = own_profile(state, user).await?;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (designs, spots, studios) = tokio::try_join!(
        state.store.flash_for_artist(profile.id, 500),
        state.store.guest_spots_for_artist(profile.id, &today),
        state.store.studios()
    )?;
    let status = status_for(&errors);
    let layout = signed_in_layout(state, session, user).await?;
    let page = FlashPage::new(layout, profile, designs, spots, studios, errors);
    Ok((status, render(page)?).into_response())
}

/// After a form on the portfolio or flash page: to `to` with `done` confirmed on success, the
/// page with the problems otherwise.
async fn after<F, Fut>(
    session: &Session,
    result: Result<(), AppError>,
    (to, done): (&str, &str),
    page: F,
) -> Result<Response, AppError>
where
    F: FnOnce(Vec<FieldError>) -> Fut,
    Fut: std::future::Future<Output = Result<Response, AppError>>,
{
    match result {
        Ok(()) => {
            confirm(session, done).await?;
            Ok(Redirect::to(to).into_response())
        }
        Err(AppError::Validation(errors)) => page(errors).await,
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all)]
pub async fn portfolio(
    State(state): State<AppState>,
    session: Session,
    Authorized(user, _): ArtistUser,
) -> Result<Response, AppError> {
    portfolio_page(&state, &session, &user, vec![]).await
}

#[tracing::instrument(skip_all)]
pub async fn upload(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    let result = portfolio::add_piece(&state, &user, &form.fields, form.files).await;
    let done = ("/dashboard/portfolio", "Piece added to your portfolio.");
    after(&form.session, result, done, |errors| {
        portfolio_page(&state, &form.session, &user, errors)
    })
    .await
}

#[derive(serde::Deserialize)]
pub struct Empty {}

#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    portfolio::delete_piece(&state, &user, id).await?;
    confirm(&session, "Piece deleted.").await?;
    Ok(Redirect::to("/dashboard/portfolio").into_response())
}

/// A client shares a photo of their healed tattoo; it joins the artist's healed work.
#[tracing::instrument(skip_all)]
pub async fn healed_photo(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = portfolio::share_healed_photo(&state, &user, id, &form.fields, form.files).await;
    let done = "Photo shared. Thank you for showing how it healed.";
    after_form(&state, &form.session, &user, id, result, done).await
}

#[tracing::instrument(skip_all)]
pub async fn flash(
    State(state): State<AppState>,
    session: Session,
    Authorized(user, _): ArtistUser,
) -> Result<Response, AppError> {
    flash_page(&state, &session, &user, vec![]).await
}

#[tracing::instrument(skip_all)]
pub async fn upload_flash(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    let result = portfolio::add_flash(&state, &user, &form.fields, form.files).await;
    let done = (
        "/dashboard/flash",
        "Flash design added. Clients can book it by size.",
    );
    after(&form.session, result, done, |errors| {
        flash_page(&state, &form.session, &user, errors)
    })
    .await
}

#[tracing::instrument(skip_all)]
pub async fn delete_flash(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    portfolio::delete_flash(&state, &user, id).await?;
    confirm(&session, "Flash design deleted.").await?;
    Ok(Redirect::to("/dashboard/flash").into_response())
}

#[derive(serde::Deserialize)]
pub struct GuestSpotForm {
    #[serde(default)]
    studio: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    time_zone: String,
}

#[tracing::instrument(skip_all)]
pub async fn add_guest_spot(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    CsrfForm { form, session }: CsrfForm<GuestSpotForm>,
) -> Result<Response, AppError> {
    let input = GuestSpotInput {
        studio: &form.studio,
        starts_on: &form.starts_on,
        ends_on: &form.ends_on,
        time_zone: &form.time_zone,
    };
    let result = portfolio::add_guest_spot(&state, &user, input).await;
    let done = ("/dashboard/flash", "Guest spot added to your profile.");
    after(&session, result, done, |errors| {
        flash_page(&state, &session, &user, errors)
    })
    .await
}

#[tracing::instrument(skip_all)]
pub async fn delete_guest_spot(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    state.store.delete_guest_spot(user.id, id).await?;
    confirm(&session, "Guest spot removed.").await?;
    Ok(Redirect::to("/dashboard/flash").into_response())
}
