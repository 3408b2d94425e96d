//! The pages of the booking flow: the request form, dashboards and a request's own page.

use super::Layout;
use super::format::policy_text;
use crate::error::FieldError;
use askama::Template;

#[derive(Template)]
#[template(path = "booking_new.html")]
pub struct RequestFormPage {
    pub layout: Layout,
    pub artist: storage::ArtistProfile,
    pub errors: Vec<FieldError>,
    pub form: domain::RawRequest,
    pub placements: &'static [&'static str],
    pub sizes: Vec<(&'static str, &'static str)>,
    pub policy: String,
}

impl RequestFormPage {
    pub fn new(
        layout: Layout,
        artist: storage::ArtistProfile,
        errors: Vec<FieldError>,
        form: domain::RawRequest,
    ) -> Self {
        Self {
            policy: policy_text(&artist.policy, artist.currency),
            layout,
            artist,
            errors,
            form,
            placements: domain::request::PLACEMENTS,
            sizes: domain::Size::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
        }
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub layout: Layout,
    /// The artist's own zone, for the calendar.
    pub time_zone: String,
    pub is_artist: bool,
    pub profile_slug: Option<String>,
    pub bookings: Vec<storage::BookingSummary>,
    pub calendar: Vec<storage::Appointment>,
    pub unread: i64,
    /// The artist's private calendar feed.
    pub feed_url: Option<String>,
}

#[derive(Template)]
#[template(path = "booking.html")]
pub struct BookingPage {
    pub layout: Layout,
    pub b: storage::BookingDetail,
    pub messages: Vec<storage::Message>,
    pub is_client: bool,
    pub actor: domain::Actor,
    pub error: Option<String>,
    pub errors: Vec<FieldError>,
    pub other_party: String,
    pub placements_today: String,
    /// The artist's working week.
    pub working: domain::Availability,
    /// Free starts the client may propose, for sessions of `session_minutes`.
    pub free: Vec<i64>,
    pub session_minutes: i64,
    /// Times the client proposed, waiting for the artist.
    pub proposals: Vec<storage::Proposal>,
    /// The zone the viewer reads times in, besides the artist's.
    pub viewer_zone: String,
    pub zones: &'static [String],
    /// Whether clients can pay deposits by card on this site.
    pub card_payments: bool,
    /// The request's card payments, newest first.
    pub payments: Vec<storage::Payment>,
    /// Whether a credited card deposit can go back to the card now.
    pub refundable: bool,
}

impl BookingPage {
    pub fn new(
        layout: Layout,
        b: storage::BookingDetail,
        messages: Vec<storage::Message>,
        actor: domain::Actor,
        error: Option<String>,
        errors: Vec<FieldError>,
        working: domain::Availability,
    ) -> Self {
        let other_party = match actor {
            domain::Actor::Client => b.request.artist_name.clone(),
            _ => b.request.client_name.clone(),
        };
        Self {
            layout,
            is_client: actor == domain::Actor::Client,
            actor,
            messages,
            error,
            errors,
            other_party,
            placements_today: time::OffsetDateTime::now_utc().date().to_string(),
            working,
            free: vec![],
            session_minutes: 0,
            proposals: vec![],
            viewer_zone: b.request.time_zone.clone(),
            zones: crate::clock::zone_names(),
            card_payments: false,
            payments: vec![],
            refundable: false,
            b,
        }
    }

    /// Whether the viewer may take `action` on the request now.
    pub fn can(&self, action: &str) -> bool {
        domain::BookingAction::parse(action)
            .is_ok_and(|a| self.b.request.state.apply(a, self.actor).is_ok())
    }

    /// Whether the viewer may take `action` on session `ap` now.
    pub fn can_on(&self, ap: &storage::Appointment, action: &str) -> bool {
        domain::AppointmentAction::parse(action)
            .is_ok_and(|a| ap.state.apply(a, self.actor).is_ok())
    }

    /// The artist may add sessions to a booked request until the quoted number is reached.
    pub fn can_schedule(&self) -> bool {
        !self.is_client
            && self.b.request.state == domain::BookingState::Booked
            && self.sessions_used() < self.b.request.quote.map_or(1, |q| q.sessions)
    }

    /// The client may propose times while quoted sessions are left to schedule.
    pub fn can_propose(&self) -> bool {
        self.is_client
            && self.b.request.state == domain::BookingState::Booked
            && self.sessions_used() < self.b.request.quote.map_or(1, |q| q.sessions)
    }

    fn sessions_used(&self) -> i64 {
        self.b
            .appointments
            .iter()
            .filter(|a| a.state.is_active() || a.state == domain::AppointmentState::Completed)
            .count() as i64
    }

