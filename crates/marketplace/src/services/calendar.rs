//! Sessions in people's calendars: an invite per session for its two parties, and each artist's
//! private feed, addressed by a random token they can replace if the address leaks.

use crate::clock::now;
use crate::error::AppError;
use crate::state::AppState;
use crate::templates::calendar::{SessionEvent, feed, invite};
use domain::{AppointmentId, BookingId};
use rand::RngCore;
use storage::User;

/// Sessions that ended longer ago than this leave the feed.
const FEED_PAST_SECS: i64 = 30 * 86_400;

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn public_url(state: &AppState) -> &str {
    state.settings.mail.public_url.trim_end_matches('/')
}

/// The invite for one session of a request `user` takes part in (404 for anyone else).
pub async fn session_invite(
    state: &AppState,
    user: &User,
    booking: BookingId,
    appointment: i64,
) -> Result<String, AppError> {
    let detail = state
        .store
        .booking(booking, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let ap = detail
        .appointments
        .iter()
        .find(|a| a.id == AppointmentId::new(appointment))
        .ok_or(AppError::NotFound)?;
    let artist = state
        .store
        .artist_by_id(detail.request.artist_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let link = format!("{}/bookings/{booking}", public_url(state));
    let title = format!(
        "Tattoo session: {} with {}",
        detail.request.client_name, detail.request.artist_name
    );
    Ok(invite(
        &SessionEvent {
            appointment: ap.id.get(),
            booking: booking.get(),
            starts_at: ap.starts_at,
            ends_at: ap.ends_at,
            title: &title,
            location: &artist.city,
            link: &link,
            cancelled: !ap.state.is_active() && ap.state != domain::AppointmentState::Completed,
        },
        public_url(state),
    ))
}

/// The feed address of the artist `user`, made on first use.
pub async fn feed_url(state: &AppState, user: &User) -> Result<String, AppError> {
    let token = match state.store.calendar_token(user.id).await? {
        Some(t) => t,
        None => {
            let t = new_token();
            state.store.set_calendar_token(user.id, &t).await?;
            t
        }
    };
    Ok(format!("{}/calendar/{token}.ics", public_url(state)))
}

/// Replaces the feed's token: the old address stops working at once.
pub async fn renew_feed(state: &AppState, user: &User) -> Result<(), AppError> {
    state
        .store
        .set_calendar_token(user.id, &new_token())
        .await?;
    Ok(())
}

/// The feed `token` addresses. Its events name the booking, never the client: a feed address
/// ends up in calendar apps and their sync services.
pub async fn feed_for(state: &AppState, token: &str) -> Result<String, AppError> {
    // Tokens are 48 hex characters; anything else is not looked up at all.
    if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let artist = state
        .store
        .artist_by_calendar_token(token)
        .await?
        .ok_or(AppError::NotFound)?;
    let sessions = state
        .store
        .appointments_for_artist(artist.id, now() - FEED_PAST_SECS)
        .await?;
    let base = public_url(state);
    let events: Vec<(String, String, &storage::Appointment)> = sessions
        .iter()
        .filter(|a| a.state.is_active() || a.state == domain::AppointmentState::Completed)
        .map(|a| {
            (
                format!("Tattoo session, booking #{}", a.booking_id),
                format!("{base}/bookings/{}", a.booking_id),
                a,
            )
        })
        .collect();
    let events: Vec<SessionEvent<'_>> = events
        .iter()
        .map(|(title, link, a)| SessionEvent {
            appointment: a.id.get(),
            booking: a.booking_id.get(),
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            title,
            location: &artist.city,
            link,
            cancelled: false,
        })
        .collect();
    Ok(feed(&artist.display_name, &events, base))
}
