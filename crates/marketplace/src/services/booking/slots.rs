//! Free times a client can propose: the artist's working hours in their own zone, less days
//! off and sessions already in the calendar; the client proposes up to three and the artist
//! confirms one, which becomes a session under the store's no-overlap rule.

use super::{count_transition, visible_request};
use crate::clock::{now, time_zone};
use crate::error::{AppError, FieldError};
use crate::state::AppState;
use domain::{Availability, BookingId, BookingState, Slot};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use storage::{Appointment, MAX_PROPOSALS, Proposal, User};

/// How far ahead clients see free times.
pub const HORIZON_DAYS: i64 = 28;
/// Nothing closer than this is offered: the artist needs time to prepare the design.
pub const MIN_NOTICE_SECS: i64 = 24 * 3600;
/// Free times start on the hour.
const STEP_MIN: i64 = 60;
/// At most this many are listed.
const MAX_LISTED: usize = 40;

/// The free starts (unix seconds) for sessions of `minutes`, from `now` over `days` days.
pub fn free_starts(
    working: &Availability,
    zone: &TimeZone,
    days_off: &[Date],
    busy: &[(i64, i64)],
    now: i64,
    days: i64,
    minutes: i64,
) -> Vec<i64> {
    let Ok(today) =
        jiff::Timestamp::from_second(now).map(|t| t.to_zoned_datetime(zone.clone()).date())
    else {
        return vec![];
    };
    let mut out = Vec::new();
    for offset in 0..=days {
        let Ok(day) = today.checked_add(jiff::Span::new().days(offset)) else {
            break;
        };
        let weekday = day.weekday().to_monday_zero_offset() as usize;
        if !working.days.get(weekday).copied().unwrap_or(false) || days_off.contains(&day) {
            continue;
        }
        let mut start = i64::from(working.start_min);
        while start + minutes <= i64::from(working.end_min) {
            let Ok(time) = Time::new((start / 60) as i8, (start % 60) as i8, 0, 0) else {
                break;
            };
            // On a day the clocks change, a wall time may be skipped or repeated; the zone's
            // usual reading is taken, and skipped times are not offered.
            if let Ok(ts) = zone
                .to_ambiguous_timestamp(DateTime::from_parts(day, time))
                .unambiguous()
            {
                let begins = ts.as_second();
                let ends = begins + minutes * 60;
                let free = !busy.iter().any(|(b, e)| *b < ends && begins < *e);
                if begins >= now + MIN_NOTICE_SECS && free {
                    out.push(begins);
                    if out.len() == MAX_LISTED {
                        return out;
                    }
                }
            }
            start += STEP_MIN;
        }
    }
    out
}

/// The free times to offer on request `id` (empty unless it is booked), and the session length
/// they are for.
pub async fn free_times(
    state: &AppState,
    user: &User,
    id: BookingId,
) -> Result<(Vec<i64>, i64), AppError> {
    let request = visible_request(state, id, user).await?;
    let artist = state
        .store
        .artist_by_id(request.artist_id)
        .await?
        .ok_or(AppError::NotFound)?;
    free_times_for(state, &request, &artist).await
}

/// `free_times` for a request and artist the caller has already read.
pub async fn free_times_for(
    state: &AppState,
    request: &storage::BookingRequest,
    artist: &storage::ArtistProfile,
) -> Result<(Vec<i64>, i64), AppError> {
    let minutes = artist.session_minutes;
    if request.state != BookingState::Booked {
        return Ok((vec![], minutes));
    }
    let zone =
        time_zone(&artist.time_zone).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let at = now();
    let today = jiff::Timestamp::from_second(at)
        .map(|t| t.to_zoned_datetime(zone.clone()).date().to_string())
        .unwrap_or_default();
    let days_off: Vec<Date> = state
        .store
        .days_off(artist.id, &today)
        .await?
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    let busy = state
        .store
        .busy_times(artist.id, at, at + (HORIZON_DAYS + 1) * 86_400)
        .await?;
    let starts = free_starts(
        &artist.availability,
        &zone,
        &days_off,
        &busy,
        at,
        HORIZON_DAYS,
        minutes,
    );
    Ok((starts, minutes))
}

