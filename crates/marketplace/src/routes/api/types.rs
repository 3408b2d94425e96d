//! The JSON API's own types: what it shows of the model, built from it with `From`, so the
//! store's shape can change without changing the API, and the OpenAPI schemas describe exactly
//! what is sent. Internal ids (accounts behind artists, bookings behind public work) stay out.

use domain::{
    AppointmentId, AppointmentState, ArtistId, BookingId, BookingPolicy, BookingState, DisplayName,
    Email, FlashVariant, QuoteView, Role, Size, Style, UserId,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The signed-in account.
#[derive(Serialize, ToSchema)]
pub struct User {
    id: UserId,
    email: Email,
    display_name: DisplayName,
    role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// Whether the owner has confirmed the email address (needed to send booking requests).
    email_verified: bool,
    /// Whether sign-in asks for a TOTP code too.
    two_factor: bool,
}

impl From<storage::User> for User {
    fn from(u: storage::User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            created_at: u.created_at,
            email_verified: u.email_verified,
            two_factor: u.two_factor,
        }
    }
}

/// Row counts for the admin overview.
#[derive(Serialize, ToSchema)]
pub struct CatalogueCounts {
    users: i64,
    artists: i64,
    studios: i64,
    portfolio_items: i64,
    cities: i64,
}

impl From<storage::CatalogueCounts> for CatalogueCounts {
    fn from(c: storage::CatalogueCounts) -> Self {
        Self {
            users: c.users,
            artists: c.artists,
            studios: c.studios,
            portfolio_items: c.portfolio_items,
            cities: c.cities,
        }
    }
}

/// An artist as a card in search results.
#[derive(Serialize, ToSchema)]
pub struct ArtistCard {
    id: ArtistId,
    slug: String,
    display_name: String,
    city: String,
    country: String,
    studio_name: Option<String>,
    styles: Vec<Style>,
    books_open: bool,
    /// ISO 4217 code; every amount is in its minor units (cents, or yen for JPY).
    #[schema(value_type = String, example = "EUR")]
    currency: domain::Currency,
    price_min_cents: i64,
    price_max_cents: i64,
    thumb_path: Option<String>,
}

impl From<storage::ArtistCard> for ArtistCard {
    fn from(c: storage::ArtistCard) -> Self {
        Self {
            id: c.id,
            slug: c.slug,
            display_name: c.display_name,
            city: c.city,
            country: c.country,
            studio_name: c.studio_name,
            styles: c.styles,
            books_open: c.books_open,
            currency: c.currency,
            price_min_cents: c.price_min_cents,
            price_max_cents: c.price_max_cents,
            thumb_path: c.thumb_path,
        }
    }
}

/// One artist in search results.
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    card: ArtistCard,
    rating_count: i64,
    rating_centi: Option<i64>,
}

impl From<storage::SearchHit> for SearchHit {
    fn from(h: storage::SearchHit) -> Self {
        Self {
            card: h.card.into(),
            rating_count: h.rating_count,
            rating_centi: h.rating_centi,
        }
    }
}

/// An artist's public profile together with the policy they book by.
#[derive(Serialize, ToSchema)]
pub struct ArtistProfile {
    id: ArtistId,
    slug: String,
    display_name: String,
    bio: String,
    city: String,
    country: String,
    jurisdiction: String,
    studio_name: Option<String>,
    studio_slug: Option<String>,
    styles: Vec<Style>,
    /// ISO 4217 code; every amount is in its minor units (cents, or yen for JPY).
    #[schema(value_type = String, example = "EUR")]
    currency: domain::Currency,
    price_min_cents: i64,
    price_max_cents: i64,
    hourly_rate_cents: i64,
    books_open: bool,
    min_age: u8,
    policy: BookingPolicy,
    /// IANA time zone the artist works in; session times are shown in it.
    time_zone: String,
    /// Working days and hours, in `time_zone`.
    availability: domain::Availability,
    rating_count: i64,
    /// Mean rating times 100, so it stays an integer (e.g. 467 is 4.67 stars).
    rating_centi: Option<i64>,
}

impl From<storage::ArtistProfile> for ArtistProfile {
    fn from(p: storage::ArtistProfile) -> Self {
        Self {
            id: p.id,
            slug: p.slug,
            display_name: p.display_name,
            bio: p.bio,
            city: p.city,
            country: p.country,
            jurisdiction: p.jurisdiction,
            studio_name: p.studio_name,
            studio_slug: p.studio_slug,
            styles: p.styles,
            currency: p.currency,
            price_min_cents: p.price_min_cents,
            price_max_cents: p.price_max_cents,
            hourly_rate_cents: p.hourly_rate_cents,
            books_open: p.books_open,
            min_age: p.min_age,
            policy: p.policy,
            time_zone: p.time_zone,
            availability: p.availability,
            rating_count: p.rating_count,
            rating_centi: p.rating_centi,
        }
    }
}

/// One piece in an artist's portfolio.
#[derive(Serialize, ToSchema)]
pub struct PortfolioEntry {
    id: i64,
    title: String,
    style: String,
    placement: String,
    healed: bool,
    image_path: String,
    thumb_path: String,
    /// Fitzpatrick types, comma separated.
    skin_tones: String,
}

