//! The booking flow's JSON API: styles, artists, booking requests and their actions, sessions,
//! messages and reviews. The store checks ownership, so someone else's id answers 404.

use crate::auth::CurrentUser;
use crate::booking::{self, ActionInput, AppointmentInput, ReviewInput, SlotInput};
use crate::error::AppError;
use crate::routes::api::Json;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use domain::{
    AppointmentAction, AppointmentId, ArtistId, BookingAction, BookingId, RawRequest, Style,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use storage::{
    Appointment, ArtistProfile, BookingDetail, BookingRequest, BookingSummary, Message, Review,
};

/// A JSON body that may be left out entirely (for actions that carry no data).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        if !is_json {
            return Err(AppError::UnsupportedMediaType(
                "Send the body as JSON with Content-Type: application/json.".into(),
            ));
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            AppError::BadRequest(format!("The body is not valid JSON for this action: {e}"))
        })
    }
}

#[derive(Serialize)]
pub struct StyleView {
    slug: &'static str,
    label: &'static str,
}

pub async fn styles() -> Json<Vec<StyleView>> {
    Json(
        Style::ALL
            .iter()
            .map(|s| StyleView {
                slug: s.slug(),
                label: s.label(),
            })
            .collect(),
    )
}

#[derive(Serialize)]
pub struct ArtistList {
    artists: Vec<storage::SearchHit>,
    total: i64,
    page: u32,
    per_page: u32,
}

#[tracing::instrument(skip_all)]
pub async fn artists(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<crate::search::SearchParams>,
) -> Result<Json<ArtistList>, AppError> {
    let query = params.parse()?;
    let results = state.store.search_artists(&query).await?;
    state
        .metrics
        .engagement
        .with_label_values(&["search"])
        .inc();
    Ok(Json(ArtistList {
        artists: results.artists,
        total: results.total,
        page: query.page,
        per_page: query.per_page,
    }))
}

#[derive(Serialize)]
pub struct ArtistDetail {
    #[serde(flatten)]
    profile: ArtistProfile,
    reviews: Vec<Review>,
    portfolio: Vec<storage::PortfolioEntry>,
    flash: Vec<storage::FlashDesign>,
    guest_spots: Vec<storage::GuestSpotView>,
}