/// The client proposes up to three of the free times (as their start, unix seconds).
pub async fn propose(
    state: &AppState,
    user: &User,
    id: BookingId,
    starts: &[i64],
) -> Result<Vec<Proposal>, AppError> {
    let invalid = |m: String| {
        AppError::Validation(vec![FieldError {
            field: "slot".into(),
            message: m,
        }])
    };
    if starts.is_empty() || starts.len() > MAX_PROPOSALS {
        return Err(invalid(format!(
            "choose between one and {MAX_PROPOSALS} times"
        )));
    }
    let (free, minutes) = free_times(state, user, id).await?;
    let at = now();
    let mut slots = Vec::with_capacity(starts.len());
    for start in starts {
        // Only times still free are accepted: the list may have changed since the page loaded.
        if !free.contains(start) {
            return Err(invalid(
                "one of those times is no longer free; choose again from the list".into(),
            ));
        }
        slots.push(Slot::new(*start, minutes, at).map_err(|e| invalid(e.message))?);
    }
    let proposals = state.store.propose_slots(id, user.id, &slots, at).await?;
    count_transition(state, "propose-slots");
    Ok(proposals)
}

/// The artist confirms one proposed time: it becomes a session (refused if it now overlaps
/// another), and the other proposals are dropped.
pub async fn confirm(
    state: &AppState,
    user: &User,
    id: BookingId,
    proposal: i64,
) -> Result<Appointment, AppError> {
    let chosen = state
        .store
        .proposals(id, user.id)
        .await?
        .into_iter()
        .find(|p| p.id == proposal)
        .ok_or(AppError::NotFound)?;
    let minutes = (chosen.ends_at - chosen.starts_at) / 60;
    let slot = Slot::new(chosen.starts_at, minutes, now()).map_err(|e| {
        AppError::Conflict(format!("That time can no longer be booked: {}", e.message))
    })?;
    let ap = state.store.schedule(id, user.id, slot, now()).await?;
    state.store.clear_proposals(id).await?;
    count_transition(state, "schedule");
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    /// Monday 4 January 2027, 08:00 in Paris.
    fn monday_morning() -> i64 {
        zone()
            .to_ambiguous_timestamp(jiff::civil::date(2027, 1, 4).at(8, 0, 0, 0))
            .compatible()
            .unwrap()
            .as_second()
    }

    fn local(at: i64) -> String {
        jiff::Timestamp::from_second(at)
            .unwrap()
            .to_zoned_datetime(zone())
            .strftime("%a %H:%M")
            .to_string()
    }

    #[test]
    fn free_times_follow_the_week_the_notice_and_the_calendar() {
        let working = Availability::parse("tue,wed", "10:00", "14:00").unwrap();
        let now = monday_morning();
        let starts = free_starts(&working, &zone(), &[], &[], now, 3, 120);
        let shown: Vec<String> = starts.iter().map(|s| local(*s)).collect();
        // Tuesday 10:00 is 26 h away; a two-hour session fits starts at 10, 11 and 12.
        assert_eq!(
            shown,
            [
                "Tue 10:00",
                "Tue 11:00",
                "Tue 12:00",
                "Wed 10:00",
                "Wed 11:00",
                "Wed 12:00"
            ]
        );
        // A session on Tuesday 11:00–13:00 removes every start that would overlap it.
        let busy = [(starts[1], starts[1] + 7_200)];
        let shown: Vec<String> = free_starts(&working, &zone(), &[], &busy, now, 3, 120)
            .iter()
            .map(|s| local(*s))
            .collect();
        assert_eq!(shown, ["Wed 10:00", "Wed 11:00", "Wed 12:00"]);
        // A day off removes its day.
        let off = [jiff::civil::date(2027, 1, 6)];
        assert_eq!(
            free_starts(&working, &zone(), &off, &[], now, 3, 120).len(),
            3
        );
        // Too close: every Tuesday start is within a day of Monday 13:00.
        let late = now + 5 * 3600;
        assert!(free_starts(&working, &zone(), &[], &[], late, 1, 120).is_empty());
    }

    #[test]
    fn clocks_changing_do_not_offer_times_that_do_not_exist() {
        // Paris skips 02:00–03:00 on Sunday 28 March 2027.
        let working = Availability::parse("sun", "01:00", "05:00").unwrap();
        let saturday = zone()
            .to_ambiguous_timestamp(jiff::civil::date(2027, 3, 26).at(12, 0, 0, 0))
            .compatible()
            .unwrap()
            .as_second();
        let starts = free_starts(&working, &zone(), &[], &[], saturday, 3, 60);
        let shown: Vec<String> = starts.iter().map(|s| local(*s)).collect();
        assert_eq!(shown, ["Sun 01:00", "Sun 03:00", "Sun 04:00"]);
    }
}