impl From<storage::PortfolioEntry> for PortfolioEntry {
    fn from(p: storage::PortfolioEntry) -> Self {
        Self {
            id: p.id,
            title: p.title,
            style: p.style,
            placement: p.placement,
            healed: p.healed,
            image_path: p.image_path,
            thumb_path: p.thumb_path,
            skin_tones: p.skin_tones,
        }
    }
}

/// A flash design and the sizes it is offered in.
#[derive(Serialize, ToSchema)]
pub struct FlashDesign {
    id: i64,
    artist_id: ArtistId,
    title: String,
    style: String,
    image_path: String,
    thumb_path: String,
    variants: Vec<FlashVariant>,
}

impl From<storage::FlashDesign> for FlashDesign {
    fn from(f: storage::FlashDesign) -> Self {
        Self {
            id: f.id,
            artist_id: f.artist_id,
            title: f.title,
            style: f.style,
            image_path: f.image_path,
            thumb_path: f.thumb_path,
            variants: f.variants,
        }
    }
}

/// A guest spot, with the names pages show.
#[derive(Serialize, ToSchema)]
pub struct GuestSpotView {
    id: i64,
    artist_slug: String,
    artist_name: String,
    studio_slug: String,
    studio_name: String,
    city: String,
    starts_on: String,
    ends_on: String,
    time_zone: String,
}

impl From<storage::GuestSpotView> for GuestSpotView {
    fn from(g: storage::GuestSpotView) -> Self {
        Self {
            id: g.id,
            artist_slug: g.artist_slug,
            artist_name: g.artist_name,
            studio_slug: g.studio_slug,
            studio_name: g.studio_name,
            city: g.city,
            starts_on: g.starts_on,
            ends_on: g.ends_on,
            time_zone: g.time_zone,
        }
    }
}

