//! Booking requests: the states a request moves through (GUIDE §4) and the pure transition rules.

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// Who asks for a transition. The background job that enforces deadlines is `System`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Client,
    Artist,
    System,
}

/// Where a booking request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    Submitted,
    NeedsInfo,
    Quoted,
    DepositPending,
    Booked,
    /// Every planned session has been done. Final.
    Completed,
    Declined,
    Withdrawn,
    Expired,
}

impl BookingState {
    pub const ALL: [BookingState; 9] = [
        BookingState::Submitted,
        BookingState::NeedsInfo,
        BookingState::Quoted,
        BookingState::DepositPending,
        BookingState::Booked,
        BookingState::Completed,
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
            BookingState::Completed => "completed",
            BookingState::Declined => "declined",
            BookingState::Withdrawn => "withdrawn",
            BookingState::Expired => "expired",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BookingState::Submitted => "Waiting for the artist",
            BookingState::NeedsInfo => "Artist needs more information",
            BookingState::Quoted => "Quote received",
            BookingState::DepositPending => "Deposit due",
            BookingState::Booked => "Booked",
            BookingState::Completed => "Completed",
            BookingState::Declined => "Declined",
            BookingState::Withdrawn => "Withdrawn",
            BookingState::Expired => "Expired",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ParseError::new("state", format!("unknown booking state {raw:?}")))
    }

    /// Completed, declined, withdrawn and expired requests never move again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BookingState::Completed
                | BookingState::Declined
                | BookingState::Withdrawn
                | BookingState::Expired
        )
    }

    /// States with a deadline the background job enforces (response time, quote validity,
    /// deposit due date).
    pub fn has_deadline(self) -> bool {
        matches!(
            self,
            BookingState::Submitted | BookingState::Quoted | BookingState::DepositPending
        )
    }

    /// The state `action` by `actor` leads to, or why it is not allowed from here.
    pub fn apply(self, action: BookingAction, actor: Actor) -> Result<Self, TransitionError> {
        use BookingAction as A;
        use BookingState as S;
        if !action.allowed_for(actor) {
            return Err(TransitionError::WrongActor {
                action: action.as_str(),
                actor: action.actor(),
            });
        }
        let next = match (self, action) {
            (S::Submitted, A::RequestInfo) => S::NeedsInfo,
            (S::NeedsInfo, A::ProvideInfo) => S::Submitted,
            (S::Submitted, A::Quote) => S::Quoted,
            // Until the client accepts, the artist may change the terms or take them back.
            (S::Quoted, A::ReviseQuote) => S::Quoted,
            (S::Quoted, A::WithdrawQuote) => S::Submitted,
            (S::Submitted | S::NeedsInfo | S::Quoted, A::Decline) => S::Declined,
            (S::Quoted, A::Accept) => S::DepositPending,
            (S::DepositPending, A::DepositPaid) => S::Booked,
            // A booked request is withdrawn only once its sessions are cancelled (checked by the
            // store, which sees them); the deposit rules apply per session.
            (
                S::Submitted | S::NeedsInfo | S::Quoted | S::DepositPending | S::Booked,
                A::Withdraw,
            ) => S::Withdrawn,
            (S::Submitted | S::NeedsInfo | S::Quoted | S::DepositPending, A::Expire) => S::Expired,
            (from, action) => {
                return Err(TransitionError::NotAllowed {
                    from: from.as_str(),
                    action: action.as_str(),
                });
            }
        };
        Ok(next)
    }
}

impl std::fmt::Display for BookingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a participant (or the deadline job) does to a booking request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BookingAction {
    RequestInfo,
    ProvideInfo,
    Quote,
    ReviseQuote,
    WithdrawQuote,
    Decline,
    Accept,
    Withdraw,
    DepositPaid,
    Expire,
}

