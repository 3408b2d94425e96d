//! Pages of the booking flow: the request form, dashboards, a request's page with its actions,
//! sessions, consent form, messages and review, and its private reference images.

use crate::auth::csrf::CsrfForm;
use crate::auth::{CurrentUser, MaybeUser};
use crate::clock::now;
use crate::error::{AppError, FieldError};
use crate::routes::api::bookings::origin;
use crate::routes::pages::{confirm, render, sign_in_redirect, signed_in_layout as layout};
use crate::services::booking::input::{
    ActionInput, AppointmentInput, ReviewInput, SlotInput, raw_request,
};
use crate::services::booking::{self, appointment_request, slots};
use crate::state::AppState;
use crate::templates::bookings::{BookingPage, DashboardPage, RequestFormPage};
use crate::templates::consent::{ConsentHeader, consent_pdf as consent_pdf_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::{AppointmentId, BookingId, RawRequest, Role};
use storage::User;
use tower_sessions::Session;

/// `?flash=ID&size=M` on the request form starts the request from a flash design.
#[derive(serde::Deserialize, Default)]
pub struct FlashChoice {
    #[serde(default)]
    flash: Option<i64>,
    #[serde(default)]
    size: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn request_form(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
    axum::extract::Query(choice): axum::extract::Query<FlashChoice>,
) -> Result<Response, AppError> {
    let Some(user) = user else {
        return Ok(sign_in_redirect(&format!("/artists/{slug}/book")));
    };
    let artist = state
        .store
        .artist_by_slug(&slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut form = RawRequest::default();
    if let Some(id) = choice.flash
        && let Some(design) = state.store.flash_design(id).await?
        && design.artist_id == artist.id
    {
        let size = choice
            .size
            .as_deref()
            .and_then(|s| domain::Size::parse(s).ok())
            .filter(|s| design.variants.iter().any(|v| v.size == *s))
            .or_else(|| design.variants.first().map(|v| v.size));
        if let Some(size) = size {
            form.size = size.as_str().to_owned();
        }
        form.idea = format!("Flash: \"{}\" (design #{})", design.title, design.id);
    }
    let page = RequestFormPage::new(layout(&state, &session, &user).await?, artist, vec![], form);
    Ok(render(page)?.into_response())
}

#[tracing::instrument(skip_all)]
pub async fn send_request(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
    upload: crate::auth::csrf::CsrfMultipart,
) -> Result<Response, AppError> {
    let artist = state
        .store
        .artist_by_slug(&slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = raw_request(&upload.fields);
    let outcome =
        booking::submit_with_references(&state, &user, &artist, &form, upload.files).await;
    match outcome {
        Ok(req) => {
            let done = format!(
                "Request sent. {} usually replies within {} hours; you will get an email.",
                req.artist_name, artist.policy.response_hours
            );
            confirm(&upload.session, done).await?;
            Ok(Redirect::to(&format!("/bookings/{}", req.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = RequestFormPage::new(
                layout(&state, &upload.session, &user).await?,
                artist,
                errors,
                form,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all)]
pub async fn dashboard(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    let Some(user) = user else {
        return Ok(sign_in_redirect("/dashboard"));
    };
    let is_artist = matches!(user.role, Role::Artist | Role::StudioOwner);
    let bookings = state.store.bookings_for(user.id).await?;
    let profile = if is_artist {
        state.store.artist_for_user(user.id).await?
    } else {
        None
    };
    let calendar = match &profile {
        Some(p) => {
            state
                .store
                .appointments_for_artist(p.id, now() - 86_400)
                .await?
        }
        None => vec![],
    };
    let feed_url = match &profile {
        Some(_) => Some(crate::services::calendar::feed_url(&state, &user).await?),
        None => None,
    };
    let page = DashboardPage {
        feed_url,
        layout: layout(&state, &session, &user).await?,
        time_zone: profile
            .as_ref()
            .map_or_else(|| "UTC".to_owned(), |p| p.time_zone.clone()),
        is_artist,
        profile_slug: profile.map(|p| p.slug),
        unread: bookings.iter().map(|b| b.unread_messages).sum(),
        bookings,
        calendar,
    };
    Ok(render(page)?.into_response())
}

/// Renders a request's page, optionally with the problem that stopped the last form.
async fn booking_page(
    state: &AppState,
    session: &Session,
    user: &User,
    id: BookingId,
    problem: Option<(StatusCode, String, Vec<FieldError>)>,
    viewer_zone: Option<&str>,
) -> Result<Response, AppError> {
    let detail = crate::services::booking::detail(state, id, user).await?;
    let messages = state.store.messages(id, user.id).await?;
    let actor = detail
        .request
        .actor_for(user.id)
        .ok_or(AppError::NotFound)?;
    let (status, error, errors) = match problem {
        Some((s, e, f)) => (s, Some(e), f),
        None => (StatusCode::OK, None, vec![]),
    };
    let artist = state.store.artist_by_id(detail.request.artist_id).await?;
    let working = artist.as_ref().map(|a| a.availability).unwrap_or_default();
    let proposals = state.store.proposals(id, user.id).await?;
    let mut page = BookingPage::new(
        layout(state, session, user).await?,
        detail,
        messages,
        actor,
        error,
        errors,
        working,
    );
    if page.can_propose()
        && let Some(artist) = &artist
    {
        (page.free, page.session_minutes) =
            slots::free_times_for(state, &page.b.request, artist).await?;
    }
    page.proposals = proposals;
    page.card_payments = state.stripe.is_some();
    page.payments = state.store.payments(id, user.id).await?;
    page.refundable = crate::services::payments::refundable(&page.b, &page.payments).is_some();
    page.viewer_zone = viewer_zone
        .filter(|z| crate::clock::time_zone(z).is_ok())
        .map_or_else(|| page.b.request.time_zone.clone(), str::to_owned);
    Ok((status, render(page)?).into_response())
}

/// `?tz=America/New_York` shows proposed and free times in the viewer's zone too.
#[derive(serde::Deserialize, Default)]
pub struct BookingQuery {
    #[serde(default)]
    tz: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn booking(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Path(id): Path<i64>,
    axum::extract::Query(query): axum::extract::Query<BookingQuery>,
) -> Result<Response, AppError> {
    let Some(user) = user else {
        return Ok(sign_in_redirect(&format!("/bookings/{id}")));
    };
    let zone = query.tz.as_deref();
    booking_page(&state, &session, &user, BookingId::new(id), None, zone).await
}

/// After a form: back to the request with `done` confirmed on success, or the page again with
/// the problem shown.
pub async fn after_form<T>(
    state: &AppState,
    session: &Session,
    user: &User,
    id: BookingId,
    result: Result<T, AppError>,
    done: &str,
) -> Result<Response, AppError> {
    let problem = match result {
        Ok(_) => {
            confirm(session, done).await?;
            return Ok(Redirect::to(&format!("/bookings/{id}")).into_response());
        }
        Err(AppError::Validation(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Some fields need attention.".to_owned(),
            errors,
        ),
        Err(AppError::Conflict(m)) => (StatusCode::CONFLICT, m, vec![]),
        Err(AppError::Forbidden(m)) => (StatusCode::FORBIDDEN, m, vec![]),
        Err(e) => return Err(e),
    };
    booking_page(state, session, user, id, Some(problem), None).await
}

#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn booking_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm { form, session }: CsrfForm<ActionInput>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = booking::take_action(&state, &user, id, &action, form).await;
    let done = domain::BookingAction::parse(&action).map_or("Done.", |a| a.confirmation());
    after_form(&state, &session, &user, id, result, done).await
}

#[tracing::instrument(skip_all)]
pub async fn schedule(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { form, session }: CsrfForm<SlotInput>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = booking::schedule(&state, &user, id, &form).await;
    let done = "Session scheduled. The client has been emailed an invitation.";
    after_form(&state, &session, &user, id, result, done).await
}

#[tracing::instrument(skip_all, fields(action = %action))]
pub async fn appointment_action(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    client_ip: crate::client_ip::ClientIp,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm { form, session }: CsrfForm<AppointmentInput>,
) -> Result<Response, AppError> {
    let id = AppointmentId::new(id);
    let booking_id = appointment_request(&state, id).await?;
    let origin = origin(&headers, &client_ip);
    let result = booking::take_appointment_action(&state, &user, id, &action, form, origin).await;
    let done = domain::AppointmentAction::parse(&action).map_or("Done.", |a| a.confirmation());
    after_form(&state, &session, &user, booking_id, result, done).await
}

#[derive(serde::Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    body: String,
}

#[tracing::instrument(skip_all)]
pub async fn post_message(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { form, session }: CsrfForm<MessageForm>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = booking::post_message(&state, &user, id, &form.body).await;
    after_form(&state, &session, &user, id, result, "Message sent.").await
}

#[tracing::instrument(skip_all)]
pub async fn review(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { form, session }: CsrfForm<ReviewInput>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = booking::review(&state, &user, id, &form).await;
    let done = "Review published. Thank you: it helps other clients choose.";
    after_form(&state, &session, &user, id, result, done).await
}

/// A reference image of a request, for its two participants only: clients' photos of their own
/// skin are private, unlike portfolio work, so they never go through the public `/media` files
/// or the CDN's cache. Anyone else gets 404, as for the request itself.
#[tracing::instrument(skip_all)]
pub async fn reference_image(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((owner, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let content_type = if file.ends_with(".jpg") {
        "image/jpeg"
    } else if file.ends_with(".webp") {
        "image/webp"
    } else {
        return Err(AppError::NotFound);
    };
    // Keys are `references/{client id}/{uuid}.jpg`; anything else (`..` included) is no key.
    let plausible = owner.bytes().all(|b| b.is_ascii_digit())
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !file.starts_with('.');
    if !plausible {
        return Err(AppError::NotFound);
    }
    let key = format!("references/{owner}/{file}");
    if !state.store.reference_visible(&key, user.id).await? {
        return Err(AppError::NotFound);
    }
    let bytes = crate::services::booking::reference_bytes(&state, &key)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

/// A session's signed consent form as a PDF, for the request's two participants only (anyone
/// else gets 404, as for the request). Health answers are never cached on the way.
#[tracing::instrument(skip_all)]
pub async fn consent_pdf(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, appointment)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let detail = crate::services::booking::detail(&state, BookingId::new(id), &user).await?;
    let record = detail
        .consents
        .iter()
        .find(|c| c.appointment_id.get() == appointment)
        .ok_or(AppError::NotFound)?;
    let zone = &detail.request.time_zone;
    let rules = domain::consent::rules_for(&detail.request.jurisdiction);
    let header = ConsentHeader {
        booking: id,
        client: &detail.request.client_name,
        artist: &detail.request.artist_name,
        session: &crate::clock::local_time(record.session_starts_at, zone),
        signed: &crate::clock::local_time(record.signed_at, zone),
        jurisdiction: &format!("{} (minimum age {})", rules.name, rules.min_age),
    };
    let pdf = consent_pdf_bytes(&header, record);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"consent-booking-{id}-session-{appointment}.pdf\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}

fn calendar_response(ics: String, file: Option<&str>) -> Response {
    let mut headers = vec![
        (
            header::CONTENT_TYPE,
            "text/calendar; charset=utf-8".to_owned(),
        ),
        (header::CACHE_CONTROL, "private, no-store".to_owned()),
    ];
    if let Some(file) = file {
        headers.push((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        ));
    }
    let mut response = ics.into_response();
    for (name, value) in headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// One session as an iCalendar file, for its two participants.
#[tracing::instrument(skip_all)]
pub async fn session_invite(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, appointment)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let ics =
        crate::services::calendar::session_invite(&state, &user, BookingId::new(id), appointment)
            .await?;
    Ok(calendar_response(
        ics,
        Some(&format!("tattoo-session-{appointment}.ics")),
    ))
}

/// An artist's private calendar feed; the unguessable address is the credential.
#[tracing::instrument(skip_all)]
pub async fn calendar_feed(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let token = file.strip_suffix(".ics").ok_or(AppError::NotFound)?;
    let ics = crate::services::calendar::feed_for(&state, token).await?;
    Ok(calendar_response(ics, None))
}

#[derive(serde::Deserialize)]
pub struct NoFields {}

/// Gives the artist's feed a new address (the old one stops working).
#[tracing::instrument(skip_all)]
pub async fn renew_calendar(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    crate::services::calendar::renew_feed(&state, &user).await?;
    confirm(
        &session,
        "Your calendar feed has a new address. Subscribe to it again; the old one no longer works.",
    )
    .await?;
    Ok(Redirect::to("/dashboard").into_response())
}

/// The client proposes up to three free times (`slot_<unix start>=on`).
#[tracing::instrument(skip_all)]
pub async fn propose(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { form, session }: CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let mut starts: Vec<i64> = form
        .keys()
        .filter_map(|k| k.strip_prefix("slot_"))
        .filter_map(|s| s.parse().ok())
        .collect();
    starts.sort_unstable();
    let result = slots::propose(&state, &user, id, &starts).await;
    let done = "Times proposed. The artist confirms one, and you will get the invitation.";
    after_form(&state, &session, &user, id, result, done).await
}

/// The artist confirms one proposed time; it becomes a session.
#[tracing::instrument(skip_all)]
pub async fn confirm_proposal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, proposal)): Path<(i64, i64)>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = slots::confirm(&state, &user, id, proposal).await;
    let done = "Session scheduled at the proposed time. The client has been emailed an invitation.";
    after_form(&state, &session, &user, id, result, done).await
}
