//! The booking flow as the store sees it: profiles with policies, requests, sessions, consent,
//! messages, reviews, the deadline sweep and the notification outbox.

use crate::Result;
use async_trait::async_trait;
use domain::{
    Actor, AppointmentId, AppointmentState, ArtistId, BookingId, BookingPolicy, BookingState,
    ConsentAnswers, Quote, Rating, RequestDraft, Size, Slot, Style, UserId,
};
use serde::Serialize;
use time::OffsetDateTime;

/// An artist's public profile together with the policy they book by.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
}

/// A booking request as its two participants see it. The client's date of birth is kept for the
/// consent record but never returned.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// The quote on a request.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct QuoteView {
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub sessions: i64,
    pub deposit_cents: i64,
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingEvent {
    pub actor: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub at: i64,
}

/// A movement of deposit money; payment providers will write the same entries later.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub entry: String,
    pub amount_cents: i64,
    pub appointment_id: Option<AppointmentId>,
    pub at: i64,
}

/// Everything on a request's page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingDetail {
    #[serde(flatten)]
    pub request: BookingRequest,
    pub appointments: Vec<Appointment>,
    pub events: Vec<BookingEvent>,
    pub ledger: Vec<LedgerEntry>,
    pub review: Option<Review>,
    pub unread_messages: i64,
    /// Reference images as (image key, thumbnail key).
    #[schema(value_type = Vec<Vec<String>>)]
    pub references: Vec<(String, String)>,
}

/// A request in a dashboard list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: i64,
    pub booking_id: BookingId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub body: String,
    pub created_at: i64,
}

/// A client's review of a completed booking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub id: i64,
    pub booking_id: BookingId,
    pub artist_id: ArtistId,
    pub client_name: String,
    pub rating: u8,
    pub body: String,
    pub created_at: i64,
}

/// What a participant does to a request, with the data that action carries.
#[derive(Debug, Clone)]
pub enum BookingChange {
    RequestInfo { question: String },
    ProvideInfo { answer: String },
    Quote(Quote),
    Decline { reason: String },
    Accept,
    Withdraw,
    DepositPaid,
    Expire,
}

impl BookingChange {
    pub fn action(&self) -> domain::BookingAction {
        use domain::BookingAction as A;
        match self {
            BookingChange::RequestInfo { .. } => A::RequestInfo,
            BookingChange::ProvideInfo { .. } => A::ProvideInfo,
            BookingChange::Quote(_) => A::Quote,
            BookingChange::Decline { .. } => A::Decline,
            BookingChange::Accept => A::Accept,
            BookingChange::Withdraw => A::Withdraw,
            BookingChange::DepositPaid => A::DepositPaid,
            BookingChange::Expire => A::Expire,
        }
    }
}

/// What a participant does to a session.
#[derive(Debug, Clone)]
pub enum AppointmentChange {
    Consent {
        answers: ConsentAnswers,
        ip: String,
        user_agent: String,
    },
    Complete,
    Cancel,
    NoShow,
    Reschedule(Slot),
}

impl AppointmentChange {
    pub fn action(&self) -> domain::AppointmentAction {
        use domain::AppointmentAction as A;
        match self {
            AppointmentChange::Consent { .. } => A::Consent,
            AppointmentChange::Complete => A::Complete,
            AppointmentChange::Cancel => A::Cancel,
            AppointmentChange::NoShow => A::NoShow,
            AppointmentChange::Reschedule(_) => A::Reschedule,
        }
    }
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    pub recipient_email: String,
    pub recipient_name: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

/// The booking flow's storage operations. Every mutation takes the time (`at`, unix seconds) so
/// deadlines can be tested without waiting, and every one checks ownership in the same statement
/// that reads the row: someone else's id behaves exactly like a missing one.
#[async_trait]
pub trait BookingStore: Send + Sync {
    async fn search_artists(&self, query: &ArtistQuery) -> Result<SearchResults>;
    /// Every city with at least one artist, for the search filter.
    async fn cities(&self) -> Result<Vec<String>>;
    async fn artist_by_slug(&self, slug: &str) -> Result<Option<ArtistProfile>>;
    async fn artist_by_id(&self, id: ArtistId) -> Result<Option<ArtistProfile>>;
    async fn artist_for_user(&self, user: UserId) -> Result<Option<ArtistProfile>>;
    /// Creates or updates the signed-in artist's own profile.
    async fn save_artist_settings(
        &self,
        user: UserId,
        settings: ArtistSettings,
    ) -> Result<ArtistProfile>;

