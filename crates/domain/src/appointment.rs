//! Sessions (appointments) of a booked request: their states and pure transition rules.

use crate::ParseError;
use crate::booking::{Actor, TransitionError};
use serde::{Deserialize, Serialize};

/// Where one tattoo session stands. Only `Scheduled` and `Confirmed` hold the artist's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    Scheduled,
    Confirmed,
    Completed,
    Rescheduled,
    CancelledByClient,
    CancelledByArtist,
    NoShow,
}

impl AppointmentState {
    pub const ALL: [AppointmentState; 7] = [
        AppointmentState::Scheduled,
        AppointmentState::Confirmed,
        AppointmentState::Completed,
        AppointmentState::Rescheduled,
        AppointmentState::CancelledByClient,
        AppointmentState::CancelledByArtist,
        AppointmentState::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentState::Scheduled => "scheduled",
            AppointmentState::Confirmed => "confirmed",
            AppointmentState::Completed => "completed",
            AppointmentState::Rescheduled => "rescheduled",
            AppointmentState::CancelledByClient => "cancelled_by_client",
            AppointmentState::CancelledByArtist => "cancelled_by_artist",
            AppointmentState::NoShow => "no_show",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AppointmentState::Scheduled => "Scheduled: consent form to sign",
            AppointmentState::Confirmed => "Confirmed",
            AppointmentState::Completed => "Completed",
            AppointmentState::Rescheduled => "Rescheduled",
            AppointmentState::CancelledByClient => "Cancelled by the client",
            AppointmentState::CancelledByArtist => "Cancelled by the artist",
            AppointmentState::NoShow => "No-show",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ParseError::new("state", format!("unknown appointment state {raw:?}")))
    }

    /// Whether the session still occupies the artist's calendar (the no-overlap rule).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AppointmentState::Scheduled | AppointmentState::Confirmed
        )
    }

    /// The state `action` by `actor` leads to. Cancelling records who cancelled.
    pub fn apply(self, action: AppointmentAction, actor: Actor) -> Result<Self, TransitionError> {
        use AppointmentAction as A;
        use AppointmentState as S;
        if !action.allows(actor) {
            return Err(TransitionError::WrongActor {
                action: action.as_str(),
                actor: match action {
                    A::Consent => Actor::Client,
                    _ => Actor::Artist,
                },
            });
        }
        let next = match (self, action, actor) {
            (S::Scheduled, A::Consent, _) => S::Confirmed,
            (S::Confirmed, A::Complete, _) => S::Completed,
            (S::Scheduled | S::Confirmed, A::Cancel, Actor::Client) => S::CancelledByClient,
            (S::Scheduled | S::Confirmed, A::Cancel, _) => S::CancelledByArtist,
            (S::Scheduled | S::Confirmed, A::NoShow, _) => S::NoShow,
            (S::Scheduled | S::Confirmed, A::Reschedule, _) => S::Rescheduled,
            (from, action, _) => {
                return Err(TransitionError::NotAllowed {
                    from: from.as_str(),
                    action: action.as_str(),
                });
            }
        };
        Ok(next)
    }

    /// `apply`, for a session starting at `starts_at` at time `now` (unix seconds). Completing a
    /// session or marking a no-show records what happened at it, so neither is possible before
    /// it starts: otherwise a deposit could be forfeited, or a review opened, weeks ahead.
    pub fn apply_at(
        self,
        action: AppointmentAction,
        actor: Actor,
        starts_at: i64,
        now: i64,
    ) -> Result<Self, TransitionError> {
        let next = self.apply(action, actor)?;
        if matches!(
            action,
            AppointmentAction::Complete | AppointmentAction::NoShow
        ) && now < starts_at
        {
            return Err(TransitionError::TooEarly {
                action: action.as_str(),
            });
        }
        Ok(next)
    }
}

/// Something done to one session, as in `POST /api/v1/appointments/{id}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppointmentAction {
    Consent,
    Complete,
    Cancel,
    NoShow,
    Reschedule,
}