impl BookingAction {
    pub const ALL: [BookingAction; 10] = [
        BookingAction::RequestInfo,
        BookingAction::ProvideInfo,
        BookingAction::Quote,
        BookingAction::ReviseQuote,
        BookingAction::WithdrawQuote,
        BookingAction::Decline,
        BookingAction::Accept,
        BookingAction::Withdraw,
        BookingAction::DepositPaid,
        BookingAction::Expire,
    ];

    /// The path segment used by `POST /api/v1/booking-requests/{id}/{action}`.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingAction::RequestInfo => "request-info",
            BookingAction::ProvideInfo => "provide-info",
            BookingAction::Quote => "quote",
            BookingAction::ReviseQuote => "revise-quote",
            BookingAction::WithdrawQuote => "withdraw-quote",
            BookingAction::Decline => "decline",
            BookingAction::Accept => "accept",
            BookingAction::Withdraw => "withdraw",
            BookingAction::DepositPaid => "deposit-paid",
            BookingAction::Expire => "expire",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| ParseError::new("action", format!("unknown booking action {raw:?}")))
    }

    /// What the person who took this action is told it did, and what comes next.
    pub fn confirmation(self) -> &'static str {
        match self {
            BookingAction::RequestInfo => {
                "Your question was sent. The request waits for the client's answer."
            }
            BookingAction::ProvideInfo => {
                "Your answer was sent. The artist will reply, quote or ask again."
            }
            BookingAction::Quote => {
                "Quote sent. The client has been emailed and can accept it until it expires."
            }
            BookingAction::ReviseQuote => {
                "Quote revised. The client has been emailed the new terms and a new deadline."
            }
            BookingAction::WithdrawQuote => {
                "Quote withdrawn. The request waits for your new quote, a question or a decline."
            }
            BookingAction::Decline => "Request declined. The client has been told.",
            BookingAction::Accept => {
                "Quote accepted. Pay the deposit by its due date to secure the booking."
            }
            BookingAction::Withdraw => "Request withdrawn. The artist has been told.",
            BookingAction::DepositPaid => {
                "Deposit recorded. The request is booked: schedule its session next."
            }
            BookingAction::Expire => "The request expired.",
        }
    }

    /// The action as a history line reads it, after the name of who took it.
    pub fn past_tense(self) -> &'static str {
        match self {
            BookingAction::RequestInfo => "asked for more information",
            BookingAction::ProvideInfo => "answered the artist's question",
            BookingAction::Quote => "sent a quote",
            BookingAction::ReviseQuote => "revised the quote",
            BookingAction::WithdrawQuote => "withdrew the quote",
            BookingAction::Decline => "declined the request",
            BookingAction::Accept => "accepted the quote",
            BookingAction::Withdraw => "withdrew the request",
            BookingAction::DepositPaid => "recorded the deposit",
            BookingAction::Expire => "let the deadline pass",
        }
    }

    /// Whether `actor` may take this action: its own party, and for a deposit also the platform,
    /// which records it when the payment provider confirms a card payment.
    pub fn allowed_for(self, actor: Actor) -> bool {
        self.actor() == actor || (self == BookingAction::DepositPaid && actor == Actor::System)
    }

    /// The party whose action this is (the platform may also record a deposit paid by card).
    pub fn actor(self) -> Actor {
        match self {
            BookingAction::ProvideInfo | BookingAction::Accept | BookingAction::Withdraw => {
                Actor::Client
            }
            BookingAction::RequestInfo
            | BookingAction::Quote
            | BookingAction::ReviseQuote
            | BookingAction::WithdrawQuote
            | BookingAction::Decline
            | BookingAction::DepositPaid => Actor::Artist,
            BookingAction::Expire => Actor::System,
        }
    }
}

