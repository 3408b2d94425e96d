//! The wording of notification emails. The store records only which notification is due (its
//! kind, request and recipient); these templates word it when the worker sends it.

use askama::Template;
use domain::{AppointmentState, BookingState};
use storage::Notification;

#[derive(Template)]
#[template(path = "email/booking_update.txt")]
struct BookingUpdate<'a> {
    number: i64,
    client: &'a str,
    artist: &'a str,
    what: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/sign_in_failures.txt")]
struct SignInFailures<'a> {
    failures: i64,
    link: &'a str,
}

/// What happened, as a booking notification of `kind` names it.
fn what(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "booking.submitted" => "new request",
        "booking.quote_revised" => "the quote was revised: check the new terms",
        "booking.quote_withdrawn" => "the artist withdrew the quote",
        "appointment.scheduled" => "a session is scheduled: sign the consent form to confirm it",
        "message" => "a new message",
        "review" => "a new review",
        "healed.prompt" => "how has it healed? Share a photo of the healed piece",
        _ => {
            if let Some(state) = kind.strip_prefix("booking.") {
                BookingState::parse(state).ok()?.label()
            } else if let Some(state) = kind.strip_prefix("appointment.") {
                AppointmentState::parse(state).ok()?.label()
            } else {
                return None;
            }
        }
    })
}

/// The subject and body of `n`, with `link` where it points. Rows written before notifications
/// were worded here carry their own text, with `{link}` in place of the link.
pub fn notification_text(n: &Notification, link: &str) -> anyhow::Result<(String, String)> {
    if !n.body.is_empty() {
        return Ok((n.subject.clone(), n.body.replace("{link}", link)));
    }
    if n.kind == "account.sign_in_failures" {
        let body = SignInFailures {
            failures: domain::throttle::NOTIFY_AT_FAILURES,
            link,
        }
        .render()?;
        return Ok((
            "Failed sign-ins to your Tattoo Marketplace account".to_owned(),
            body,
        ));
    }
    let (Some(what), Some(booking)) = (what(&n.kind), n.booking_id) else {
        anyhow::bail!("no wording for notification kind {:?}", n.kind);
    };
    let body = BookingUpdate {
        number: booking.get(),
        client: n.client_name.as_deref().unwrap_or("a client"),
        artist: n.artist_name.as_deref().unwrap_or("an artist"),
        what,
        link,
    }
    .render()?;
    Ok((format!("Booking #{booking}: {what}"), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(kind: &str) -> Notification {
        Notification {
            id: 1,
            kind: kind.into(),
            booking_id: Some(domain::BookingId::new(7)),
            recipient_email: "c@example.com".into(),
            recipient_name: "C".into(),
            subject: String::new(),
            body: String::new(),
            attempts: 1,
            client_name: Some("Ada".into()),
            artist_name: Some("Mira".into()),
        }
    }

    #[test]
    fn every_kind_the_store_records_is_worded() {
        let kinds = BookingState::ALL
            .iter()
            .map(|s| format!("booking.{}", s.as_str()))
            .chain(
                AppointmentState::ALL
                    .iter()
                    .map(|s| format!("appointment.{}", s.as_str())),
            )
            .chain(
                [
                    "booking.submitted",
                    "booking.quote_revised",
                    "booking.quote_withdrawn",
                    "appointment.scheduled",
                    "message",
                    "review",
                    "healed.prompt",
                ]
                .map(String::from),
            );
        for kind in kinds {
            let (subject, body) = notification_text(&notification(&kind), "https://x/b/7").unwrap();
            assert!(subject.starts_with("Booking #7: "), "{kind}: {subject}");
            assert!(body.contains("#7 (Ada with Mira)"), "{kind}: {body}");
            assert!(body.contains("https://x/b/7"), "{kind}: {body}");
        }
        let (_, quoted) = notification_text(&notification("booking.quoted"), "l").unwrap();
        assert!(quoted.contains(BookingState::Quoted.label()));
    }

    #[test]
    fn sign_in_failures_and_older_rows_keep_their_wording() {
        let mut n = notification("account.sign_in_failures");
        n.booking_id = None;
        let (subject, body) = notification_text(&n, "https://x").unwrap();
        assert!(subject.contains("Failed sign-ins"));
        assert!(body.contains(&format!("{} times", domain::throttle::NOTIFY_AT_FAILURES)));
        let mut old = notification("booking.quoted");
        old.subject = "Old subject".into();
        old.body = "Open it: {link}".into();
        assert_eq!(
            notification_text(&old, "https://x").unwrap(),
            ("Old subject".into(), "Open it: https://x".into())
        );
        assert!(notification_text(&notification("something.else"), "l").is_err());
    }
}
