//! Tattoo Marketplace domain: the types and rules every other crate speaks, with no IO.

pub mod account;
pub mod appointment;
pub mod artist;
pub mod audit;
pub mod availability;
pub mod booking;
pub mod consent;
pub mod decision;
pub mod flash;
pub mod ids;
pub mod money;
pub mod policy;
pub mod request;
pub mod throttle;

pub use account::{DisplayName, Email, NewPassword, PasswordError, RegistrableRole, Role};
pub use appointment::{AppointmentAction, AppointmentState};
pub use artist::{PortfolioDraft, SkinTone, Slug, Style};
pub use audit::AuditAction;
pub use availability::Availability;
pub use booking::{
    Actor, BookingAction, BookingState, TransitionError, booking_completed, withdrawal_allowed,
};
pub use decision::{
    AppointmentChange, BookingChange, BookingDecision, Notice, Party, QuoteView, Refusal,
    RequestFacts, SessionDecision, SessionFacts, decide_booking, decide_session,
};
pub use flash::{FlashVariant, GuestSpot};
pub use ids::{AppointmentId, ArtistId, BookingId, PortfolioItemId, StudioId, UserId};
pub use money::Currency;
pub use policy::{BookingPolicy, DepositOutcome, DepositRule};
pub use request::{
    ConsentAnswers, MAX_AMOUNT_CENTS, Quote, Rating, RawRequest, RequestDraft, Size, Slot,
};

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
