//! Booking use cases: sending a request, its transitions, sessions, messages and reviews. Pages
//! and the API both call these; they only parse input and render output.

pub mod input;
pub mod slots;

use crate::clock::{now, time_zone};
use crate::error::AppError;
use crate::state::AppState;
use domain::consent::{self, AgeDecision};
use domain::{
    AppointmentAction, AppointmentId, BookingAction, BookingId, ParseError, RawRequest,
    RequestDraft, Slot,
};
use input::{ActionInput, AppointmentInput, ReviewInput, SlotInput, invalid};
use storage::{Appointment, ArtistProfile, BookingRequest, Message, NewRequest, Review, User};
use time::OffsetDateTime;

/// Counts a committed change in the business metrics.
fn count_transition(state: &AppState, what: &str) {
    state.metrics.transitions.with_label_values(&[what]).inc();
}

/// Refuses a session outside the artist's working days and hours (in the artist's zone).
pub fn check_availability(
    availability: &domain::Availability,
    zone: &str,
    slot: &Slot,
) -> Result<(), AppError> {
    let tz = time_zone(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let start = jiff::Timestamp::from_second(slot.starts_at)
        .map_err(|_| invalid([ParseError::new("starts_at", "not a valid time")]))?
        .to_zoned_datetime(tz);
    let weekday = usize::try_from(start.weekday().to_monday_zero_offset()).unwrap_or(0);
    let minute =
        u16::try_from(i32::from(start.hour()) * 60 + i32::from(start.minute())).unwrap_or(0);
    let minutes = (slot.ends_at - slot.starts_at) / 60;
    if availability.allows(weekday, minute, minutes) {
        Ok(())
    } else {
        Err(invalid([ParseError::new(
            "starts_at",
            format!(
                "outside the artist's working hours ({}, {zone})",
                availability.describe()
            ),
        )]))
    }
}

/// What a sealed date of birth is bound to.
pub const DOB_CONTEXT: &str = "booking_requests.date_of_birth";

/// Sends a client's request to an artist after checking the age and consent rules of the
/// artist's jurisdiction and the artist's own minimum age.
pub async fn submit(
    state: &AppState,
    client: &User,
    artist: &ArtistProfile,
    raw: &RawRequest,
    references: Vec<(String, String)>,
) -> Result<BookingRequest, AppError> {
    require_client(client)?;
    let draft = RequestDraft::parse(raw, artist.currency).map_err(invalid)?;
    let rules = consent::rules_for(&artist.jurisdiction);
    let today = OffsetDateTime::now_utc().date();
    let needs_guardian = match consent::decide(&rules, artist.min_age, draft.date_of_birth, today) {
        AgeDecision::Allowed => false,
        AgeDecision::NeedsParentalConsent => true,
        AgeDecision::Refused(why) => {
            return Err(invalid([ParseError::new("date_of_birth", why)]));
        }
    };
    // The date of birth is sealed before it reaches the database; the age is what rules need.
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let born = draft
        .date_of_birth
        .format(&format)
        .map_err(|e| AppError::Internal(e.into()))?;
    let date_of_birth = state.cipher.seal_text(DOB_CONTEXT, &born).await?;
    let new = NewRequest {
        client: client.id,
        artist: artist.id,
        age_at_request: i64::from(consent::age_on(draft.date_of_birth, today)),
        draft,
        needs_guardian,
        references,
        date_of_birth,
    };
    let req = state.store.create_request(new, now()).await?;
    count_transition(state, "submit");
    state.metrics.kpi.funnel_step("request");
    Ok(req)
}

/// Only clients with a confirmed email address send requests: an artist answers a person they
/// can reach, and a throwaway address cannot fill an artist's inbox.
fn require_client(user: &User) -> Result<(), AppError> {
    if user.role != domain::Role::Client {
        return Err(AppError::Forbidden(
            "Only client accounts can request bookings.".into(),
        ));
    }
    if !user.email_verified {
        return Err(AppError::Forbidden(
            "Confirm your email address first: follow the link we emailed you, or ask for a new \
             one on your account page."
                .into(),
        ));
    }
    Ok(())
}

/// [`submit`] with reference images (at most [`crate::auth::csrf::MAX_FILES`]). Each is checked,
/// re-encoded and stored first; all of them are removed again if the request is not created.
pub async fn submit_with_references(
    state: &AppState,
    client: &User,
    artist: &ArtistProfile,
    raw: &RawRequest,
    files: Vec<axum::body::Bytes>,
) -> Result<BookingRequest, AppError> {
    require_client(client)?;
    let prefix = format!("references/{}", client.id);
    let mut references = Vec::new();
    let mut stored = Ok(());
    for bytes in files {
        match store_reference(state, bytes, &prefix).await {
            Ok(keys) => references.push(keys),
            Err(e) => {
                stored = Err(match e {
                    AppError::Validation(mut errors) => {
                        for e in &mut errors {
                            e.field = "references".into();
                            e.message = format!("Reference image: {}", e.message);
                        }
                        AppError::Validation(errors)
                    }
                    other => other,
                });
                break;
            }
        }
    }
    let keys = references.clone();
    state
        .media
        .kept_if(&keys, async move {
            stored?;
            submit(state, client, artist, raw, references).await
        })
        .await
}

/// Checks, re-encodes and stores one reference photo and its thumbnail, each encrypted and bound
/// to its key: photos of skin are special-category data, so the object store holds no plaintext.
async fn store_reference(
    state: &AppState,
    bytes: axum::body::Bytes,
    prefix: &str,
) -> Result<(String, String), AppError> {
    let processed = state.media.checked(bytes).await?;
    let (image, thumb) = crate::media::MediaStore::image_keys(prefix);
    let sealed_image = state
        .cipher
        .seal_bytes(&image, &processed.full_jpeg)
        .await?;
    let sealed_thumb = state
        .cipher
        .seal_bytes(&thumb, &processed.thumb_webp)
        .await?;
    state
        .media
        .put_pair((&image, sealed_image), (&thumb, sealed_thumb))
        .await?;
    Ok((image, thumb))
}

/// A reference photo's bytes, decrypted, for someone the caller checked may see it.
pub async fn reference_bytes(state: &AppState, key: &str) -> Result<Option<Vec<u8>>, AppError> {
    match state.media.get(key).await? {
        Some(sealed) => Ok(Some(state.cipher.open_bytes(key, &sealed).await?)),
        None => Ok(None),
    }
}

/// A request the user takes part in; anyone else's id (or a missing one) is 404. One query: the
/// store checks the party again, under its lock, when it changes anything.
pub async fn visible_request(
    state: &AppState,
    id: BookingId,
    user: &User,
) -> Result<BookingRequest, AppError> {
    state
        .store
        .booking_request(id, user.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Runs one booking action (by its path name) for `user`.
pub async fn take_action(
    state: &AppState,
    user: &User,
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
    let change = input::booking_change(action, input, &artist.policy, artist.currency)?;
    let req = state
        .store
        .change_booking(id, user.id, change, now())
        .await?;
    count_transition(state, action.as_str());
    let kpi = &state.metrics.kpi;
    kpi.state_changed(request.state, req.state);
    if action == BookingAction::DepositPaid {
        kpi.deposit_recorded();
    }
    // The artist's first answer to a new request, whatever it is.
    if request.state == domain::BookingState::Submitted && user.id == request.artist_user_id {
        kpi.first_response(now() - request.created_at.unix_timestamp());
    }
    Ok(req)
}

/// Refuses a slot outside the working week of the request's artist.
async fn check_slot(
    state: &AppState,
    request: &BookingRequest,
    slot: &Slot,
) -> Result<(), AppError> {
    let artist = state
        .store
        .artist_by_id(request.artist_id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_availability(&artist.availability, &artist.time_zone, slot)
}

/// Schedules a session on a booked request for `user`.
pub async fn schedule(
    state: &AppState,
    user: &User,
    id: BookingId,
    input: &SlotInput,
) -> Result<Appointment, AppError> {
    let request = visible_request(state, id, user).await?;
    let slot = input.slot(&request.time_zone)?;
    check_slot(state, &request, &slot).await?;
    let ap = state.store.schedule(id, user.id, slot, now()).await?;
    count_transition(state, "schedule");
    Ok(ap)
}

/// Where a consent was given from, recorded with it: the client's address (as trusted proxies
/// forwarded it, so it cannot be forged) and browser.
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

/// The request a session belongs to, if the session exists.
pub async fn appointment_request(
    state: &AppState,
    id: AppointmentId,
) -> Result<BookingId, AppError> {
    state
        .store
        .appointment_booking(id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Runs one session action (by its path name) for `user`.
pub async fn take_appointment_action(
    state: &AppState,
    user: &User,
    id: AppointmentId,
    action: &str,
    input: AppointmentInput,
    origin: Origin,
) -> Result<Appointment, AppError> {
    let action = AppointmentAction::parse(action).map_err(|_| AppError::NotFound)?;
    let booking_id = appointment_request(state, id).await?;
    let request = visible_request(state, booking_id, user).await?;
    let audit_origin = crate::client_ip::Origin {
        ip: origin.ip.parse().ok(),
        ..Default::default()
    };
    let change = input::appointment_change(
        action,
        input,
        request.needs_guardian,
        &request.time_zone,
        origin.ip,
        origin.user_agent,
    )?;
    let change = seal_consent(state, change, request.needs_guardian).await?;
    if let storage::AppointmentChange::Reschedule(slot) = &change {
        check_slot(state, &request, slot).await?;
    }
    let ap = state
        .store
        .change_appointment(id, user.id, change, now())
        .await?;
    count_transition(state, action.as_str());
    if action == AppointmentAction::Complete {
        state.metrics.kpi.session_completed();
    }
    if action == AppointmentAction::Consent {
        // Which form was signed, never what it says: the answers are health data.
        let detail = serde_json::json!({ "booking": booking_id.get(), "session": id.get() });
        crate::services::audit::record(
            state,
            domain::AuditAction::ConsentSigned,
            Some(user.id),
            Some(request.client_id),
            &audit_origin,
            detail,
        )
        .await?;
    }
    Ok(ap)
}

/// What the sealed health answers of a consent form are bound to.
pub const MEDICAL_CONTEXT: &str = "consents.medical_notes";
pub const ALLERGIES_CONTEXT: &str = "consents.allergies";

/// Encrypts a consent form's health answers once they pass the form's checks; a form that does
/// not pass goes on unchanged, for the booking rules to refuse with their usual explanation.
async fn seal_consent(
    state: &AppState,
    change: storage::AppointmentChange,
    needs_guardian: bool,
) -> Result<storage::AppointmentChange, AppError> {
    let storage::AppointmentChange::Consent {
        answers,
        ip,
        user_agent,
    } = change
    else {
        return Ok(change);
    };
    let Ok(mut checked) = answers.clone().validate(needs_guardian) else {
        return Ok(storage::AppointmentChange::Consent {
            answers,
            ip,
            user_agent,
        });
    };
    checked.medical_notes = state
        .cipher
        .seal_text(MEDICAL_CONTEXT, &checked.medical_notes)
        .await?;
    checked.allergies = state
        .cipher
        .seal_text(ALLERGIES_CONTEXT, &checked.allergies)
        .await?;
    checked.health_sealed = true;
    Ok(storage::AppointmentChange::Consent {
        answers: checked,
        ip,
        user_agent,
    })
}

/// A request with everything on its page, for its two participants, with the consent forms'
/// health answers decrypted.
pub async fn detail(
    state: &AppState,
    id: BookingId,
    user: &User,
) -> Result<storage::BookingDetail, AppError> {
    let mut detail = state
        .store
        .booking(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    for c in &mut detail.consents {
        c.medical_notes = state
            .cipher
            .open_text(MEDICAL_CONTEXT, &c.medical_notes)
            .await?;
        c.allergies = state
            .cipher
            .open_text(ALLERGIES_CONTEXT, &c.allergies)
            .await?;
    }
    Ok(detail)
}

/// Posts a message to a request's thread for `user`; the other party is emailed.
pub async fn post_message(
    state: &AppState,
    user: &User,
    id: BookingId,
    body: &str,
) -> Result<Message, AppError> {
    visible_request(state, id, user).await?;
    let body = input::message_body(body)?;
    let m = state.store.post_message(id, user.id, body, now()).await?;
    state
        .metrics
        .engagement
        .with_label_values(&["message"])
        .inc();
    state.metrics.kpi.message();
    Ok(m)
}

/// Publishes the client's review of a completed request.
pub async fn review(
    state: &AppState,
    user: &User,
    id: BookingId,
    input: &ReviewInput,
) -> Result<Review, AppError> {
    visible_request(state, id, user).await?;
    let (rating, body) = input.parse()?;
    let review = state
        .store
        .create_review(id, user.id, rating, body, now())
        .await?;
    count_transition(state, "review");
    state.metrics.kpi.review();
    Ok(review)
}
