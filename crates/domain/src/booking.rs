//! Booking requests: the states a request moves through (GUIDE §4).

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// Where a booking request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    Submitted,
    NeedsInfo,
    Quoted,
    DepositPending,
    Booked,
    Declined,
    Withdrawn,
    Expired,
}

impl BookingState {
    pub const ALL: [BookingState; 8] = [
        BookingState::Submitted,
        BookingState::NeedsInfo,
        BookingState::Quoted,
        BookingState::DepositPending,
        BookingState::Booked,
        BookingState::Declined,
        BookingState::Withdrawn,
        BookingState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingState::Submitted => "submitted",
            BookingState::NeedsInfo => "needs_info",
            BookingState::Quoted => "quoted",
            BookingState::DepositPending => "deposit_pending",
            BookingState::Booked => "booked",
            BookingState::Declined => "declined",
            BookingState::Withdrawn => "withdrawn",
            BookingState::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ParseError::new("state", format!("unknown booking state {raw:?}")))
    }

    /// Declined, withdrawn and expired requests never move again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BookingState::Declined | BookingState::Withdrawn | BookingState::Expired
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_text() {
        for s in BookingState::ALL {
            assert_eq!(BookingState::parse(s.as_str()).unwrap(), s);
        }
        assert!(BookingState::parse("paid").is_err());
    }

    #[test]
    fn only_the_three_exits_are_final() {
        let finals: Vec<_> = BookingState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                BookingState::Declined,
                BookingState::Withdrawn,
                BookingState::Expired
            ]
        );
    }
}
