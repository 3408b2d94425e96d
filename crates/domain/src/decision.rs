//! What a change to a request or a session means, decided without IO: from the facts the store
//! read under its lock, the change, the artist's policy and the time, the next state, deadlines,
//! deposit ledger entries and who is told. The store only persists the decision.

use crate::{
    Actor, AppointmentAction, AppointmentState, BookingAction, BookingPolicy, BookingState,
    ConsentAnswers, DepositOutcome, Quote, Slot, TransitionError, withdrawal_allowed,
};
use serde::Serialize;

/// The quote on a request, as the request keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuoteView {
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub sessions: i64,
    pub deposit_cents: i64,
}

/// What a participant (or the deadline job) does to a request, with the data that action carries.
#[derive(Debug, Clone)]
pub enum BookingChange {
    RequestInfo { question: String },
    ProvideInfo { answer: String },
    Quote(Quote),
    ReviseQuote(Quote),
    WithdrawQuote { reason: String },
    Decline { reason: String },
    Accept,
    Withdraw,
    DepositPaid,
    Expire,
}

impl BookingChange {
    pub fn action(&self) -> BookingAction {
        use BookingAction as A;
        match self {
            BookingChange::RequestInfo { .. } => A::RequestInfo,
            BookingChange::ProvideInfo { .. } => A::ProvideInfo,
            BookingChange::Quote(_) => A::Quote,
            BookingChange::ReviseQuote(_) => A::ReviseQuote,
            BookingChange::WithdrawQuote { .. } => A::WithdrawQuote,
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
    pub fn action(&self) -> AppointmentAction {
        match self {
            AppointmentChange::Consent { .. } => AppointmentAction::Consent,
            AppointmentChange::Complete => AppointmentAction::Complete,
            AppointmentChange::Cancel => AppointmentAction::Cancel,
            AppointmentChange::NoShow => AppointmentAction::NoShow,
            AppointmentChange::Reschedule(_) => AppointmentAction::Reschedule,
        }
    }
}

/// Why a change was refused. Both messages are safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The change belongs to the other participant (a client quoting, an artist consenting).
    #[error("{0}")]
    WrongParty(String),
    /// A rule of the booking flow refused it (the wrong state, a passed deadline, a limit).
    #[error("{0}")]
    Refused(String),
}

impl From<TransitionError> for Refusal {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::WrongActor { .. } => Refusal::WrongParty(e.to_string()),
            _ => Refusal::Refused(e.to_string()),
        }
    }
}

/// One side of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Client,
    Artist,
}

/// An email to one side about what happened; its wording lives with the email templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub to: Party,
    /// `booking.quoted`, `appointment.cancelled`, …: which email it is.
    pub kind: String,
    /// What happened, as the email's subject names it ("Quoted").
    pub what: &'static str,
}

/// Who hears about a change: the other side, or both when the deadline job acted.
fn others(actor: Actor) -> &'static [Party] {
    match actor {
        Actor::Client => &[Party::Artist],
        Actor::Artist => &[Party::Client],
        Actor::System => &[Party::Client, Party::Artist],
    }
}

fn notices(actor: Actor, kind: String, what: &'static str) -> Vec<Notice> {
    others(actor)
        .iter()
        .map(|&to| Notice {
            to,
            kind: kind.clone(),
            what,
        })
        .collect()
}

/// What the store knows about a request, read under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub state: BookingState,
    pub note: Option<String>,
    pub quote: Option<QuoteView>,
    pub deadline_at: Option<i64>,
    /// Sessions still in the calendar (scheduled or confirmed).
    pub active_sessions: i64,
    pub completed_sessions: i64,
}

/// What a change does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingDecision {
    pub action: BookingAction,
    pub from: BookingState,
    pub to: BookingState,
    pub note: Option<String>,
    pub quote: Option<QuoteView>,
    pub deadline_at: Option<i64>,
    /// The amount to record as a paid deposit.
    pub deposit_paid_cents: Option<i64>,
    pub notices: Vec<Notice>,
}

