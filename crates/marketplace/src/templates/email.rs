//! The wording of notification emails: what happened, what to do next and a link, as HTML with
//! a plain-text alternative. The store records only which notification is due (its kind,
//! request or artist, and recipient); these templates word it when the worker sends it.

use askama::Template;
use storage::Notification;

/// Optional emails a user may turn off, with how the settings page names them. Everything else
/// (a request changing state, a session, account security) is essential and always sent.
pub const OPTIONAL: &[(&str, &str)] = &[
    ("message", "New messages about a booking"),
    ("review", "Reviews of your work"),
    (
        "healed.prompt",
        "A request for a photo once a tattoo has healed",
    ),
];

/// Whether `kind` is an optional email that `n`'s recipient turned off.
pub fn opted_out(n: &Notification) -> bool {
    OPTIONAL.iter().any(|(k, _)| *k == n.kind) && n.recipient_opt_out.contains(&n.kind)
}

/// A worded email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    /// Absent for rows written before emails were worded here (they carry their own text).
    pub html: Option<String>,
    /// The session as an iCalendar invite, for emails about one.
    pub invite: Option<String>,
}

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct Text<'a> {
    name: &'a str,
    what: &'a str,
    next: &'a str,
    action: &'a str,
    link: &'a str,
    preferences: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct Html<'a> {
    subject: &'a str,
    name: &'a str,
    what: &'a str,
    next: &'a str,
    action: &'a str,
    link: &'a str,
    preferences: Option<&'a str>,
}

/// What happened, what to do next and the button's label, for a notification of `kind`.
/// `client` and `artist` are the request's two sides (or the artist it is about).
fn wording(
    kind: &str,
    number: i64,
    client: &str,
    artist: &str,
) -> Option<(String, String, String)> {
    let open = "Open the booking".to_owned();
    let (what, next, action) = match kind {
        "booking.submitted" => (
            format!("{client}'s booking request #{number} is waiting for your reply."),
            "Read the idea and references, then send a quote, ask a question or decline.".to_owned(),
            "Reply to the request".to_owned(),
        ),
        "booking.needs_info" => (
            format!("{artist} has a question about your request #{number}."),
            "Answer it on the booking page so they can send you a quote.".to_owned(),
            "Answer the question".to_owned(),
        ),
        "booking.quoted" => (
            format!("{artist} sent you a quote for request #{number}."),
            "Check the price, sessions and deposit, and accept the quote before it expires.".to_owned(),
            "See the quote".to_owned(),
        ),
        "booking.quote_revised" => (
            format!("{artist} revised the quote for request #{number}."),
            "Check the new terms; the quote is open again for the days the artist set.".to_owned(),
            "See the new quote".to_owned(),
        ),
        "booking.quote_withdrawn" => (
            format!("{artist} withdrew the quote for request #{number}."),
            "The request is back with them: expect a new quote or a question.".to_owned(),
            open,
        ),
        "booking.slots_proposed" => (
            format!("{client} proposed times for a session of booking #{number}."),
            "Confirm the one that suits you: it becomes the session, and the client gets the invitation.".to_owned(),
            "Choose a time".to_owned(),
        ),
        "booking.declined" => (
            format!("{artist} declined your request #{number}."),
            "Their note, if they left one, is on the booking page. Other artists work in the same styles.".to_owned(),
            open,
        ),
        "booking.deposit_pending" => (
            format!("{client} accepted your quote for request #{number}."),
            "The deposit is now due. You will be told when it is paid, and can then schedule the session.".to_owned(),
            open,
        ),
        "booking.booked" => (
            format!("The deposit for request #{number} is recorded: your booking with {artist} is confirmed."),
            format!("{artist} will schedule the session; you will get an invitation for your calendar."),
            open,
        ),
        "booking.withdrawn" => (
            format!("{client} withdrew request #{number}."),
            "Nothing more to do: the request is closed.".to_owned(),
            open,
        ),
        "booking.expired" => (
            format!("Request #{number} ({client} with {artist}) expired: its deadline passed."),
            "It is closed. A new request can be sent while the artist's books are open.".to_owned(),
            open,
        ),
        "booking.completed" => (
            format!("Every session of booking #{number} with {artist} is done."),
            "Leave a review while it is fresh; it helps others choose.".to_owned(),
            "Leave a review".to_owned(),
        ),
        "appointment.scheduled" => (
            format!("{artist} scheduled a session for booking #{number}."),
            "Sign the consent form to confirm it: the artist reads your answers before the session.".to_owned(),
            "Sign the consent form".to_owned(),
        ),
        "appointment.confirmed" => (
            format!("{client} signed the consent form: the session for booking #{number} is confirmed."),
            "Read their medical and allergy answers before the session.".to_owned(),
            "Read the consent form".to_owned(),
        ),
        "appointment.completed" => (
            format!("Your session for booking #{number} is marked completed."),
            format!("Follow {artist}'s aftercare. Once it has healed, a photo helps others."),
            open,
        ),
        "appointment.rescheduled" => (
            format!("A session of booking #{number} was moved."),
            "The new time is on the booking page.".to_owned(),
            "See the new time".to_owned(),
        ),
        "appointment.cancelled_by_client" => (
            format!("{client} cancelled a session of booking #{number}."),
            "The deposit rules of your policy were applied; the booking page shows how.".to_owned(),
            open,
        ),
        "appointment.cancelled_by_artist" => (
            format!("{artist} cancelled a session of booking #{number}."),
            "Your deposit is kept as credit or returned under the artist's policy; the booking page shows which.".to_owned(),
            open,
        ),
        "appointment.reminder_48" => (
            format!("Reminder: the session of booking #{number} ({client} with {artist}) is less than two days away."),
            "If something has come up, change it on the booking page now; the cancellation rules apply.".to_owned(),
            open,
        ),
        "appointment.reminder_24" => (
            format!("Reminder: the session of booking #{number} ({client} with {artist}) is less than a day away."),
            "Eat beforehand, bring photo ID and skip alcohol tonight. Changes now fall under the cancellation rules.".to_owned(),
            open,
        ),
        "appointment.no_show" => (
            format!("You were recorded as not coming to a session of booking #{number}."),
            format!("If that is wrong, send {artist} a message on the booking page."),
            open,
        ),
        "message" => (
            format!("There is a new message about booking #{number} ({client} with {artist})."),
            "Read and reply on the booking page; replies by email are not delivered.".to_owned(),
            "Read the message".to_owned(),
        ),
        "review" => (
            format!("{client} reviewed booking #{number}."),
            "The review shows on your public profile.".to_owned(),
            "See the review".to_owned(),
        ),
        "healed.prompt" => (
            format!("How has your tattoo from {artist} healed?"),
            "Share a photo of the healed piece; healed work helps others judge an artist.".to_owned(),
            "Share a photo".to_owned(),
        ),
        "artist.books_open" => (
            format!("{artist} has opened their books."),
            "You asked to be told. Send a request while there is room in their calendar.".to_owned(),
            format!("See {artist}'s profile"),
        ),
        _ => return None,
    };
    Some((what, next, action))
}

