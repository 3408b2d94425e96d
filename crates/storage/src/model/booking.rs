//! The booking flow's model: profiles with policies, requests, sessions, consent, messages,
//! reviews and notifications.

use domain::{
    Actor, AppointmentId, AppointmentState, ArtistId, BookingId, BookingPolicy, BookingState,
    RequestDraft, Size, Style, UserId,
};
use serde::Serialize;

pub use domain::{AppointmentChange, BookingChange, QuoteView};
use time::OffsetDateTime;

/// An artist's public profile together with the policy they book by.
#[derive(Debug, Clone, Serialize)]
pub struct ArtistProfile {
    pub id: ArtistId,
    /// Internal: visitors need the artist's id, never their account's.
    #[serde(skip)]
    pub user_id: UserId,
    pub slug: String,
    pub display_name: String,
    pub bio: String,
    pub city: String,
    pub country: String,
    /// What the artist prices in; every amount of theirs is in its minor units.
    pub currency: domain::Currency,
    /// How long a session usually lasts, for the free times clients pick from.
    pub session_minutes: i64,
    pub jurisdiction: String,
    pub studio_name: Option<String>,
    pub studio_slug: Option<String>,
    pub styles: Vec<Style>,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub hourly_rate_cents: i64,
    pub books_open: bool,
    pub min_age: u8,
    pub policy: BookingPolicy,
    /// IANA time zone the artist works in; session times are shown in it.
    pub time_zone: String,
    /// Working days and hours, in `time_zone`.
    pub availability: domain::Availability,
    pub rating_count: i64,
    /// Mean rating times 100, so it stays an integer (e.g. 467 is 4.67 stars).
    pub rating_centi: Option<i64>,
}

/// What an artist edits on their settings page.
#[derive(Debug, Clone)]
pub struct ArtistSettings {
    pub slug: domain::Slug,
    pub bio: String,
    pub city: String,
    pub country: String,
    pub jurisdiction: String,
    pub styles: Vec<Style>,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub hourly_rate_cents: i64,
    pub books_open: bool,
    pub min_age: u8,
    pub policy: BookingPolicy,
    pub time_zone: String,
    pub availability: domain::Availability,
    /// The artist's own choice; `None` prices in their country's currency.
    pub currency: Option<domain::Currency>,
    pub session_minutes: i64,
}

/// A booking request as its two participants see it. The client's date of birth is kept for the
/// consent record but never returned.
#[derive(Debug, Clone, Serialize)]
pub struct BookingRequest {
    pub id: BookingId,
    pub client_id: UserId,
    pub client_name: String,
    pub artist_id: ArtistId,
    pub artist_user_id: UserId,
    pub artist_slug: String,
    pub artist_name: String,
    pub jurisdiction: String,
    /// The artist's time zone, in which the request's sessions are shown.
    pub time_zone: String,
    /// The artist's currency: the budget, quote and deposit are in its minor units.
    pub currency: domain::Currency,
    pub state: BookingState,
    pub idea: String,
    pub placement: String,
    pub size: Size,
    pub budget_cents: Option<i64>,
    pub preferred_dates: String,
    pub needs_guardian: bool,
    /// The artist's question, the client's answer or the reason for declining: the latest note.
    pub note: Option<String>,
    pub quote: Option<QuoteView>,
    /// Unix seconds at which the current state expires, if it has a deadline.
    pub deadline_at: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl BookingRequest {
    /// Which side `user` is on, if any.
    pub fn actor_for(&self, user: UserId) -> Option<Actor> {
        if user == self.client_id {
            Some(Actor::Client)
        } else if user == self.artist_user_id {
            Some(Actor::Artist)
        } else {
            None
        }
    }
}

/// One session.
#[derive(Debug, Clone, Serialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub booking_id: BookingId,
    pub artist_id: ArtistId,
    pub starts_at: i64,
    pub ends_at: i64,
    pub state: AppointmentState,
    pub consent_signed_at: Option<i64>,
}

/// One step in a request's history.
#[derive(Debug, Clone, Serialize)]
pub struct BookingEvent {
    pub actor: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub at: i64,
}

/// A movement of deposit money: recorded by the artist, or driven by the payment provider.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub entry: String,
    pub amount_cents: i64,
    pub appointment_id: Option<AppointmentId>,
    pub at: i64,
    /// The card payment behind the entry; none for a deposit the artist recorded by hand.
    pub payment_id: Option<i64>,
}

/// A signed consent form, as both parties may read it (the signer's address and browser are kept
/// as evidence but not shown).
#[derive(Debug, Clone, Serialize)]
pub struct ConsentRecord {
    pub appointment_id: AppointmentId,
    pub session_starts_at: i64,
    pub medical_notes: String,
    pub allergies: String,
    pub confirms_age: bool,
    pub guardian_name: Option<String>,
    pub aftercare_acknowledged: bool,
    pub photo_permission: bool,
    pub jurisdiction: String,
    pub signed_at: i64,
}

/// Everything on a request's page.
#[derive(Debug, Clone, Serialize)]
pub struct BookingDetail {
    #[serde(flatten)]
    pub request: BookingRequest,
    pub appointments: Vec<Appointment>,
    pub events: Vec<BookingEvent>,
    pub ledger: Vec<LedgerEntry>,
    pub review: Option<Review>,
    pub unread_messages: i64,
    /// Reference images as (image key, thumbnail key).
    pub references: Vec<(String, String)>,
    /// The signed consent forms of its sessions.
    pub consents: Vec<ConsentRecord>,
}