/// A booking request as its two participants see it. The client's date of birth is kept for the
/// consent record but never returned.
#[derive(Serialize, ToSchema)]
pub struct BookingRequest {
    id: BookingId,
    client_id: UserId,
    client_name: String,
    artist_id: ArtistId,
    artist_user_id: UserId,
    artist_slug: String,
    artist_name: String,
    jurisdiction: String,
    /// The artist's time zone, in which the request's sessions are shown.
    time_zone: String,
    state: BookingState,
    idea: String,
    placement: String,
    size: Size,
    /// ISO 4217 code of the artist's currency: the budget, quote and deposit are in its minor
    /// units.
    #[schema(value_type = String, example = "EUR")]
    currency: domain::Currency,
    budget_cents: Option<i64>,
    preferred_dates: String,
    needs_guardian: bool,
    /// The artist's question, the client's answer or the reason for declining: the latest note.
    note: Option<String>,
    quote: Option<QuoteView>,
    /// Unix seconds at which the current state expires, if it has a deadline.
    deadline_at: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<storage::BookingRequest> for BookingRequest {
    fn from(r: storage::BookingRequest) -> Self {
        Self {
            id: r.id,
            client_id: r.client_id,
            client_name: r.client_name,
            artist_id: r.artist_id,
            artist_user_id: r.artist_user_id,
            artist_slug: r.artist_slug,
            artist_name: r.artist_name,
            jurisdiction: r.jurisdiction,
            time_zone: r.time_zone,
            state: r.state,
            idea: r.idea,
            placement: r.placement,
            size: r.size,
            currency: r.currency,
            budget_cents: r.budget_cents,
            preferred_dates: r.preferred_dates,
            needs_guardian: r.needs_guardian,
            note: r.note,
            quote: r.quote,
            deadline_at: r.deadline_at,
            created_at: r.created_at,
        }
    }
}

/// One session.
#[derive(Serialize, ToSchema)]
pub struct Appointment {
    id: AppointmentId,
    booking_id: BookingId,
    artist_id: ArtistId,
    starts_at: i64,
    ends_at: i64,
    state: AppointmentState,
    consent_signed_at: Option<i64>,
}

impl From<storage::Appointment> for Appointment {
    fn from(a: storage::Appointment) -> Self {
        Self {
            id: a.id,
            booking_id: a.booking_id,
            artist_id: a.artist_id,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            state: a.state,
            consent_signed_at: a.consent_signed_at,
        }
    }
}

/// One step in a request's history.
#[derive(Serialize, ToSchema)]
pub struct BookingEvent {
    actor: String,
    action: String,
    from_state: String,
    to_state: String,
    at: i64,
}

impl From<storage::BookingEvent> for BookingEvent {
    fn from(e: storage::BookingEvent) -> Self {
        Self {
            actor: e.actor,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            at: e.at,
        }
    }
}

/// A movement of deposit money: recorded by the artist by hand, or driven by the payment
/// provider's events for a card payment.
#[derive(Serialize, ToSchema)]
pub struct LedgerEntry {
    entry: String,
    amount_cents: i64,
    appointment_id: Option<AppointmentId>,
    at: i64,
    /// `card` (through Stripe) or `recorded` (cash or transfer, entered by the artist).
    #[schema(example = "card")]
    method: &'static str,
}

impl From<storage::LedgerEntry> for LedgerEntry {
    fn from(l: storage::LedgerEntry) -> Self {
        Self {
            entry: l.entry,
            amount_cents: l.amount_cents,
            appointment_id: l.appointment_id,
            at: l.at,
            method: if l.payment_id.is_some() {
                "card"
            } else {
                "recorded"
            },
        }
    }
}

/// A signed consent form of one session, as the booking's two participants read it. Signed
/// forms never change.
#[derive(Serialize, ToSchema)]
pub struct ConsentRecord {
    appointment_id: AppointmentId,
    session_starts_at: i64,
    medical_notes: String,
    allergies: String,
    confirms_age: bool,
    guardian_name: Option<String>,
    aftercare_acknowledged: bool,
    photo_permission: bool,
    /// The jurisdiction whose age and consent rules applied.
    jurisdiction: String,
    signed_at: i64,
}

impl From<storage::ConsentRecord> for ConsentRecord {
    fn from(c: storage::ConsentRecord) -> Self {
        Self {
            appointment_id: c.appointment_id,
            session_starts_at: c.session_starts_at,
            medical_notes: c.medical_notes,
            allergies: c.allergies,
            confirms_age: c.confirms_age,
            guardian_name: c.guardian_name,
            aftercare_acknowledged: c.aftercare_acknowledged,
            photo_permission: c.photo_permission,
            jurisdiction: c.jurisdiction,
            signed_at: c.signed_at,
        }
    }
}

/// A client's review of a completed booking, as its two participants see it.
#[derive(Serialize, ToSchema)]
pub struct Review {
    id: i64,
    booking_id: BookingId,
    artist_id: ArtistId,
    client_name: String,
    rating: u8,
    body: String,
    created_at: i64,
}

impl From<storage::Review> for Review {
    fn from(r: storage::Review) -> Self {
        Self {
            id: r.id,
            booking_id: r.booking_id,
            artist_id: r.artist_id,
            client_name: r.client_name,
            rating: r.rating,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

/// Everything on a request's page.
#[derive(Serialize, ToSchema)]
pub struct BookingDetail {
    #[serde(flatten)]
    request: BookingRequest,
    appointments: Vec<Appointment>,
    events: Vec<BookingEvent>,
    ledger: Vec<LedgerEntry>,
    review: Option<Review>,
    unread_messages: i64,
    /// Reference images as (image key, thumbnail key).
    #[schema(value_type = Vec<Vec<String>>)]
    references: Vec<(String, String)>,
    /// Signed consent forms; `/bookings/{id}/sessions/{appointment}/consent.pdf` prints one.
    consents: Vec<ConsentRecord>,
}

impl From<storage::BookingDetail> for BookingDetail {
    fn from(d: storage::BookingDetail) -> Self {
        Self {
            request: d.request.into(),
            appointments: d.appointments.into_iter().map(Into::into).collect(),
            events: d.events.into_iter().map(Into::into).collect(),
            ledger: d.ledger.into_iter().map(Into::into).collect(),
            review: d.review.map(Into::into),
            unread_messages: d.unread_messages,
            references: d.references,
            consents: d.consents.into_iter().map(Into::into).collect(),
        }
    }
}

/// A request in a dashboard list.
#[derive(Serialize, ToSchema)]
pub struct BookingSummary {
    id: BookingId,
    /// The artist's time zone, for the next session's time.
    time_zone: String,
    state: BookingState,
    other_party: String,
    artist_slug: String,
    idea: String,
    deadline_at: Option<i64>,
    unread_messages: i64,
    next_session_at: Option<i64>,
    sessions_to_consent: i64,
    can_review: bool,
}

impl From<storage::BookingSummary> for BookingSummary {
    fn from(s: storage::BookingSummary) -> Self {
        Self {
            id: s.id,
            time_zone: s.time_zone,
            state: s.state,
            other_party: s.other_party,
            artist_slug: s.artist_slug,
            idea: s.idea,
            deadline_at: s.deadline_at,
            unread_messages: s.unread_messages,
            next_session_at: s.next_session_at,
            sessions_to_consent: s.sessions_to_consent,
            can_review: s.can_review,
        }
    }
}

/// A message in a booking's thread.
#[derive(Serialize, ToSchema)]
pub struct Message {
    id: i64,
    booking_id: BookingId,
    sender_id: UserId,
    sender_name: String,
    body: String,
    created_at: i64,
}

impl From<storage::Message> for Message {
    fn from(m: storage::Message) -> Self {
        Self {
            id: m.id,
            booking_id: m.booking_id,
            sender_id: m.sender_id,
            sender_name: m.sender_name,
            body: m.body,
            created_at: m.created_at,
        }
    }
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

impl From<storage::Review> for PublicReview {
    fn from(r: storage::Review) -> Self {
        Self {
            id: r.id,
            client_name: r.client_name,
            rating: r.rating,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

/// Converts every item of a list.
pub fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}
