//! An artist's booking policy (deposit, deadlines, notice, reschedules) and the money rules it implies.

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// How the deposit is worked out from a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DepositRule {
    /// A fixed amount, in cents.
    Fixed { cents: i64 },
    /// A share of the quoted minimum price, in whole percent.
    Percent { percent: u8 },
}

/// The rules an artist books by. Parsed from settings forms and stored per artist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BookingPolicy {
    pub deposit: DepositRule,
    /// Days the client has to pay the deposit once they accept a quote.
    pub deposit_due_days: u16,
    /// Hours the artist promises to answer a new request within; after that it expires.
    pub response_hours: u16,
    /// Cancelling a session less than this many hours ahead forfeits the deposit.
    pub notice_hours: u16,
    /// How many times one request's sessions may be moved.
    pub max_reschedules: u8,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            deposit: DepositRule::Percent { percent: 20 },
            deposit_due_days: 3,
            response_hours: 72,
            notice_hours: 48,
            max_reschedules: 2,
        }
    }
}

impl BookingPolicy {
    pub fn parse(
        deposit_kind: &str,
        deposit_value: i64,
        deposit_due_days: i64,
        response_hours: i64,
        notice_hours: i64,
        max_reschedules: i64,
    ) -> Result<Self, ParseError> {
        let deposit = match deposit_kind {
            "fixed" if (0..=100_000_000).contains(&deposit_value) => DepositRule::Fixed {
                cents: deposit_value,
            },
            "percent" if (0..=100).contains(&deposit_value) => DepositRule::Percent {
                percent: deposit_value as u8,
            },
            "fixed" | "percent" => {
                return Err(ParseError::new(
                    "deposit_value",
                    "a fixed deposit is 0 to 1,000,000.00; a percentage is 0 to 100",
                ));
            }
            other => {
                return Err(ParseError::new(
                    "deposit_kind",
                    format!("unknown deposit kind {other:?}: use fixed or percent"),
                ));
            }
        };
        let ranged = |field: &'static str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(ParseError::new(
                    field,
                    format!("must be between {lo} and {hi}"),
                ))
            }
        };
        Ok(Self {
            deposit,
            deposit_due_days: ranged("deposit_due_days", deposit_due_days, 1, 60)? as u16,
            response_hours: ranged("response_hours", response_hours, 1, 720)? as u16,
            notice_hours: ranged("notice_hours", notice_hours, 0, 720)? as u16,
            max_reschedules: ranged("max_reschedules", max_reschedules, 0, 10)? as u8,
        })
    }

    /// The deposit this policy asks for on a quote whose lower bound is `price_min_cents`.
    /// Prices are bounded by `MAX_AMOUNT_CENTS`; the arithmetic is checked all the same, and an
    /// amount out of range asks for no deposit rather than a wrong one (the quote then refuses it).
    pub fn deposit_for(&self, price_min_cents: i64) -> i64 {
        let price = price_min_cents.clamp(0, crate::MAX_AMOUNT_CENTS);
        match self.deposit {
            DepositRule::Fixed { cents } => cents.min(price),
            DepositRule::Percent { percent } => {
                price.checked_mul(i64::from(percent)).map_or(0, |p| p / 100)
            }
        }
    }

    /// What happens to the deposit when `by` cancels a session that starts at `starts_at`
    /// (unix seconds) at `now`.
    pub fn cancellation(&self, by: crate::Actor, starts_at: i64, now: i64) -> DepositOutcome {
        let notice = i64::from(self.notice_hours) * 3600;
        match by {
            crate::Actor::Client if starts_at - now < notice => DepositOutcome::Forfeited,
            _ => DepositOutcome::Credited,
        }
    }
}

/// Where a deposit goes when a session is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositOutcome {
    /// Kept by the artist: the client cancelled inside the notice window.
    Forfeited,
    /// Kept for the client as credit towards a later session (or refunded).
    Credited,
}

impl DepositOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DepositOutcome::Forfeited => "deposit_forfeited",
            DepositOutcome::Credited => "deposit_credited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposits_of_absurd_prices_neither_overflow_nor_vanish() {
        let p = BookingPolicy::parse("percent", 100, 5, 48, 72, 1).unwrap();
        assert_eq!(p.deposit_for(i64::MAX), crate::MAX_AMOUNT_CENTS);
        assert_eq!(p.deposit_for(i64::MIN), 0);
        let fixed = BookingPolicy::parse("fixed", 50_000, 5, 48, 72, 1).unwrap();
        assert_eq!(fixed.deposit_for(i64::MAX), 50_000);
    }
    use crate::Actor;
    use proptest::prelude::*;

    #[test]
    fn policies_parse_and_refuse_out_of_range_values() {
        let p = BookingPolicy::parse("percent", 25, 5, 48, 72, 1).unwrap();
        assert_eq!(p.deposit_for(40_000), 10_000);
        assert!(BookingPolicy::parse("percent", 101, 5, 48, 72, 1).is_err());
        assert!(BookingPolicy::parse("crypto", 1, 5, 48, 72, 1).is_err());
        let e = BookingPolicy::parse("fixed", 5_000, 0, 48, 72, 1).unwrap_err();
        assert_eq!(e.field, "deposit_due_days");
    }

    #[test]
    fn late_client_cancellations_forfeit_and_artist_cancellations_never_do() {
        let p = BookingPolicy::default();
        let start = 1_000_000;
        let late = start - 3600;
        let early = start - 72 * 3600;
        assert_eq!(
            p.cancellation(Actor::Client, start, late),
            DepositOutcome::Forfeited
        );
        assert_eq!(
            p.cancellation(Actor::Client, start, early),
            DepositOutcome::Credited
        );
        assert_eq!(
            p.cancellation(Actor::Artist, start, late),
            DepositOutcome::Credited
        );
    }

    proptest! {
        #[test]
        fn a_deposit_never_exceeds_the_quote(kind in 0..2, value in 0i64..200_000, price in 0i64..10_000_000) {
            let kind = if kind == 0 { "fixed" } else { "percent" };
            if let Ok(p) = BookingPolicy::parse(kind, value, 3, 72, 48, 2) {
                let d = p.deposit_for(price);
                prop_assert!((0..=price).contains(&d));
            }
        }
    }
}