    async fn create_request(&self, new: NewRequest, at: i64) -> Result<BookingRequest>;
    async fn booking(&self, id: BookingId, viewer: UserId) -> Result<Option<BookingDetail>>;
    /// The request alone (one query), if `viewer` takes part in it: enough to authorise an
    /// action and to know its artist, time zone and consent needs.
    async fn booking_request(
        &self,
        id: BookingId,
        viewer: UserId,
    ) -> Result<Option<BookingRequest>>;
    /// Whether `key` is a reference image (or its thumbnail) of a request `viewer` takes part in.
    async fn reference_visible(&self, key: &str, viewer: UserId) -> Result<bool>;
    async fn bookings_for(&self, viewer: UserId) -> Result<Vec<BookingSummary>>;
    async fn change_booking(
        &self,
        id: BookingId,
        viewer: UserId,
        change: BookingChange,
        at: i64,
    ) -> Result<BookingRequest>;

    /// Schedules a session on a booked request; overlapping another active session is a conflict.
    async fn schedule(
        &self,
        id: BookingId,
        viewer: UserId,
        slot: Slot,
        at: i64,
    ) -> Result<Appointment>;
    async fn change_appointment(
        &self,
        id: AppointmentId,
        viewer: UserId,
        change: AppointmentChange,
        at: i64,
    ) -> Result<Appointment>;
    /// The request a session belongs to, for routing a session action to its ownership check.
    async fn appointment_booking(&self, id: AppointmentId) -> Result<Option<BookingId>>;
    async fn portfolio(&self, artist: ArtistId, limit: i64) -> Result<Vec<PortfolioEntry>>;
    /// Adds a piece to the signed-in artist's own portfolio.
    async fn add_portfolio_item(
        &self,
        artist_user: UserId,
        item: NewUpload,
    ) -> Result<PortfolioEntry>;
    /// Removes one of the artist's own pieces and returns its image keys for deletion.
    async fn delete_portfolio_item(&self, artist_user: UserId, id: i64)
    -> Result<(String, String)>;
    /// Adds a healed photo the client of a completed booking shares to the artist's portfolio.
    async fn add_healed_photo(
        &self,
        id: BookingId,
        client: UserId,
        item: NewUpload,
    ) -> Result<PortfolioEntry>;
    async fn appointments_for_artist(
        &self,
        artist: ArtistId,
        from: i64,
    ) -> Result<Vec<Appointment>>;

    async fn messages(&self, id: BookingId, viewer: UserId) -> Result<Vec<Message>>;
    async fn post_message(
        &self,
        id: BookingId,
        viewer: UserId,
        body: String,
        at: i64,
    ) -> Result<Message>;
    async fn unread_total(&self, viewer: UserId) -> Result<i64>;

    async fn create_review(
        &self,
        id: BookingId,
        viewer: UserId,
        rating: Rating,
        body: String,
        at: i64,
    ) -> Result<Review>;
    async fn reviews_for_artist(&self, artist: ArtistId, limit: i64) -> Result<Vec<Review>>;

    /// Expires every request whose deadline has passed; safe to run on several instances at once.
    async fn expire_due(&self, at: i64, limit: i64) -> Result<Vec<BookingId>>;

    async fn add_flash(&self, artist_user: UserId, flash: NewFlash) -> Result<FlashDesign>;
    async fn delete_flash(&self, artist_user: UserId, id: i64) -> Result<(String, String)>;
    async fn flash_for_artist(&self, artist: ArtistId, limit: i64) -> Result<Vec<FlashDesign>>;
    async fn flash_design(&self, id: i64) -> Result<Option<FlashDesign>>;
    /// Adds a guest spot for the signed-in artist at the studio named by `studio_slug`.
    async fn add_guest_spot(
        &self,
        artist_user: UserId,
        studio_slug: &str,
        spot: domain::GuestSpot,
    ) -> Result<GuestSpotView>;
    async fn delete_guest_spot(&self, artist_user: UserId, id: i64) -> Result<()>;
    /// Guest spots of an artist ending on or after `from` (YYYY-MM-DD).
    async fn guest_spots_for_artist(
        &self,
        artist: ArtistId,
        from: &str,
    ) -> Result<Vec<GuestSpotView>>;
    /// Every studio as (slug, name, city), for pickers.
    async fn studios(&self) -> Result<Vec<(String, String, String)>>;
    async fn studio(&self, slug: &str, from: &str) -> Result<Option<StudioPage>>;

    /// Asks the clients of sessions completed at least `after` seconds ago for a healed photo,
    /// once per session. Returns how many were asked.
    async fn prompt_healed_photos(&self, at: i64, after: i64, limit: i64) -> Result<usize>;

    /// Claims up to `limit` due notifications for `lease` seconds.
    async fn claim_notifications(
        &self,
        at: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<Notification>>;
    async fn notification_sent(&self, id: i64, at: i64) -> Result<()>;
    async fn notification_failed(&self, id: i64, error: &str, retry_at: i64) -> Result<()>;
    async fn pending_notifications(&self) -> Result<i64>;
}