/// Decides a change to a request by `actor` at `at` (unix seconds).
pub fn decide_booking(
    facts: &RequestFacts,
    actor: Actor,
    change: &BookingChange,
    policy: &BookingPolicy,
    at: i64,
) -> Result<BookingDecision, Refusal> {
    use BookingChange as C;
    let to = facts.state.apply(change.action(), actor)?;
    let past_deadline = facts.deadline_at.is_some_and(|d| d <= at);
    let refuse_late = |why: &str| {
        if past_deadline {
            Err(Refusal::Refused(why.to_owned()))
        } else {
            Ok(())
        }
    };
    let (mut note, mut quote, mut deadline_at) = (facts.note.clone(), facts.quote, None);
    let mut deposit_paid_cents = None;
    match change {
        C::RequestInfo { question } => note = Some(question.clone()),
        C::ProvideInfo { answer } => {
            note = Some(answer.clone());
            deadline_at = Some(at + i64::from(policy.response_hours) * 3600);
        }
        C::Quote(q) | C::ReviseQuote(q) => {
            refuse_late(if matches!(change, C::Quote(_)) {
                "the time to answer this request has passed"
            } else {
                "this quote has expired"
            })?;
            note = None;
            quote = Some(QuoteView {
                price_min_cents: q.price_min_cents,
                price_max_cents: q.price_max_cents,
                sessions: i64::from(q.sessions),
                deposit_cents: q.deposit_cents,
            });
            deadline_at = Some(at + i64::from(q.valid_days) * 86_400);
        }
        C::WithdrawQuote { reason } => {
            refuse_late("this quote has expired")?;
            quote = None;
            note = (!reason.is_empty()).then(|| reason.clone());
            // The request is the artist's to answer again, on the policy's response time.
            deadline_at = Some(at + i64::from(policy.response_hours) * 3600);
        }
        C::Decline { reason } => note = Some(reason.clone()),
        C::Accept => {
            refuse_late("this quote has expired")?;
            deadline_at = Some(at + i64::from(policy.deposit_due_days) * 86_400);
        }
        C::DepositPaid => {
            refuse_late("the deposit deadline has passed")?;
            deposit_paid_cents = Some(quote.map_or(0, |q| q.deposit_cents));
        }
        C::Withdraw => withdrawal_allowed(facts.active_sessions, facts.completed_sessions)?,
        C::Expire => {}
    }
    Ok(BookingDecision {
        action: change.action(),
        from: facts.state,
        to,
        note,
        quote,
        deadline_at,
        deposit_paid_cents,
        notices: match change {
            C::ReviseQuote(_) => notices(actor, "booking.quote_revised".into(), "Quote revised"),
            C::WithdrawQuote { .. } => {
                notices(actor, "booking.quote_withdrawn".into(), "Quote withdrawn")
            }
            _ => notices(actor, format!("booking.{}", to.as_str()), to.label()),
        },
    })
}

/// What the store knows about a session and its request, read under their locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub state: AppointmentState,
    pub starts_at: i64,
    /// The jurisdiction allows a guardian's consent and the client is a minor.
    pub needs_guardian: bool,
    /// A deposit was paid and nothing has been settled from it yet.
    pub deposit_unsettled: bool,
    pub deposit_cents: i64,
    /// Sessions of the request moved to another time so far.
    pub reschedules: i64,
    /// The request's sessions still in the calendar (this one included, if it is).
    pub active_sessions: i64,
    pub completed_sessions: i64,
    /// Sessions the quote planned.
    pub planned_sessions: i64,
}

/// What a change does to a session (and, through it, to its request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDecision {
    pub action: AppointmentAction,
    pub to: AppointmentState,
    /// Consent answers to record, checked.
    pub consent: Option<ConsentAnswers>,
    /// Where the deposit goes, and how much, if this settles it.
    pub settle: Option<(DepositOutcome, i64)>,
    /// The new session a reschedule books.
    pub new_slot: Option<Slot>,
    /// The request's last planned session is done: it becomes `Completed`.
    pub completes_request: bool,
    pub notices: Vec<Notice>,
}

