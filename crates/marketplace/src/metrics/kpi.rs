//! Business and engagement KPIs: counters bumped after the change they count has committed,
//! with label values from closed sets only (roles, states, funnel steps), never ids or text.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

/// The booking funnel, in order: each step is counted once per event that reaches it.
pub const FUNNEL: [&str; 5] = ["search", "profile_view", "request", "quote", "booked"];

/// Hours buckets for an artist's first answer: the spec's response deadline is days, not seconds.
const RESPONSE_HOURS: &[f64] = &[0.25, 1.0, 4.0, 12.0, 24.0, 48.0, 72.0, 168.0];

#[derive(Clone)]
pub struct Kpis {
    registrations: IntCounterVec,
    state_changes: IntCounterVec,
    deposits: IntCounter,
    sessions_completed: IntCounter,
    reviews: IntCounter,
    messages: IntCounter,
    funnel: IntCounterVec,
    active_users: IntCounterVec,
    first_response: Histogram,
    /// Set on ECS: each event is also an Embedded Metric Format line for CloudWatch.
    emf: Option<std::sync::Arc<super::emf::Emf>>,
}

impl Kpis {
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let registrations = IntCounterVec::new(
            Opts::new(
                "marketplace_kpi_registrations_total",
                "Accounts registered, by role",
            ),
            &["role"],
        )
        .expect("valid metric");
        let state_changes = IntCounterVec::new(
            Opts::new(
                "marketplace_kpi_booking_state_changes_total",
                "Booking request state changes, by the state left and the state reached",
            ),
            &["from", "to"],
        )
        .expect("valid metric");
        let funnel = IntCounterVec::new(
            Opts::new(
                "marketplace_kpi_funnel_total",
                "Search, artist profile view, booking request, quote and booked, as they happen",
            ),
            &["step"],
        )
        .expect("valid metric");
        let first_response = Histogram::with_opts(
            HistogramOpts::new(
                "marketplace_kpi_artist_first_response_hours",
                "Hours from a booking request to the artist's first answer",
            )
            .buckets(RESPONSE_HOURS.to_vec()),
        )
        .expect("valid metric");
        for role in ["client", "artist", "studio_owner"] {
            registrations.with_label_values(&[role]);
        }
        for step in FUNNEL {
            funnel.with_label_values(&[step]);
        }
        let active_users = IntCounterVec::new(
            Opts::new(
                "marketplace_kpi_active_users_total",
                "Accounts seen signed in for the first time in a UTC day or an ISO week: its \
                 increase over that day or week is the daily or weekly active users",
            ),
            &["window"],
        )
        .expect("valid metric");
        for window in ["day", "week"] {
            active_users.with_label_values(&[window]);
        }
        let kpis = Self {
            registrations,
            state_changes,
            deposits: counter(
                "marketplace_kpi_deposits_recorded_total",
                "Deposits recorded as paid (by the artist or by card)",
            ),
            sessions_completed: counter(
                "marketplace_kpi_sessions_completed_total",
                "Tattoo sessions marked done",
            ),
            reviews: counter("marketplace_kpi_reviews_total", "Reviews published"),
            messages: counter(
                "marketplace_kpi_messages_total",
                "Messages sent in booking threads",
            ),
            funnel,
            active_users,
            first_response,
            emf: None,
        };
        for collector in [
            Box::new(kpis.registrations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(kpis.state_changes.clone()),
            Box::new(kpis.deposits.clone()),
            Box::new(kpis.sessions_completed.clone()),
            Box::new(kpis.reviews.clone()),
            Box::new(kpis.messages.clone()),
            Box::new(kpis.funnel.clone()),
            Box::new(kpis.active_users.clone()),
            Box::new(kpis.first_response.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        kpis
    }

    /// Also writes each event as an Embedded Metric Format line.
    pub fn with_emf(mut self, emf: super::emf::Emf) -> Self {
        self.emf = Some(std::sync::Arc::new(emf));
        self
    }

    fn emit(&self, metric: &str, value: f64, unit: &str) {
        if let Some(emf) = &self.emf {
            emf.emit(metric, value, unit);
        }
    }

    pub fn registered(&self, role: domain::Role) {
        let role = match role {
            domain::Role::Client => "client",
            domain::Role::Artist => "artist",
            domain::Role::StudioOwner => "studio_owner",
            domain::Role::Admin => "admin",
        };
        self.registrations.with_label_values(&[role]).inc();
        self.emit("Registrations", 1.0, "Count");
    }

    /// A request moved from one state to another; also feeds the funnel's later steps.
    pub fn state_changed(&self, from: domain::BookingState, to: domain::BookingState) {
        if from == to {
            return;
        }
        self.state_changes
            .with_label_values(&[from.as_str(), to.as_str()])
            .inc();
        match to {
            domain::BookingState::Quoted => self.funnel_step("quote"),
            domain::BookingState::Booked => self.funnel_step("booked"),
            _ => {}
        }
    }

    /// A deposit recorded as paid, by the artist or by a card payment.
    pub fn deposit_recorded(&self) {
        self.deposits.inc();
        self.emit("DepositsRecorded", 1.0, "Count");
    }

    pub fn funnel_step(&self, step: &'static str) {
        debug_assert!(FUNNEL.contains(&step), "{step} is not a funnel step");
        self.funnel.with_label_values(&[step]).inc();
        let metric = match step {
            "search" => "FunnelSearches",
            "profile_view" => "FunnelProfileViews",
            "request" => "FunnelRequests",
            "quote" => "FunnelQuotes",
            _ => "FunnelBooked",
        };
        self.emit(metric, 1.0, "Count");
    }

    pub fn session_completed(&self) {
        self.sessions_completed.inc();
        self.emit("SessionsCompleted", 1.0, "Count");
    }

    pub fn review(&self) {
        self.reviews.inc();
        self.emit("Reviews", 1.0, "Count");
    }

    pub fn message(&self) {
        self.messages.inc();
        self.emit("Messages", 1.0, "Count");
    }

    /// An account's first signed-in request in a day (`day`) or an ISO week (`week`), counted
    /// once across every instance (the database decides which instance saw it first).
    pub fn active(&self, window: &'static str) {
        debug_assert!(matches!(window, "day" | "week"));
        self.active_users.with_label_values(&[window]).inc();
        match window {
            "day" => self.emit("DailyActiveUsers", 1.0, "Count"),
            _ => self.emit("WeeklyActiveUsers", 1.0, "Count"),
        }
    }

    /// Each funnel step's count since this instance started, in funnel order.
    pub fn funnel_counts(&self) -> Vec<(&'static str, u64)> {
        FUNNEL
            .iter()
            .map(|step| (*step, self.funnel.with_label_values(&[step]).get()))
            .collect()
    }

    /// The artist answered a request for the first time, `secs` after it was sent.
    pub fn first_response(&self, secs: i64) {
        self.first_response.observe(secs.max(0) as f64 / 3600.0);
    }
}