/// Why a transition was refused. Shown to users as a 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} a request that is {from}")]
    NotAllowed {
        from: &'static str,
        action: &'static str,
    },
    #[error("only the {actor:?} can {action}")]
    WrongActor { action: &'static str, actor: Actor },
    #[error("cannot {action} a session before it starts")]
    TooEarly { action: &'static str },
    #[error("{0}")]
    Refused(&'static str),
}

/// Whether a booked request is done: no session is left in the calendar and at least as many
/// sessions were completed as the quote planned. It then becomes `Completed`, a final state
/// that no action leaves (no withdrawal after the work, no new sessions).
pub fn booking_completed(active_sessions: i64, completed_sessions: i64, planned: i64) -> bool {
    active_sessions == 0 && completed_sessions >= planned.max(1)
}

/// Whether a booked request may be withdrawn, given its sessions. Sessions still in the calendar
/// are cancelled first (the deposit rules apply to each); once a session has been completed the
/// work has happened, so there is nothing left to withdraw.
pub fn withdrawal_allowed(
    active_sessions: i64,
    completed_sessions: i64,
) -> Result<(), TransitionError> {
    if completed_sessions > 0 {
        return Err(TransitionError::Refused(
            "a session of this booking has been completed, so it can no longer be withdrawn",
        ));
    }
    if active_sessions > 0 {
        return Err(TransitionError::Refused(
            "cancel the scheduled sessions first; the deposit rules apply to each",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_completes_when_its_planned_sessions_are_done_and_none_is_pending() {
        assert!(booking_completed(0, 1, 1));
        assert!(booking_completed(0, 3, 2));
        assert!(
            !booking_completed(1, 1, 1),
            "another session is still scheduled"
        );
        assert!(!booking_completed(0, 1, 2), "one of two sessions done");
        assert!(
            booking_completed(0, 1, 0),
            "a quote without a count means one session"
        );
        assert!(BookingState::Completed.is_final());
        for action in BookingAction::ALL {
            assert!(
                BookingState::Completed
                    .apply(action, action.actor())
                    .is_err(),
                "{action:?}"
            );
        }
    }

    #[test]
    fn a_booking_with_a_completed_session_cannot_be_withdrawn() {
        assert!(withdrawal_allowed(0, 0).is_ok());
        assert!(withdrawal_allowed(1, 0).is_err());
        assert!(withdrawal_allowed(0, 1).is_err());
        assert!(withdrawal_allowed(2, 3).is_err());
    }
    use proptest::prelude::*;
    use std::collections::{HashSet, VecDeque};

    const ACTORS: [Actor; 3] = [Actor::Client, Actor::Artist, Actor::System];

    fn successors(s: BookingState) -> Vec<BookingState> {
        BookingAction::ALL
            .into_iter()
            .filter_map(|a| s.apply(a, a.actor()).ok())
            .collect()
    }

    fn reachable_from(start: BookingState) -> HashSet<BookingState> {
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(s) = queue.pop_front() {
            for n in successors(s) {
                if seen.insert(n) {
                    queue.push_back(n);
                }
            }
        }
        seen
    }

    #[test]
    fn a_quote_can_be_revised_or_withdrawn_only_until_it_is_accepted() {
        let quoted = BookingState::Quoted;
        assert_eq!(
            quoted.apply(BookingAction::ReviseQuote, Actor::Artist),
            Ok(quoted)
        );
        assert_eq!(
            quoted.apply(BookingAction::WithdrawQuote, Actor::Artist),
            Ok(BookingState::Submitted)
        );
        for action in [BookingAction::ReviseQuote, BookingAction::WithdrawQuote] {
            assert!(quoted.apply(action, Actor::Client).is_err(), "the artist's");
            for later in [
                BookingState::DepositPending,
                BookingState::Booked,
                BookingState::Submitted,
            ] {
                assert!(
                    later.apply(action, Actor::Artist).is_err(),
                    "{later} {action:?}"
                );
            }
        }
    }

    #[test]
    fn every_action_confirms_in_words_not_codes() {
        for a in BookingAction::ALL {
            for text in [a.confirmation(), a.past_tense()] {
                assert!(!text.contains('_') && !text.contains('-'), "{text}");
            }
            assert!(a.confirmation().ends_with('.'), "a sentence");
        }
    }

    #[test]
    fn every_state_round_trips_through_its_text() {
        for s in BookingState::ALL {
            assert_eq!(BookingState::parse(s.as_str()).unwrap(), s);
        }
        for a in BookingAction::ALL {
            assert_eq!(BookingAction::parse(a.as_str()).unwrap(), a);
        }
        assert!(BookingState::parse("paid").is_err());
        assert!(BookingAction::parse("pay").is_err());
    }

    #[test]
    fn the_happy_path_reaches_booked() {
        let s = BookingState::Submitted
            .apply(BookingAction::RequestInfo, Actor::Artist)
            .and_then(|s| s.apply(BookingAction::ProvideInfo, Actor::Client))
            .and_then(|s| s.apply(BookingAction::Quote, Actor::Artist))
            .and_then(|s| s.apply(BookingAction::Accept, Actor::Client))
            .and_then(|s| s.apply(BookingAction::DepositPaid, Actor::Artist));
        assert_eq!(s, Ok(BookingState::Booked));
    }

    #[test]
    fn every_state_is_reachable_from_submitted() {
        // `Completed` follows from the sessions (`booking_completed`), not from an action.
        let all: HashSet<_> = BookingState::ALL
            .into_iter()
            .filter(|s| *s != BookingState::Completed)
            .collect();
        assert_eq!(reachable_from(BookingState::Submitted), all);
    }

    #[test]
    fn every_live_state_has_an_exit_and_final_states_have_none() {
        for s in BookingState::ALL {
            let finals = reachable_from(s)
                .into_iter()
                .filter(|n| n.is_final())
                .count();
            if s.is_final() {
                assert!(successors(s).is_empty(), "{s} moved on");
            } else {
                assert!(finals > 0, "{s} cannot reach a final state");
            }
        }
    }

    #[test]
    fn states_with_deadlines_can_expire() {
        for s in BookingState::ALL.into_iter().filter(|s| s.has_deadline()) {
            assert_eq!(
                s.apply(BookingAction::Expire, Actor::System),
                Ok(BookingState::Expired)
            );
        }
    }

    #[test]
    fn a_deposit_is_recorded_by_the_artist_or_by_the_platform_for_a_card_payment_and_by_no_client()
    {
        let due = BookingState::DepositPending;
        assert_eq!(
            due.apply(BookingAction::DepositPaid, Actor::Artist),
            Ok(BookingState::Booked)
        );
        assert_eq!(
            due.apply(BookingAction::DepositPaid, Actor::System),
            Ok(BookingState::Booked)
        );
        assert!(matches!(
            due.apply(BookingAction::DepositPaid, Actor::Client),
            Err(TransitionError::WrongActor { .. })
        ));
        // The platform records deposits only: it never quotes, accepts or declines.
        for action in BookingAction::ALL {
            if action != BookingAction::DepositPaid && action != BookingAction::Expire {
                assert!(!action.allowed_for(Actor::System), "{action:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn random_walks_only_follow_allowed_transitions(
            steps in proptest::collection::vec((0usize..BookingAction::ALL.len(), 0usize..3), 0..40)
        ) {
            let mut state = BookingState::Submitted;
            for (a, who) in steps {
                let action = BookingAction::ALL[a];
                let actor = ACTORS[who];
                match state.apply(action, actor) {
                    Ok(next) => {
                        prop_assert!(action.allowed_for(actor));
                        prop_assert!(!state.is_final());
                        prop_assert!(successors(state).contains(&next));
                        state = next;
                    }
                    Err(TransitionError::WrongActor { .. }) => prop_assert!(!action.allowed_for(actor)),
                    Err(TransitionError::NotAllowed { .. }) => {
                        prop_assert!(!successors(state).is_empty() || state.is_final());
                    }
                    Err(other) => prop_assert!(false, "a booking state never answers {other}"),
                }
            }
        }
    }
}
