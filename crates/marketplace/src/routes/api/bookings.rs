//! The booking API: booking requests and their actions, sessions, messages and reviews. The store checks ownership, so someone else's id answers 404.

use crate::auth::CurrentUser;
use crate::error::{AppError, Problem};
use crate::routes::api::types::{
    Appointment, BookingDetail, BookingRequest, BookingSummary, Message, Review, all,
};
use crate::routes::api::{Json, OptionalJson};
use crate::services::booking::input::{
    ActionInput, AppointmentInput, ReviewInput, SlotInput, raw_request,
};
use crate::services::booking::{self, Origin};
use crate::state::AppState;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use domain::{AppointmentAction, AppointmentId, ArtistId, BookingAction, BookingId, RawRequest};
use serde::Deserialize;

/// The path of a request's transition: `/booking-requests/{id}/{action}`.
#[derive(Deserialize)]
pub struct RequestActionPath {
    id: i64,
    action: String,
}

impl utoipa::IntoParams for RequestActionPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let names = BookingAction::ALL
            .into_iter()
            .filter(|a| a.actor() != domain::Actor::System)
            .map(BookingAction::as_str);
        vec![
            id_parameter("The request's id"),
            action_parameter(
                names,
                "quote, revise-quote, withdraw-quote (until the client accepts), decline, \
                 request-info and deposit-paid are the artist's; accept, withdraw and \
                 provide-info are the client's",
            ),
        ]
    }
}

/// The path of a session's transition: `/appointments/{id}/{action}`.
#[derive(Deserialize)]
pub struct AppointmentActionPath {
    id: i64,
    action: String,
}

impl utoipa::IntoParams for AppointmentActionPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let names = AppointmentAction::ALL
            .into_iter()
            .map(AppointmentAction::as_str);
        vec![
            id_parameter("The session's id"),
            action_parameter(
                names,
                "consent is the client's; complete and no-show are the artist's; cancel and \
                 reschedule are either party's",
            ),
        ]
    }
}

fn id_parameter(description: &str) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(description))
        .schema(Some(<i64 as utoipa::PartialSchema>::schema()))
        .build()
}

fn action_parameter<'a>(
    names: impl Iterator<Item = &'a str>,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Type};
    ParameterBuilder::new()
        .name("action")
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        ))
        .build()
}

/// A client's booking request to one artist.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewRequestInput {
    artist_id: i64,
    #[serde(flatten)]
    request: RawRequest,
}

/// Sends a booking request. The artist's jurisdiction and minimum age decide whether it is allowed.
#[utoipa::path(post, path = "/booking-requests", tag = "bookings", operation_id = "createBookingRequest",
    security(("session" = [])),
    request_body(content(
        (NewRequestInput = "application/json"),
        (NewRequestUpload = "multipart/form-data"),
    ), description = "The request as JSON, or as a multipart form with reference images"),
    responses(
        (status = 201, description = "The request, submitted", body = BookingRequest),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 401, response = Problem), (status = 404, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn create_request(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    request: Request,
) -> Result<(StatusCode, Json<BookingRequest>), AppError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (artist_id, raw, files) = if is_multipart {
        let upload = crate::auth::csrf::Upload::from_request(request, &state).await?;
        let artist_id = upload
            .fields
            .get("artist_id")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                AppError::Validation(vec![crate::error::FieldError {
                    field: "artist_id".into(),
                    message: "name the artist by their numeric id".into(),
                }])
            })?;
        (artist_id, raw_request(&upload.fields), upload.files)
    } else {
        let Json(input) = Json::<NewRequestInput>::from_request(request, &state).await?;
        (input.artist_id, input.request, Vec::new())
    };
    let artist = state
        .store
        .artist_by_id(ArtistId::new(artist_id))
        .await?
        .ok_or(AppError::NotFound)?;
    let req = booking::submit_with_references(&state, &user, &artist, &raw, files).await?;
    Ok((StatusCode::CREATED, Json(req.into())))
}

// Only describes the multipart body in the OpenAPI document: `create_request` reads the parts
// itself, to check each file as it arrives.
/// A booking request with reference images, as `multipart/form-data`: the JSON body's fields as
/// text parts, and up to four image files in `references`.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NewRequestUpload {
    artist_id: i64,
    #[serde(flatten)]
    request: RawRequest,
    /// Up to 4 JPEG, PNG or WebP images of at most 10 MB each; re-encoded, EXIF and GPS removed.
    #[serde(default)]
    #[schema(value_type = Vec<String>, format = Binary)]
    references: Vec<String>,
}