/// A request in a dashboard list.
#[derive(Debug, Clone, Serialize)]
pub struct BookingSummary {
    pub id: BookingId,
    /// The artist's time zone, for the next session's time.
    pub time_zone: String,
    pub state: BookingState,
    pub other_party: String,
    pub artist_slug: String,
    pub idea: String,
    pub deadline_at: Option<i64>,
    pub unread_messages: i64,
    pub next_session_at: Option<i64>,
    pub sessions_to_consent: i64,
    pub can_review: bool,
}

/// A message in a booking's thread.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: i64,
    pub booking_id: BookingId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub body: String,
    pub created_at: i64,
}

/// A client's review of a completed booking.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: i64,
    pub booking_id: BookingId,
    pub artist_id: ArtistId,
    pub client_name: String,
    pub rating: u8,
    pub body: String,
    pub created_at: i64,
}

/// A new request, already checked against the age rules by the caller.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub client: UserId,
    pub artist: ArtistId,
    pub draft: RequestDraft,
    pub needs_guardian: bool,
    /// Stored reference images as (image key, thumbnail key).
    pub references: Vec<(String, String)>,
    /// The date of birth as stored: encrypted by the caller (the draft's date is not written).
    pub date_of_birth: String,
    /// The client's age in whole years when they asked: what age rules need, kept in the clear.
    pub age_at_request: i64,
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Open books first, then the longest-standing profiles.
    #[default]
    Featured,
    Rating,
    PriceLow,
    Newest,
}

/// Search filters, already validated. Empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct ArtistQuery {
    pub style: Option<Style>,
    pub city: Option<String>,
    pub max_price_cents: Option<i64>,
    /// Minimum mean rating times 100.
    pub min_rating_centi: Option<i64>,
    pub books_open: bool,
    pub healed_only: bool,
    pub text: Option<String>,
    /// Resident artists of one studio.
    pub studio_id: Option<i64>,
    /// Today (YYYY-MM-DD): with a city, artists with a guest spot there from today on match too.
    pub today: Option<String>,
    pub sort: SearchSort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// One artist in search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    #[serde(flatten)]
    pub card: crate::ArtistCard,
    pub rating_count: i64,
    pub rating_centi: Option<i64>,
}

/// A page of results and how many match in all.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub artists: Vec<SearchHit>,
    pub total: i64,
}

/// One piece in an artist's portfolio.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PortfolioEntry {
    pub id: i64,
    pub title: String,
    pub style: String,
    pub placement: String,
    pub healed: bool,
    pub image_path: String,
    pub thumb_path: String,
    /// Fitzpatrick types, comma separated.
    pub skin_tones: String,
    /// Set on a healed photo a client shared after their session. Internal: the portfolio is
    /// public, and a booking's id is its two parties' business.
    #[serde(skip)]
    pub booking_id: Option<i64>,
}

/// An uploaded piece, with its stored image keys.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub draft: domain::PortfolioDraft,
    pub image_path: String,
    pub thumb_path: String,
}

/// A flash design and the sizes it is offered in.
#[derive(Debug, Clone, Serialize)]
pub struct FlashDesign {
    pub id: i64,
    pub artist_id: ArtistId,
    pub title: String,
    pub style: String,
    pub image_path: String,
    pub thumb_path: String,
    pub variants: Vec<domain::FlashVariant>,
}

/// A new flash design with its stored image keys.
#[derive(Debug, Clone)]
pub struct NewFlash {
    pub title: String,
    pub style: Style,
    pub image_path: String,
    pub thumb_path: String,
    pub variants: Vec<domain::FlashVariant>,
}

/// A guest spot with the names pages show.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct GuestSpotView {
    pub id: i64,
    pub artist_slug: String,
    pub artist_name: String,
    pub studio_slug: String,
    pub studio_name: String,
    pub city: String,
    pub starts_on: String,
    pub ends_on: String,
    pub time_zone: String,
}

/// A studio's page: where it is, its resident artists and upcoming guests.
#[derive(Debug, Clone, Serialize)]
pub struct StudioPage {
    pub slug: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub jurisdiction: String,
    pub members: Vec<crate::ArtistCard>,
    pub guests: Vec<GuestSpotView>,
}

/// An email waiting in the outbox, claimed by one worker for a lease.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub booking_id: Option<BookingId>,
    pub recipient_id: domain::UserId,
    pub recipient_email: String,
    pub recipient_name: String,
    /// Empty for notifications the worker words from its templates (by `kind`); older rows
    /// carry their own text.
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    /// The request's two sides, for the wording of booking notifications (for a notification
    /// about an artist, such as their books opening, the artist).
    pub client_name: Option<String>,
    pub artist_name: Option<String>,
    pub artist_slug: Option<String>,
    /// The optional kinds the recipient turned off.
    pub recipient_opt_out: Vec<String>,
    /// The session the notification is about, if any.
    pub session: Option<SessionTime>,
    /// The card payment a receipt or refund notice is about.
    pub payment: Option<PaymentNote>,
}

/// A card payment as a receipt names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNote {
    pub amount_cents: i64,
    /// ISO 4217, as the payment was made.
    pub currency: String,
    /// The payment provider's reference (a PaymentIntent id).
    pub reference: String,
}

/// When and where a session takes place, for emails and calendar invites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTime {
    pub appointment_id: AppointmentId,
    pub starts_at: i64,
    pub ends_at: i64,
    /// The artist's zone, in which the time is written.
    pub time_zone: String,
    pub city: String,
}