impl AppointmentAction {
    pub const ALL: [AppointmentAction; 5] = [
        AppointmentAction::Consent,
        AppointmentAction::Complete,
        AppointmentAction::Cancel,
        AppointmentAction::NoShow,
        AppointmentAction::Reschedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentAction::Consent => "consent",
            AppointmentAction::Complete => "complete",
            AppointmentAction::Cancel => "cancel",
            AppointmentAction::NoShow => "no-show",
            AppointmentAction::Reschedule => "reschedule",
        }
    }

    /// What the person who took this action is told it did.
    pub fn confirmation(self) -> &'static str {
        match self {
            AppointmentAction::Consent => {
                "Consent form signed. The artist can read it before your session."
            }
            AppointmentAction::Complete => "Session marked completed.",
            AppointmentAction::Cancel => {
                "Session cancelled. The other party has been told; the deposit rules were applied."
            }
            AppointmentAction::NoShow => "Recorded as a no-show.",
            AppointmentAction::Reschedule => "Session moved. The other party has been told.",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| ParseError::new("action", format!("unknown appointment action {raw:?}")))
    }

    /// Consent is the client's; completing and no-shows the artist's; either side may cancel or
    /// reschedule.
    pub fn allows(self, actor: Actor) -> bool {
        match self {
            AppointmentAction::Consent => actor == Actor::Client,
            AppointmentAction::Complete | AppointmentAction::NoShow => actor == Actor::Artist,
            AppointmentAction::Cancel | AppointmentAction::Reschedule => actor != Actor::System,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACTORS: [Actor; 3] = [Actor::Client, Actor::Artist, Actor::System];

    #[test]
    fn texts_round_trip() {
        for s in AppointmentState::ALL {
            assert_eq!(AppointmentState::parse(s.as_str()).unwrap(), s);
        }
        for a in AppointmentAction::ALL {
            assert_eq!(AppointmentAction::parse(a.as_str()).unwrap(), a);
        }
        assert!(AppointmentAction::parse("postpone").is_err());
    }

    #[test]
    fn a_session_is_completed_only_after_consent() {
        let s = AppointmentState::Scheduled;
        assert!(s.apply(AppointmentAction::Complete, Actor::Artist).is_err());
        let s = s.apply(AppointmentAction::Consent, Actor::Client).unwrap();
        assert_eq!(
            s.apply(AppointmentAction::Complete, Actor::Artist),
            Ok(AppointmentState::Completed)
        );
    }

    #[test]
    fn every_active_state_has_an_exit_and_others_have_none() {
        for s in AppointmentState::ALL {
            let exits = AppointmentAction::ALL
                .into_iter()
                .flat_map(|a| ACTORS.map(|who| s.apply(a, who)))
                .filter(Result::is_ok)
                .count();
            assert_eq!(exits > 0, s.is_active(), "{s:?}");
        }
    }

    #[test]
    fn a_session_is_completed_or_missed_only_once_it_has_started() {
        let starts = 1_000_000;
        let confirmed = AppointmentState::Confirmed;
        for action in [AppointmentAction::Complete, AppointmentAction::NoShow] {
            assert_eq!(
                confirmed.apply_at(action, Actor::Artist, starts, starts - 70 * 86_400),
                Err(TransitionError::TooEarly {
                    action: action.as_str()
                })
            );
            assert_eq!(
                confirmed.apply_at(action, Actor::Artist, starts, starts - 1),
                Err(TransitionError::TooEarly {
                    action: action.as_str()
                })
            );
            assert!(
                confirmed
                    .apply_at(action, Actor::Artist, starts, starts)
                    .is_ok()
            );
        }
        // Cancelling and rescheduling ahead of time stay possible.
        for action in [AppointmentAction::Cancel, AppointmentAction::Reschedule] {
            assert!(confirmed.apply_at(action, Actor::Artist, starts, 0).is_ok());
        }
    }

    proptest! {
        #[test]
        fn no_transition_leaves_a_finished_session(
            steps in proptest::collection::vec((0usize..5, 0usize..3), 0..30)
        ) {
            let mut state = AppointmentState::Scheduled;
            for (a, who) in steps {
                let (action, actor) = (AppointmentAction::ALL[a], ACTORS[who]);
                if let Ok(next) = state.apply(action, actor) {
                    prop_assert!(state.is_active());
                    prop_assert!(action.allows(actor));
                    if action == AppointmentAction::Cancel {
                        let expected = if actor == Actor::Client {
                            AppointmentState::CancelledByClient
                        } else {
                            AppointmentState::CancelledByArtist
                        };
                        prop_assert_eq!(next, expected);
                    }
                    state = next;
                }
            }
        }
    }
}