#[tracing::instrument(skip_all)]
pub async fn artist(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ArtistDetail>, AppError> {
    let id = ArtistId::new(id);
    let profile = state
        .store
        .artist_by_id(id)
        .await?
        .ok_or(AppError::NotFound)?;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (reviews, portfolio, flash, guest_spots) = tokio::try_join!(
        state.store.reviews_for_artist(id, 20),
        state.store.portfolio(id, 60),
        state.store.flash_for_artist(id, 60),
        state.store.guest_spots_for_artist(id, &today)
    )?;
    state
        .metrics
        .engagement
        .with_label_values(&["profile_view"])
        .inc();
    Ok(Json(ArtistDetail {
        profile,
        reviews,
        portfolio,
        flash,
        guest_spots,
    }))
}

#[derive(Deserialize)]
pub struct NewRequestInput {
    artist_id: i64,
    #[serde(flatten)]
    request: RawRequest,
}

#[tracing::instrument(skip_all)]
pub async fn create_request(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(input): Json<NewRequestInput>,
) -> Result<(StatusCode, Json<BookingRequest>), AppError> {
    let artist = state
        .store
        .artist_by_id(ArtistId::new(input.artist_id))
        .await?
        .ok_or(AppError::NotFound)?;
    let req = booking::submit(&state, &user, &artist, &input.request, vec![]).await?;
    Ok((StatusCode::CREATED, Json(req)))
}

#[tracing::instrument(skip_all)]
pub async fn list_requests(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<BookingSummary>>, AppError> {
    Ok(Json(state.store.bookings_for(user.id).await?))
}

#[tracing::instrument(skip_all)]
pub async fn get_request(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<BookingDetail>, AppError> {
    let detail = state.store.booking(BookingId::new(id), user.id).await?;
    detail.map(Json).ok_or(AppError::NotFound)
}

/// A request the user takes part in; anyone else's id (or a missing one) is 404.
pub(crate) async fn visible_booking(
    state: &AppState,
    id: BookingId,
    user: &storage::User,
) -> Result<BookingDetail, AppError> {
    state
        .store
        .booking(id, user.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Runs one booking action for `user`; shared with the pages.
pub async fn run_booking_action(
    state: &AppState,
    user: &storage::User,
    id: BookingId,
    action: &str,
    input: ActionInput,
) -> Result<BookingRequest, AppError> {
    let action = BookingAction::parse(action).map_err(|_| AppError::NotFound)?;
    // Read first, so a stranger's probe is a 404 before any input is judged.
    let detail = visible_booking(state, id, user).await?;
    let artist = state
        .store
        .artist_by_id(detail.request.artist_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let change = booking::booking_change(action, input, &artist.policy)?;
    let req = state
        .store
        .change_booking(id, user.id, change, booking::now())
        .await?;
    state
        .metrics
        .transitions
        .with_label_values(&[action.as_str()])
        .inc();
    Ok(req)
}

#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn request_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, action)): Path<(i64, String)>,
    OptionalJson(input): OptionalJson<ActionInput>,
) -> Result<Json<BookingRequest>, AppError> {
    run_booking_action(&state, &user, BookingId::new(id), &action, input)
        .await
        .map(Json)
}

#[tracing::instrument(skip_all)]
pub async fn schedule(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<SlotInput>,
) -> Result<(StatusCode, Json<Appointment>), AppError> {
    let ap = run_schedule(&state, &user, BookingId::new(id), &input).await?;
    Ok((StatusCode::CREATED, Json(ap)))
}

/// Refuses a slot outside the working week of the request's artist.
async fn check_slot(
    state: &AppState,
    detail: &BookingDetail,
    slot: &domain::Slot,
) -> Result<(), AppError> {
    let artist = state
        .store
        .artist_by_id(detail.request.artist_id)
        .await?
        .ok_or(AppError::NotFound)?;
    booking::check_availability(&artist.availability, &artist.time_zone, slot)
}

/// Schedules a session on a booked request for `user`; shared with the pages.
pub async fn run_schedule(
    state: &AppState,
    user: &storage::User,
    id: BookingId,
    input: &SlotInput,
) -> Result<Appointment, AppError> {
    let detail = visible_booking(state, id, user).await?;
    let slot = input.slot(&detail.request.time_zone)?;
    check_slot(state, &detail, &slot).await?;
    let ap = state
        .store
        .schedule(id, user.id, slot, booking::now())
        .await?;
    state
        .metrics
        .transitions
        .with_label_values(&["schedule"])
        .inc();
    Ok(ap)
}

/// Runs one session action for `user`; shared with the pages.
pub async fn run_appointment_action(
    state: &AppState,
    user: &storage::User,
    id: AppointmentId,
    action: &str,
    input: AppointmentInput,
    headers: &HeaderMap,
) -> Result<Appointment, AppError> {
    let action = AppointmentAction::parse(action).map_err(|_| AppError::NotFound)?;
    let booking_id = state
        .store
        .appointment_booking(id)
        .await?
        .ok_or(AppError::NotFound)?;
    let detail = visible_booking(state, booking_id, user).await?;
    let ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .or_else(|| {
            headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "direct".to_owned());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let change = booking::appointment_change(
        action,
        input,
        detail.request.needs_guardian,
        &detail.request.time_zone,
        ip,
        user_agent,
    )?;
    if let storage::AppointmentChange::Reschedule(slot) = &change {
        check_slot(state, &detail, slot).await?;
    }
    let ap = state
        .store
        .change_appointment(id, user.id, change, booking::now())
        .await?;
    state
        .metrics
        .transitions
        .with_label_values(&[action.as_str()])
        .inc();
    Ok(ap)
}

#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn appointment_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    OptionalJson(input): OptionalJson<AppointmentInput>,
) -> Result<Json<Appointment>, AppError> {
    run_appointment_action(
        &state,
        &user,
        AppointmentId::new(id),
        &action,
        input,
        &headers,
    )
    .await
    .map(Json)
}

#[tracing::instrument(skip_all)]
pub async fn messages(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Message>>, AppError> {
    Ok(Json(
        state.store.messages(BookingId::new(id), user.id).await?,
    ))
}

#[derive(Deserialize, Default)]
pub struct MessageInput {
    #[serde(default)]
    body: String,
}

#[tracing::instrument(skip_all)]
pub async fn post_message(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<MessageInput>,
) -> Result<(StatusCode, Json<Message>), AppError> {
    let m = run_post_message(&state, &user, BookingId::new(id), &input.body).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// Posts a message to a request's thread for `user`; shared with the pages.
pub async fn run_post_message(
    state: &AppState,
    user: &storage::User,
    id: BookingId,
    body: &str,
) -> Result<Message, AppError> {
    visible_booking(state, id, user).await?;
    let body = booking::message_body(body)?;
    let m = state
        .store
        .post_message(id, user.id, body, booking::now())
        .await?;
    state
        .metrics
        .engagement
        .with_label_values(&["message"])
        .inc();
    Ok(m)
}

#[tracing::instrument(skip_all)]
pub async fn create_review(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(input): Json<ReviewInput>,
) -> Result<(StatusCode, Json<Review>), AppError> {
    let id = BookingId::new(input.booking_id.ok_or_else(|| {
        AppError::Validation(vec![crate::error::FieldError {
            field: "booking_id".into(),
            message: "name the booking you are reviewing".into(),
        }])
    })?);
    let review = run_review(&state, &user, id, &input).await?;
    Ok((StatusCode::CREATED, Json(review)))
}

/// Publishes the client's review of a completed request; shared with the pages.
pub async fn run_review(
    state: &AppState,
    user: &storage::User,
    id: BookingId,
    input: &ReviewInput,
) -> Result<Review, AppError> {
    visible_booking(state, id, user).await?;
    let (rating, body) = input.parse()?;
    let review = state
        .store
        .create_review(id, user.id, rating, body, booking::now())
        .await?;
    state
        .metrics
        .transitions
        .with_label_values(&["review"])
        .inc();
    Ok(review)
}