/// Decides a change to a session by `actor` at `at` (unix seconds).
pub fn decide_session(
    facts: &SessionFacts,
    actor: Actor,
    change: &AppointmentChange,
    policy: &BookingPolicy,
    at: i64,
) -> Result<SessionDecision, Refusal> {
    use AppointmentChange as C;
    let to = facts
        .state
        .apply_at(change.action(), actor, facts.starts_at, at)?;
    let settle_as = |outcome| {
        facts
            .deposit_unsettled
            .then_some((outcome, facts.deposit_cents))
    };
    let (mut consent, mut settle, mut new_slot) = (None, None, None);
    match change {
        C::Consent { answers, .. } => {
            let checked = answers
                .clone()
                .validate(facts.needs_guardian)
                .map_err(|e| {
                    Refusal::Refused(
                        e.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?;
            consent = Some(checked);
        }
        C::Complete => {}
        C::Cancel => settle = settle_as(policy.cancellation(actor, facts.starts_at, at)),
        C::NoShow => settle = settle_as(DepositOutcome::Forfeited),
        C::Reschedule(slot) => {
            if facts.reschedules >= i64::from(policy.max_reschedules) {
                return Err(Refusal::Refused(format!(
                    "this booking has been rescheduled {} times, the artist's limit",
                    facts.reschedules
                )));
            }
            new_slot = Some(*slot);
        }
    }
    let completes_request = to == AppointmentState::Completed && {
        let active_after = facts.active_sessions - i64::from(facts.state.is_active());
        crate::booking_completed(
            active_after,
            facts.completed_sessions + 1,
            facts.planned_sessions,
        )
    };
    Ok(SessionDecision {
        action: change.action(),
        to,
        consent,
        settle,
        new_slot,
        completes_request,
        notices: notices(actor, format!("appointment.{}", to.as_str()), to.label())
            .into_iter()
            // The deadline job never acts on sessions; a person's change goes to the other side.
            .filter(|n| actor != Actor::System || n.to == Party::Client)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DepositRule;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn policy() -> BookingPolicy {
        BookingPolicy {
            deposit: DepositRule::Percent { percent: 20 },
            deposit_due_days: 3,
            response_hours: 48,
            notice_hours: 48,
            max_reschedules: 2,
        }
    }

    fn request(state: BookingState) -> RequestFacts {
        RequestFacts {
            state,
            note: Some("earlier note".into()),
            quote: None,
            deadline_at: Some(NOW + DAY),
            active_sessions: 0,
            completed_sessions: 0,
        }
    }

    fn quote() -> Quote {
        Quote::new(20_000, 30_000, 2, 4_000, 14).unwrap()
    }

    #[test]
    fn a_quote_sets_its_terms_and_its_own_deadline_and_tells_the_client() {
        let d = decide_booking(
            &request(BookingState::Submitted),
            Actor::Artist,
            &BookingChange::Quote(quote()),
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(d.to, BookingState::Quoted);
        assert_eq!(
            d.note, None,
            "a quote answers the request; the note is cleared"
        );
        assert_eq!(
            d.quote,
            Some(QuoteView {
                price_min_cents: 20_000,
                price_max_cents: 30_000,
                sessions: 2,
                deposit_cents: 4_000
            })
        );
        assert_eq!(d.deadline_at, Some(NOW + 14 * DAY));
        assert_eq!(
            d.notices,
            [Notice {
                to: Party::Client,
                kind: "booking.quoted".into(),
                what: BookingState::Quoted.label()
            }]
        );
        assert_eq!(d.deposit_paid_cents, None);
    }

    #[test]
    fn a_revised_quote_replaces_the_terms_and_a_withdrawn_one_hands_the_request_back() {
        let mut quoted = request(BookingState::Quoted);
        quoted.quote = Some(QuoteView {
            price_min_cents: 1,
            price_max_cents: 1,
            sessions: 1,
            deposit_cents: 1,
        });
        let revised = decide_booking(
            &quoted,
            Actor::Artist,
            &BookingChange::ReviseQuote(quote()),
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(revised.to, BookingState::Quoted);
        assert_eq!(revised.quote.map(|q| q.price_min_cents), Some(20_000));
        assert_eq!(
            revised.deadline_at,
            Some(NOW + 14 * DAY),
            "a fresh validity"
        );
        assert_eq!(revised.notices[0].kind, "booking.quote_revised");
        assert_eq!(revised.notices[0].to, Party::Client);

        let withdrawn = decide_booking(
            &quoted,
            Actor::Artist,
            &BookingChange::WithdrawQuote {
                reason: "I misread the size".into(),
            },
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(withdrawn.to, BookingState::Submitted);
        assert_eq!(withdrawn.quote, None);
        assert_eq!(withdrawn.note.as_deref(), Some("I misread the size"));
        assert_eq!(withdrawn.deadline_at, Some(NOW + 48 * 3600));
        assert_eq!(withdrawn.notices[0].kind, "booking.quote_withdrawn");

        let mut expired = quoted.clone();
        expired.deadline_at = Some(NOW - 1);
        assert!(
            decide_booking(
                &expired,
                Actor::Artist,
                &BookingChange::ReviseQuote(quote()),
                &policy(),
                NOW
            )
            .is_err(),
            "an expired quote is not revived"
        );
        let mut accepted = quoted;
        accepted.state = BookingState::DepositPending;
        assert!(
            decide_booking(
                &accepted,
                Actor::Artist,
                &BookingChange::ReviseQuote(quote()),
                &policy(),
                NOW
            )
            .is_err(),
            "an accepted quote is final"
        );
    }

    #[test]
    fn answers_and_acceptance_start_the_deadlines_the_policy_sets() {
        let answered = decide_booking(
            &request(BookingState::NeedsInfo),
            Actor::Client,
            &BookingChange::ProvideInfo {
                answer: "left forearm".into(),
            },
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(answered.deadline_at, Some(NOW + 48 * 3600));
        assert_eq!(answered.note.as_deref(), Some("left forearm"));
        assert_eq!(answered.notices[0].to, Party::Artist);

        let mut quoted = request(BookingState::Quoted);
        quoted.quote = Some(QuoteView {
            price_min_cents: 1,
            price_max_cents: 1,
            sessions: 1,
            deposit_cents: 1,
        });
        let accepted = decide_booking(
            &quoted,
            Actor::Client,
            &BookingChange::Accept,
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(accepted.to, BookingState::DepositPending);
        assert_eq!(accepted.deadline_at, Some(NOW + 3 * DAY));
        assert_eq!(accepted.quote, quoted.quote, "the terms stay");
    }

    #[test]
    fn past_their_deadline_quotes_acceptances_and_deposits_are_refused() {
        let late = NOW + 2 * DAY;
        for (state, actor, change, why) in [
            (
                BookingState::Submitted,
                Actor::Artist,
                BookingChange::Quote(quote()),
                "the time to answer this request has passed",
            ),
            (
                BookingState::Quoted,
                Actor::Client,
                BookingChange::Accept,
                "this quote has expired",
            ),
            (
                BookingState::DepositPending,
                Actor::Artist,
                BookingChange::DepositPaid,
                "the deposit deadline has passed",
            ),
        ] {
            assert_eq!(
                decide_booking(&request(state), actor, &change, &policy(), late),
                Err(Refusal::Refused(why.into()))
            );
        }
        // Declining has no deadline.
        assert!(
            decide_booking(
                &request(BookingState::Submitted),
                Actor::Artist,
                &BookingChange::Decline {
                    reason: String::new()
                },
                &policy(),
                late
            )
            .is_ok()
        );
    }

    #[test]
    fn a_paid_deposit_records_the_quoted_amount() {
        let mut facts = request(BookingState::DepositPending);
        facts.quote = Some(QuoteView {
            price_min_cents: 20_000,
            price_max_cents: 20_000,
            sessions: 1,
            deposit_cents: 4_000,
        });
        let d = decide_booking(
            &facts,
            Actor::Artist,
            &BookingChange::DepositPaid,
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(d.to, BookingState::Booked);
        assert_eq!(d.deposit_paid_cents, Some(4_000));
    }

    #[test]
    fn the_wrong_side_and_the_wrong_state_are_told_apart() {
        assert!(matches!(
            decide_booking(
                &request(BookingState::Submitted),
                Actor::Client,
                &BookingChange::Quote(quote()),
                &policy(),
                NOW
            ),
            Err(Refusal::WrongParty(_))
        ));
        assert!(matches!(
            decide_booking(
                &request(BookingState::Declined),
                Actor::Client,
                &BookingChange::Withdraw,
                &policy(),
                NOW
            ),
            Err(Refusal::Refused(_))
        ));
    }

    #[test]
    fn withdrawal_waits_for_cancelled_sessions_and_ends_with_completed_work() {
        let mut booked = request(BookingState::Booked);
        booked.active_sessions = 1;
        let refused = decide_booking(
            &booked,
            Actor::Client,
            &BookingChange::Withdraw,
            &policy(),
            NOW,
        );
        assert!(
            matches!(refused, Err(Refusal::Refused(m)) if m.contains("cancel the scheduled sessions"))
        );
        booked.active_sessions = 0;
        booked.completed_sessions = 1;
        let refused = decide_booking(
            &booked,
            Actor::Client,
            &BookingChange::Withdraw,
            &policy(),
            NOW,
        );
        assert!(matches!(refused, Err(Refusal::Refused(m)) if m.contains("completed")));
        booked.completed_sessions = 0;
        let d = decide_booking(
            &booked,
            Actor::Client,
            &BookingChange::Withdraw,
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(d.to, BookingState::Withdrawn);
    }

    #[test]
    fn expiry_by_the_deadline_job_tells_both_sides() {
        let d = decide_booking(
            &request(BookingState::Quoted),
            Actor::System,
            &BookingChange::Expire,
            &policy(),
            NOW + 2 * DAY,
        )
        .unwrap();
        assert_eq!(d.to, BookingState::Expired);
        let to: Vec<Party> = d.notices.iter().map(|n| n.to).collect();
        assert_eq!(to, [Party::Client, Party::Artist]);
    }

    fn session(state: AppointmentState) -> SessionFacts {
        SessionFacts {
            state,
            starts_at: NOW + 7 * DAY,
            needs_guardian: false,
            deposit_unsettled: true,
            deposit_cents: 4_000,
            reschedules: 0,
            active_sessions: 1,
            completed_sessions: 0,
            planned_sessions: 1,
        }
    }

    #[test]
    fn a_late_cancellation_by_the_client_forfeits_the_deposit_and_an_early_one_credits_it() {
        let facts = session(AppointmentState::Scheduled);
        let early = decide_session(
            &facts,
            Actor::Client,
            &AppointmentChange::Cancel,
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(early.settle, Some((DepositOutcome::Credited, 4_000)));
        assert_eq!(early.notices[0].to, Party::Artist);
        let late_at = facts.starts_at - 3600;
        let late = decide_session(
            &facts,
            Actor::Client,
            &AppointmentChange::Cancel,
            &policy(),
            late_at,
        )
        .unwrap();
        assert_eq!(late.settle, Some((DepositOutcome::Forfeited, 4_000)));
        let by_artist = decide_session(
            &facts,
            Actor::Artist,
            &AppointmentChange::Cancel,
            &policy(),
            late_at,
        )
        .unwrap();
        assert_eq!(by_artist.settle, Some((DepositOutcome::Credited, 4_000)));
    }

    #[test]
    fn a_deposit_is_settled_once() {
        let mut facts = session(AppointmentState::Scheduled);
        facts.deposit_unsettled = false;
        let d = decide_session(
            &facts,
            Actor::Client,
            &AppointmentChange::Cancel,
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(d.settle, None);
        assert_eq!(d.to, AppointmentState::CancelledByClient);
    }

    #[test]
    fn no_show_and_completion_wait_for_the_session_to_start() {
        let facts = session(AppointmentState::Confirmed);
        for change in [AppointmentChange::NoShow, AppointmentChange::Complete] {
            assert!(matches!(
                decide_session(&facts, Actor::Artist, &change, &policy(), NOW),
                Err(Refusal::Refused(m)) if m.contains("before it starts")
            ));
        }
        let started = facts.starts_at + 60;
        let no_show = decide_session(
            &facts,
            Actor::Artist,
            &AppointmentChange::NoShow,
            &policy(),
            started,
        )
        .unwrap();
        assert_eq!(no_show.settle, Some((DepositOutcome::Forfeited, 4_000)));
    }

    #[test]
    fn the_last_planned_session_completes_the_request() {
        let mut facts = session(AppointmentState::Confirmed);
        let after = facts.starts_at + 3600;
        let done = decide_session(
            &facts,
            Actor::Artist,
            &AppointmentChange::Complete,
            &policy(),
            after,
        )
        .unwrap();
        assert!(done.completes_request);
        facts.planned_sessions = 2;
        let first = decide_session(
            &facts,
            Actor::Artist,
            &AppointmentChange::Complete,
            &policy(),
            after,
        )
        .unwrap();
        assert!(!first.completes_request, "one of two sessions done");
        facts.planned_sessions = 1;
        facts.active_sessions = 2;
        let other = decide_session(
            &facts,
            Actor::Artist,
            &AppointmentChange::Complete,
            &policy(),
            after,
        )
        .unwrap();
        assert!(
            !other.completes_request,
            "another session is still in the calendar"
        );
    }

    #[test]
    fn reschedules_stop_at_the_artists_limit() {
        let mut facts = session(AppointmentState::Scheduled);
        let slot = Slot::new(NOW + 10 * DAY, 120, NOW).unwrap();
        let moved = decide_session(
            &facts,
            Actor::Client,
            &AppointmentChange::Reschedule(slot),
            &policy(),
            NOW,
        )
        .unwrap();
        assert_eq!(moved.new_slot, Some(slot));
        assert_eq!(moved.to, AppointmentState::Rescheduled);
        facts.reschedules = 2;
        assert_eq!(
            decide_session(
                &facts,
                Actor::Client,
                &AppointmentChange::Reschedule(slot),
                &policy(),
                NOW
            ),
            Err(Refusal::Refused(
                "this booking has been rescheduled 2 times, the artist's limit".into()
            ))
        );
    }

    #[test]
    fn consent_is_checked_against_the_guardian_rule() {
        let mut facts = session(AppointmentState::Scheduled);
        facts.needs_guardian = true;
        let answers = ConsentAnswers {
            medical_notes: String::new(),
            allergies: String::new(),
            confirms_age: true,
            guardian_name: String::new(),
            aftercare_acknowledged: true,
            photo_permission: false,
            health_sealed: false,
        };
        let change = AppointmentChange::Consent {
            answers,
            ip: "127.0.0.1".into(),
            user_agent: String::new(),
        };
        assert!(matches!(
            decide_session(&facts, Actor::Client, &change, &policy(), NOW),
            Err(Refusal::Refused(_))
        ));
        facts.needs_guardian = false;
        let d = decide_session(&facts, Actor::Client, &change, &policy(), NOW).unwrap();
        assert_eq!(d.to, AppointmentState::Confirmed);
        assert!(d.consent.is_some());
        assert!(matches!(
            decide_session(&facts, Actor::Artist, &change, &policy(), NOW),
            Err(Refusal::WrongParty(_))
        ));
    }
}