    /// A time in the artist's zone and, when the viewer reads another, in theirs too.
    pub fn both_zones(&self, at: &i64) -> String {
        let artist = self.local(at);
        if self.viewer_zone == self.b.request.time_zone {
            artist
        } else {
            format!(
                "{artist} (your time: {})",
                crate::clock::local_time(*at, &self.viewer_zone)
            )
        }
    }

    /// The client may share a healed photo once a session is completed.
    pub fn can_share_healed(&self) -> bool {
        self.is_client
            && self
                .b
                .appointments
                .iter()
                .any(|a| a.state == domain::AppointmentState::Completed)
    }

    pub fn styles(&self) -> Vec<(&'static str, &'static str)> {
        domain::Style::ALL
            .iter()
            .map(|s| (s.slug(), s.label()))
            .collect()
    }

    pub fn can_review(&self) -> bool {
        self.is_client
            && self.b.review.is_none()
            && self
                .b
                .appointments
                .iter()
                .any(|a| a.state == domain::AppointmentState::Completed)
    }

    pub fn deadline(&self) -> Option<String> {
        self.b.request.deadline_at.map(|d| self.local(&d))
    }

    /// The artist's working week, shown with the scheduling form.
    pub fn hours(&self) -> String {
        format!("{} ({})", self.working.describe(), self.b.request.time_zone)
    }

    /// One line of the request's history, in words: who did what, and where that left it.
    pub fn history_line(&self, e: &storage::BookingEvent) -> String {
        let who = match e.actor.as_str() {
            "client" => self.b.request.client_name.as_str(),
            "artist" => self.b.request.artist_name.as_str(),
            _ => "Tattoo Marketplace",
        };
        let did = match e.action.as_str() {
            "submit" => "sent the request",
            "complete" => "completed the last planned session",
            other => domain::BookingAction::parse(other)
                .map_or("updated the request", |a| a.past_tense()),
        };
        let now = domain::BookingState::parse(&e.to_state).map_or("", |s| s.label());
        format!("{who} {did}. Now: {now}.")
    }

    /// The signed consent form of session `ap`, if it has one.
    pub fn consent_for(&self, ap: &storage::Appointment) -> Option<&storage::ConsentRecord> {
        self.b.consents.iter().find(|c| c.appointment_id == ap.id)
    }

    /// The deposit the client owes now, formatted, when it is due.
    pub fn deposit_due(&self) -> Option<String> {
        (self.b.request.state == domain::BookingState::DepositPending)
            .then_some(self.b.request.quote)
            .flatten()
            .filter(|q| q.deposit_cents > 0)
            .map(|q| self.b.request.currency.format(q.deposit_cents))
    }

    /// The newest card payment, as a line for the deposit panel.
    pub fn payment_line(&self) -> Option<String> {
        let p = self.payments.first()?;
        Some(match p.status {
            storage::PaymentStatus::Pending => {
                "A card payment was started and is not finished.".to_owned()
            }
            storage::PaymentStatus::Failed => format!(
                "The last card payment did not go through: {}",
                p.failure.as_deref().unwrap_or("the card was declined.")
            ),
            storage::PaymentStatus::Succeeded => {
                "Paid by card: the booking confirms as soon as Stripe tells us.".to_owned()
            }
            storage::PaymentStatus::Refunded => "The card payment was refunded.".to_owned(),
        })
    }

    /// A ledger entry in words, naming how the money moved.
    pub fn ledger_line(&self, l: &storage::LedgerEntry) -> String {
        match (l.entry.as_str(), l.payment_id) {
            ("deposit_paid", Some(_)) => "Deposit paid by card (Stripe)".to_owned(),
            ("deposit_paid", None) => {
                "Deposit paid in cash or by transfer, recorded by the artist".to_owned()
            }
            (entry, _) => self.ledger_label(entry).to_owned(),
        }
    }

    /// A deposit ledger entry in words.
    pub fn ledger_label(&self, entry: &str) -> &'static str {
        match entry {
            "deposit_paid" => "Deposit paid",
            "deposit_refunded" => "Deposit refunded to the card",
            "deposit_credited" => "Deposit kept as credit towards a new session",
            "deposit_forfeited" => "Deposit kept by the artist (late cancellation or no-show)",
            _ => "Deposit entry",
        }
    }

    /// A time in the artist's zone, where the sessions take place.
    pub fn local(&self, at: &i64) -> String {
        crate::clock::local_time(*at, &self.b.request.time_zone)
    }
}