/// The signed-in user's requests: sent as a client, or received as an artist.
#[utoipa::path(get, path = "/booking-requests", tag = "bookings", operation_id = "listBookingRequests",
    security(("session" = [])),
    responses(
        (status = 200, description = "Requests, newest first", body = Vec<BookingSummary>),
        (status = 401, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn list_requests(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<BookingSummary>>, AppError> {
    Ok(Json(all(state.store.bookings_for(user.id).await?)))
}

/// One request the signed-in user takes part in, with its sessions, history and ledger.
#[utoipa::path(get, path = "/booking-requests/{id}", tag = "bookings", operation_id = "getBookingRequest",
    security(("session" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = BookingDetail),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_request(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<BookingDetail>, AppError> {
    let detail = crate::services::booking::detail(&state, BookingId::new(id), &user).await?;
    Ok(Json(detail.into()))
}

/// One transition of a request, taken by the party it belongs to.
#[utoipa::path(post, path = "/booking-requests/{id}/{action}", tag = "bookings", operation_id = "bookingAction",
    security(("session" = [])),
    params(RequestActionPath),
    request_body(content = Option<ActionInput>, description = "What the action carries; actions without data take no body"),
    responses(
        (status = 200, description = "The request after the transition", body = BookingRequest),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 401, response = Problem), (status = 404, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem),
    ))]
#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn request_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(RequestActionPath { id, action }): Path<RequestActionPath>,
    OptionalJson(input): OptionalJson<ActionInput>,
) -> Result<Json<BookingRequest>, AppError> {
    booking::take_action(&state, &user, BookingId::new(id), &action, input)
        .await
        .map(|r| Json(r.into()))
}

/// Schedules one session of a booked request, inside the artist's working week. Overlapping
/// another session of the artist's is a 409.
#[utoipa::path(post, path = "/booking-requests/{id}/appointments", tag = "bookings", operation_id = "scheduleAppointment",
    security(("session" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    request_body = SlotInput,
    responses(
        (status = 201, description = "The new session", body = Appointment),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 401, response = Problem), (status = 404, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn schedule(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<SlotInput>,
) -> Result<(StatusCode, Json<Appointment>), AppError> {
    let ap = booking::schedule(&state, &user, BookingId::new(id), &input).await?;
    Ok((StatusCode::CREATED, Json(ap.into())))
}

/// One transition of a session: the client's consent, or completion, cancellation, no-show or
/// a new time.
#[utoipa::path(post, path = "/appointments/{id}/{action}", tag = "bookings", operation_id = "appointmentAction",
    security(("session" = [])),
    params(AppointmentActionPath),
    request_body(content = Option<AppointmentInput>, description = "Consent answers, or the new time for reschedule"),
    responses(
        (status = 200, description = "The session after the transition", body = Appointment),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 401, response = Problem), (status = 404, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem),
    ))]
#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn appointment_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    client_ip: crate::client_ip::ClientIp,
    Path(AppointmentActionPath { id, action }): Path<AppointmentActionPath>,
    OptionalJson(input): OptionalJson<AppointmentInput>,
) -> Result<Json<Appointment>, AppError> {
    let origin = origin(&headers, &client_ip);
    booking::take_appointment_action(
        &state,
        &user,
        AppointmentId::new(id),
        &action,
        input,
        origin,
    )
    .await
    .map(|a| Json(a.into()))
}

/// The request's message thread, oldest first; reading it marks it read.
#[utoipa::path(get, path = "/booking-requests/{id}/messages", tag = "messages", operation_id = "listMessages",
    security(("session" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The thread", body = Vec<Message>),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn messages(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Message>>, AppError> {
    Ok(Json(all(state
        .store
        .messages(BookingId::new(id), user.id)
        .await?)))
}

/// A new message.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct MessageInput {
    /// 1 to 4000 characters.
    #[serde(default)]
    body: String,
}

/// Posts to the request's thread; the other party is emailed.
#[utoipa::path(post, path = "/booking-requests/{id}/messages", tag = "messages", operation_id = "postMessage",
    security(("session" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    request_body = MessageInput,
    responses(
        (status = 201, description = "The message", body = Message),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn post_message(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<MessageInput>,
) -> Result<(StatusCode, Json<Message>), AppError> {
    let m = booking::post_message(&state, &user, BookingId::new(id), &input.body).await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

/// The client's review of a completed request; one per request.
#[utoipa::path(post, path = "/reviews", tag = "reviews", operation_id = "createReview",
    security(("session" = [])),
    request_body = ReviewInput,
    responses(
        (status = 201, description = "The published review", body = Review),
        (status = 400, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 401, response = Problem), (status = 404, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem),
    ))]
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
    let review = booking::review(&state, &user, id, &input).await?;
    Ok((StatusCode::CREATED, Json(review.into())))
}

/// Where a consent comes from: only what trusted proxies forwarded counts (`client_ip`), so a
/// client cannot forge it. Shared with the consent form's page.
pub fn origin(headers: &HeaderMap, client_ip: &crate::client_ip::ClientIp) -> Origin {
    Origin {
        ip: client_ip.describe(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect(),
    }
}
