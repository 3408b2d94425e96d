//! The values the store takes and returns.

use domain::{ArtistId, BookingState, DisplayName, Email, Role, Slug, Style, UserId};
use time::OffsetDateTime;

mod booking;
pub use booking::*;

/// A user as the rest of the service sees it; never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether the owner has confirmed the email address (needed to send booking requests).
    pub email_verified: bool,
    /// Raised to end every session (password reset, "sign out everywhere"). Internal.
    #[serde(skip)]
    pub session_epoch: i64,
    /// Whether sign-in asks for a TOTP code too.
    pub two_factor: bool,
}

/// A user with the stored password hash, for sign-in only.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// An account to create. The password is already hashed.
#[derive(Clone)]
pub struct NewUser {
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    pub password_hash: String,
}

/// A studio in a catalogue batch.
#[derive(Debug, Clone)]
pub struct NewStudio {
    pub slug: Slug,
    pub name: String,
    pub city: String,
    pub country: String,
    pub jurisdiction: String,
}

/// An artist profile in a catalogue batch; `user` and `studio` index the batch's own lists.
#[derive(Debug, Clone)]
pub struct NewArtist {
    pub user: usize,
    pub studio: Option<usize>,
    pub slug: Slug,
    pub bio: String,
    pub city: String,
    pub country: String,
    pub jurisdiction: String,
    pub styles: Vec<Style>,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub hourly_rate_cents: i64,
    pub books_open: bool,
    pub min_age: i64,
    /// IANA time zone, e.g. Europe/Berlin.
    pub time_zone: String,
}

/// A portfolio item in a catalogue batch; `artist` indexes the batch's artists.
#[derive(Debug, Clone)]
pub struct NewPortfolioItem {
    pub artist: usize,
    pub title: String,
    pub style: Style,
    pub placement: String,
    pub healed: bool,
    pub image_path: String,
    pub thumb_path: String,
}

/// A booking request in a catalogue batch; `client` indexes users, `artist` indexes artists.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub client: usize,
    pub artist: usize,
    pub state: BookingState,
    pub idea: String,
    pub placement: String,
    pub size: String,
    pub created_at: OffsetDateTime,
}

/// Everything a seed or import writes, linked by position so it can be written atomically.
#[derive(Default, Clone)]
pub struct CatalogueBatch {
    pub users: Vec<NewUser>,
    pub studios: Vec<NewStudio>,
    pub artists: Vec<NewArtist>,
    pub portfolio: Vec<NewPortfolioItem>,
    pub bookings: Vec<NewBooking>,
    pub flash: Vec<NewFlashItem>,
}

/// A flash design in a catalogue batch; `artist` indexes the batch's artists.
#[derive(Debug, Clone)]
pub struct NewFlashItem {
    pub artist: usize,
    pub flash: crate::NewFlash,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportSummary {
    pub users: usize,
    pub studios: usize,
    pub artists: usize,
    pub portfolio_items: usize,
    pub bookings: usize,
    pub flash_designs: usize,
}

/// Row counts for the home page and the admin overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CatalogueCounts {
    pub users: i64,
    pub artists: i64,
    pub studios: i64,
    pub portfolio_items: i64,
    pub cities: i64,
}

/// An artist as shown on a card in listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArtistCard {
    pub id: ArtistId,
    pub slug: String,
    pub display_name: String,
    pub city: String,
    pub country: String,
    pub currency: domain::Currency,
    pub studio_name: Option<String>,
    pub styles: Vec<Style>,
    pub books_open: bool,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub thumb_path: Option<String>,
}

/// How the database schema relates to the migrations this binary embeds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaStatus {
    /// Highest successfully applied version, if any.
    pub current: Option<i64>,
    /// Highest version this binary knows.
    pub expected: i64,
    /// Embedded versions not yet applied.
    pub pending: Vec<i64>,
    /// Versions whose application failed half-way.
    pub dirty: Vec<i64>,
}

impl SchemaStatus {
    /// A newer schema is compatible (migrations are expand/contract); a missing or failed one is not.
    pub fn is_compatible(&self) -> bool {
        self.pending.is_empty() && self.dirty.is_empty()
    }
}

/// Connection pool occupancy, exported as gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// A TOTP second factor as stored.
#[derive(Debug, Clone)]
pub struct TwoFactor {
    /// Base32, as authenticator apps take it.
    pub secret: String,
    /// The last time step a code was accepted for.
    pub last_step: i64,
    /// SHA-256 hex hashes of the unused recovery codes.
    pub recovery: Vec<String>,
}

/// A signed-in browser of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Random and only ever compared; it names the browser's session on the sessions page.
    pub id: String,
    /// The browser, as its User-Agent names it.
    pub label: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}
