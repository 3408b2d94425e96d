//! The booking flow's JSON API: styles, artists, booking requests and their actions, sessions,
//! messages and reviews. The store checks ownership, so someone else's id answers 404.

use crate::auth::CurrentUser;
use crate::booking::{self, ActionInput, AppointmentInput, ReviewInput, SlotInput};
use crate::error::{AppError, Problem};
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
                "quote, decline, request-info and deposit-paid are the artist's; accept, \
                 withdraw and provide-info are the client's",
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

/// One style of the fixed taxonomy.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StyleView {
    #[schema(value_type = Style)]
    slug: &'static str,
    label: &'static str,
}

/// The style taxonomy that profiles, portfolios and search share.
#[utoipa::path(get, path = "/styles", tag = "discovery", operation_id = "styles",
    responses((status = 200, description = "Every style, in display order", body = Vec<StyleView>)))]
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

/// A page of search results.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArtistList {
    artists: Vec<storage::SearchHit>,
    total: i64,
    page: u32,
    per_page: u32,
}

/// Searches artists with the same filters as the search page.
#[utoipa::path(get, path = "/artists", tag = "discovery", operation_id = "searchArtists",
    params(crate::search::SearchParams),
    responses(
        (status = 200, description = "A page of artists", body = ArtistList),
        (status = 400, response = Problem), (status = 422, response = Problem),
    ))]
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

/// A review as visitors see it: no booking or account ids.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicReview {
    id: i64,
    client_name: String,
    rating: u8,
    body: String,
    /// Unix seconds.
    created_at: i64,
}

impl From<Review> for PublicReview {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            client_name: r.client_name,
            rating: r.rating,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

/// An artist's profile with their work, flash, guest spots and latest reviews.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArtistDetail {
    #[serde(flatten)]
    profile: ArtistProfile,
    reviews: Vec<PublicReview>,
    portfolio: Vec<storage::PortfolioEntry>,
    flash: Vec<storage::FlashDesign>,
    guest_spots: Vec<storage::GuestSpotView>,
}

/// One artist: profile, policy, portfolio, flash, guest spots and rating.
#[utoipa::path(get, path = "/artists/{id}", tag = "discovery", operation_id = "getArtist",
    params(("id" = i64, Path, description = "The artist's id")),
    responses(
        (status = 200, description = "The artist", body = ArtistDetail),
        (status = 400, response = Problem), (status = 404, response = Problem),
    ))]
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
        reviews: reviews.into_iter().map(PublicReview::from).collect(),
        portfolio,
        flash,
        guest_spots,
    }))
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
        (
            artist_id,
            booking::raw_request(&upload.fields),
            upload.files,
        )
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
    Ok((StatusCode::CREATED, Json(req)))
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
    Ok(Json(state.store.bookings_for(user.id).await?))
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
    let detail = state.store.booking(BookingId::new(id), user.id).await?;
    detail.map(Json).ok_or(AppError::NotFound)
}

/// A request the user takes part in; anyone else's id (or a missing one) is 404. One query: the
/// store checks the party again, under its lock, when it changes anything.
pub(crate) async fn visible_request(
    state: &AppState,
    id: BookingId,
    user: &storage::User,
) -> Result<BookingRequest, AppError> {
    state
        .store
        .booking_request(id, user.id)
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
    // Expiry belongs to the deadline job alone: to people it is not a route at all.
    let action = BookingAction::parse(action)
        .ok()
        .filter(|a| a.actor() != domain::Actor::System)
        .ok_or(AppError::NotFound)?;
    // Read first, so a stranger's probe is a 404 before any input is judged.
    let request = visible_request(state, id, user).await?;
    let artist = state
        .store
        .artist_by_id(request.artist_id)
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
    run_booking_action(&state, &user, BookingId::new(id), &action, input)
        .await
        .map(Json)
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
    let ap = run_schedule(&state, &user, BookingId::new(id), &input).await?;
    Ok((StatusCode::CREATED, Json(ap)))
}

/// Refuses a slot outside the working week of the request's artist.
async fn check_slot(
    state: &AppState,
    request: &BookingRequest,
    slot: &domain::Slot,
) -> Result<(), AppError> {
    let artist = state
        .store
        .artist_by_id(request.artist_id)
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
    let request = visible_request(state, id, user).await?;
    let slot = input.slot(&request.time_zone)?;
    check_slot(state, &request, &slot).await?;
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
    client_ip: crate::client_ip::ClientIp,
) -> Result<Appointment, AppError> {
    let action = AppointmentAction::parse(action).map_err(|_| AppError::NotFound)?;
    let booking_id = state
        .store
        .appointment_booking(id)
        .await?
        .ok_or(AppError::NotFound)?;
    let request = visible_request(state, booking_id, user).await?;
    // Only what trusted proxies forwarded counts (`client_ip`): a client cannot forge it.
    let ip = client_ip.describe();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let change = booking::appointment_change(
        action,
        input,
        request.needs_guardian,
        &request.time_zone,
        ip,
        user_agent,
    )?;
    if let storage::AppointmentChange::Reschedule(slot) = &change {
        check_slot(state, &request, slot).await?;
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
    run_appointment_action(
        &state,
        &user,
        AppointmentId::new(id),
        &action,
        input,
        &headers,
        client_ip,
    )
    .await
    .map(Json)
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
    Ok(Json(
        state.store.messages(BookingId::new(id), user.id).await?,
    ))
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
    visible_request(state, id, user).await?;
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
    visible_request(state, id, user).await?;
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