/// A receipt or a refund notice: subject, what happened, what next, the button.
fn payment_wording(
    n: &Notification,
    p: &storage::PaymentNote,
) -> anyhow::Result<(String, String, String, String)> {
    let number = n.booking_id.map_or(0, |b| b.get());
    let artist = n.artist_name.as_deref().unwrap_or("the artist");
    let amount = domain::Currency::parse(&p.currency.to_ascii_uppercase())
        .map(|c| c.format(p.amount_cents))
        .unwrap_or_else(|_| format!("{} {}", p.amount_cents, p.currency));
    Ok(match n.kind.as_str() {
        "payment.receipt" => (
            format!("Receipt: your deposit of {amount} for booking #{number}"),
            format!(
                "We received your deposit of {amount} by card for booking #{number} with {artist}. Your booking is confirmed."
            ),
            format!(
                "Keep this email as your receipt (payment reference {}). Next, propose times for the session on the booking page.",
                p.reference
            ),
            "Open the booking".to_owned(),
        ),
        "payment.refunded" => (
            format!("Refund: your deposit of {amount} for booking #{number}"),
            format!(
                "Your deposit of {amount} for booking #{number} with {artist} was refunded to the card you paid with."
            ),
            format!(
                "Banks usually show it within 5 to 10 business days (payment reference {}).",
                p.reference
            ),
            "Open the booking".to_owned(),
        ),
        other => anyhow::bail!("no wording for payment notification {other:?}"),
    })
}

