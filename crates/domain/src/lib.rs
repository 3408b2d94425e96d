//! Tattoo Marketplace domain: the types and rules every other crate speaks, with no IO.

pub mod account;
pub mod artist;
pub mod booking;
pub mod ids;

pub use account::{DisplayName, Email, NewPassword, PasswordError, RegistrableRole, Role};
pub use artist::{Slug, Style};
pub use booking::BookingState;
pub use ids::{ArtistId, BookingId, PortfolioItemId, StudioId, UserId};

/// Why a piece of input could not become a domain value. The message is safe to show to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParseError {
    pub field: &'static str,
    pub message: String,
}

impl ParseError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
