//! Sessions as iCalendar (RFC 5545): the invite attached to session emails and offered for
//! download, and each artist's private feed of upcoming sessions.

use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

/// One session as an event. The UID is stable per session, so a moved or cancelled session
/// updates the copy already in someone's calendar instead of adding another.
pub struct SessionEvent<'a> {
    pub appointment: i64,
    pub booking: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub title: &'a str,
    pub location: &'a str,
    pub link: &'a str,
    pub cancelled: bool,
}

fn utc(at: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at, 0).unwrap_or_default()
}

fn event(s: &SessionEvent<'_>, host: &str) -> Event {
    let mut e = Event::new();
    e.uid(&format!("session-{}@{host}", s.appointment))
        .summary(s.title)
        .description(&format!(
            "Booking #{}. Details and changes: {}",
            s.booking, s.link
        ))
        .url(s.link)
        .starts(utc(s.starts_at))
        .ends(utc(s.ends_at))
        .timestamp(chrono::Utc::now());
    if !s.location.is_empty() {
        e.location(s.location);
    }
    e.status(if s.cancelled {
        EventStatus::Cancelled
    } else {
        EventStatus::Confirmed
    });
    e.done()
}

/// The host part of UIDs: the site's own name, so they are unique to it.
fn host(public_url: &str) -> &str {
    public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split(['/', ':'])
        .next()
        .unwrap_or("tattoo-marketplace")
}

/// A calendar holding one session.
pub fn invite(session: &SessionEvent<'_>, public_url: &str) -> String {
    let mut cal = Calendar::new();
    cal.name("Tattoo Marketplace")
        .push(event(session, host(public_url)));
    cal.done().to_string()
}

/// An artist's feed: every upcoming session, for a calendar app to subscribe to.
pub fn feed(artist: &str, sessions: &[SessionEvent<'_>], public_url: &str) -> String {
    let mut cal = Calendar::new();
    cal.name(&format!("{artist}: tattoo sessions"));
    for s in sessions {
        cal.push(event(s, host(public_url)));
    }
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(cancelled: bool) -> SessionEvent<'static> {
        SessionEvent {
            appointment: 9,
            booking: 4,
            starts_at: 1_800_000_000,
            ends_at: 1_800_007_200,
            title: "Tattoo session: Theo with Ines",
            location: "Lyon",
            link: "https://tattoo.example/bookings/4",
            cancelled,
        }
    }

    #[test]
    fn an_invite_holds_the_session_in_utc_with_a_stable_uid() {
        let ics = invite(&session(false), "https://tattoo.example");
        assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
        for line in [
            "UID:session-9@tattoo.example",
            "DTSTART:20270115T080000Z",
            "DTEND:20270115T100000Z",
            "SUMMARY:Tattoo session: Theo with Ines",
            "LOCATION:Lyon",
            "STATUS:CONFIRMED",
        ] {
            assert!(ics.contains(line), "{line} missing from {ics}");
        }
        assert!(invite(&session(true), "https://tattoo.example").contains("STATUS:CANCELLED"));
    }

    #[test]
    fn a_feed_lists_every_session() {
        let ics = feed(
            "Ines",
            &[session(false), session(false)],
            "http://127.0.0.1:8080",
        );
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2);
        assert!(ics.contains("UID:session-9@127.0.0.1"));
    }
}