/// The email for `n`. `public_url` is the site's address, for its links.
pub fn notification_email(n: &Notification, public_url: &str) -> anyhow::Result<Email> {
    let base = public_url.trim_end_matches('/');
    let link = match (n.booking_id, &n.artist_slug) {
        (Some(id), _) => format!("{base}/bookings/{id}"),
        (None, Some(slug)) if n.kind == "artist.books_open" => format!("{base}/artists/{slug}"),
        _ => format!("{base}/account"),
    };
    if !n.body.is_empty() {
        return Ok(Email {
            subject: n.subject.clone(),
            text: n.body.replace("{link}", &link),
            html: None,
            invite: None,
        });
    }
    let (subject, what, next, action) = if n.kind == "account.sign_in_failures" {
        (
            "Failed sign-ins to your Tattoo Marketplace account".to_owned(),
            format!(
                "Someone has tried {} times to sign in to your account with a wrong password. \
                 Further attempts are being slowed down.",
                domain::throttle::NOTIFY_AT_FAILURES
            ),
            "If it was you, you can sign in again in a few minutes. If it was not, your account \
             is still protected by your password; choose a long one that you use nowhere else."
                .to_owned(),
            "Open your account".to_owned(),
        )
    } else if let Some(p) = n
        .payment
        .as_ref()
        .filter(|_| n.kind.starts_with("payment."))
    {
        payment_wording(n, p)?
    } else {
        let number = n.booking_id.map_or(0, |b| b.get());
        let client = n.client_name.as_deref().unwrap_or("The client");
        let artist = n.artist_name.as_deref().unwrap_or("The artist");
        let Some((what, mut next, action)) = wording(&n.kind, number, client, artist) else {
            anyhow::bail!("no wording for notification kind {:?}", n.kind);
        };
        if let Some(s) = &n.session {
            next = format!(
                "When: {} ({} minutes). {next}",
                crate::clock::local_time(s.starts_at, &s.time_zone),
                (s.ends_at - s.starts_at) / 60
            );
        }
        // The subject is the headline, so an inbox list already says what happened.
        (what.clone(), what, next, action)
    };
    let preferences = OPTIONAL
        .iter()
        .any(|(k, _)| *k == n.kind)
        .then(|| format!("{base}/account/notifications"));
    let text = Text {
        name: &n.recipient_name,
        what: &what,
        next: &next,
        action: &action,
        link: &link,
        preferences: preferences.as_deref(),
    }
    .render()?;
    let html = Html {
        subject: &subject,
        name: &n.recipient_name,
        what: &what,
        next: &next,
        action: &action,
        link: &link,
        preferences: preferences.as_deref(),
    }
    .render()?;
    let invite = n
        .session
        .as_ref()
        .filter(|_| n.kind.starts_with("appointment."))
        .map(|s| {
            let client = n.client_name.as_deref().unwrap_or("client");
            let artist = n.artist_name.as_deref().unwrap_or("artist");
            super::calendar::invite(
                &super::calendar::SessionEvent {
                    appointment: s.appointment_id.get(),
                    booking: n.booking_id.map_or(0, |b| b.get()),
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    title: &format!("Tattoo session: {client} with {artist}"),
                    location: &s.city,
                    link: &link,
                    cancelled: n.kind.starts_with("appointment.cancelled")
                        || n.kind == "appointment.no_show",
                },
                public_url,
            )
        });
    Ok(Email {
        subject,
        text,
        html: Some(html),
        invite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{AppointmentState, BookingState};

    fn notification(kind: &str) -> Notification {
        Notification {
            id: 1,
            kind: kind.into(),
            booking_id: Some(domain::BookingId::new(7)),
            recipient_id: domain::UserId::new(3),
            recipient_email: "c@example.com".into(),
            recipient_name: "Céline".into(),
            subject: String::new(),
            body: String::new(),
            attempts: 1,
            client_name: Some("Ada <b>".into()),
            artist_name: Some("Mira".into()),
            artist_slug: Some("mira".into()),
            recipient_opt_out: vec![],
            session: None,
            payment: None,
        }
    }

    #[test]
    fn every_kind_the_store_records_says_what_happened_what_next_and_links() {
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
                    "booking.quote_revised",
                    "booking.quote_withdrawn",
                    "booking.slots_proposed",
                    "appointment.reminder_48",
                    "appointment.reminder_24",
                    "message",
                    "review",
                    "healed.prompt",
                ]
                .map(String::from),
            );
        for kind in kinds {
            let email = notification_email(&notification(&kind), "https://x/").unwrap();
            assert!(
                !email.subject.contains("update"),
                "{kind}: {}",
                email.subject
            );
            assert!(email.text.starts_with("Hello Céline,"), "{kind}");
            assert!(
                email.text.contains("https://x/bookings/7"),
                "{kind}: {}",
                email.text
            );
            let html = email.html.expect("an HTML part");
            assert!(html.contains("href=\"https://x/bookings/7\""), "{kind}");
            assert!(
                !html.contains("Ada <b>"),
                "{kind}: names are escaped in HTML"
            );
            // The text part says the same as the HTML part, line for line.
            for line in email
                .text
                .lines()
                .filter(|l| l.len() > 20 && !l.contains("http"))
            {
                let escaped = line
                    .replace('\'', "&#39;")
                    .replace('<', "&#60;")
                    .replace('>', "&#62;");
                assert!(
                    html.contains(line) || html.contains(&escaped),
                    "{kind}: {line:?} missing from the HTML"
                );
            }
        }
        let quoted = notification_email(&notification("booking.quoted"), "https://x").unwrap();
        assert_eq!(quoted.subject, "Mira sent you a quote for request #7.");
        assert!(quoted.text.contains("accept the quote before it expires"));
    }

    #[test]
    fn session_emails_say_when_in_the_artists_zone_and_carry_an_invite() {
        let mut n = notification("appointment.reminder_24");
        n.session = Some(storage::SessionTime {
            appointment_id: domain::AppointmentId::new(3),
            starts_at: 1_800_000_000,
            ends_at: 1_800_007_200,
            time_zone: "Europe/Paris".into(),
            city: "Lyon".into(),
        });
        let email = notification_email(&n, "https://tattoo.example").unwrap();
        assert!(
            email.subject.contains("is less than a day away"),
            "{}",
            email.subject
        );
        assert!(
            email
                .text
                .contains("When: Fri 15 Jan 2027, 09:00 CET (120 minutes)."),
            "{}",
            email.text
        );
        let invite = email.invite.expect("an invite");
        assert!(
            invite.contains("UID:session-3@tattoo.example") && invite.contains("LOCATION:Lyon")
        );
        n.kind = "appointment.cancelled_by_artist".into();
        let cancelled = notification_email(&n, "https://tattoo.example").unwrap();
        assert!(
            cancelled.invite.unwrap().contains("STATUS:CANCELLED"),
            "calendars drop it"
        );
        n.kind = "booking.booked".into();
        assert!(
            notification_email(&n, "https://x")
                .unwrap()
                .invite
                .is_none()
        );
    }

    #[test]
    fn optional_emails_link_to_the_settings_and_are_skipped_when_turned_off() {
        let mut message = notification("message");
        let email = notification_email(&message, "https://x").unwrap();
        assert!(email.text.contains("https://x/account/notifications"));
        assert!(!opted_out(&message));
        message.recipient_opt_out = vec!["message".into()];
        assert!(opted_out(&message));
        let mut essential = notification("booking.quoted");
        essential.recipient_opt_out = vec!["booking.quoted".into()];
        assert!(
            !opted_out(&essential),
            "essential emails cannot be turned off"
        );
        let essential = notification_email(&essential, "https://x").unwrap();
        assert!(!essential.text.contains("notification settings"));
    }

    #[test]
    fn books_opening_links_to_the_artist_and_older_rows_keep_their_wording() {
        let mut n = notification("artist.books_open");
        n.booking_id = None;
        let email = notification_email(&n, "https://x").unwrap();
        assert_eq!(email.subject, "Mira has opened their books.");
        assert!(email.text.contains("https://x/artists/mira"));

        let mut n = notification("account.sign_in_failures");
        n.booking_id = None;
        let email = notification_email(&n, "https://x").unwrap();
        assert!(email.subject.contains("Failed sign-ins"));
        assert!(
            email
                .text
                .contains(&format!("{} times", domain::throttle::NOTIFY_AT_FAILURES))
        );
        let mut old = notification("booking.quoted");
        old.subject = "Old subject".into();
        old.body = "Open it: {link}".into();
        assert_eq!(
            notification_email(&old, "https://x").unwrap(),
            Email {
                subject: "Old subject".into(),
                text: "Open it: https://x/bookings/7".into(),
                html: None,
                invite: None,
            }
        );
        assert!(notification_email(&notification("something.else"), "l").is_err());
    }

    #[test]
    fn receipts_and_refunds_name_the_amount_in_its_currency_and_the_reference() {
        let mut n = notification("payment.receipt");
        n.payment = Some(storage::PaymentNote {
            amount_cents: 4_000,
            currency: "eur".into(),
            reference: "pi_123".into(),
        });
        let receipt = notification_email(&n, "https://x").unwrap();
        assert!(receipt.subject.contains("Receipt"), "{}", receipt.subject);
        for part in ["€40", "pi_123", "#7", "Mira", "https://x/bookings/7"] {
            assert!(receipt.text.contains(part), "{part} in {}", receipt.text);
        }
        n.kind = "payment.refunded".into();
        n.payment.as_mut().unwrap().currency = "jpy".into();
        let refund = notification_email(&n, "https://x").unwrap();
        assert!(refund.subject.starts_with("Refund"), "{}", refund.subject);
        assert!(refund.text.contains("4,000"), "{}", refund.text);
        assert!(refund.html.unwrap().contains("refunded to the card"));
        // A payment kind without its payment is a bug to report, not an empty email.
        n.payment = None;
        assert!(notification_email(&n, "https://x").is_err());
    }
}
