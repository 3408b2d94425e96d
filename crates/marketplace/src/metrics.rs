//! Prometheus metrics for this instance, and the middleware that records one access-log line and
//! the request metrics for every request.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub mod activity;
pub mod emf;
pub mod kpi;
pub mod slowest;

/// Latency buckets reach well past the spec's 10 s rollback trigger so a p95 above it is visible.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];

/// The instance's registry; owned by `AppState`, so tests running several apps never share it.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    pub registrations: IntCounter,
    /// Engagement: searches, profile views and messages sent.
    pub engagement: IntCounterVec,
    /// Booking and session transitions by action, counted as they commit.
    pub transitions: IntCounterVec,
    /// Emails delivered and failed by the outbox worker.
    pub notifications: IntCounterVec,
    /// Readiness checks that could not reach the database: the local twin of the RDS
    /// connection-failures alarm.
    pub database_unreachable: IntCounter,
    bookings: IntGaugeVec,
    pool: IntGaugeVec,
    pool_max: IntGauge,
    draining: IntGauge,
    /// Business and engagement KPIs, counted as their changes commit.
    pub kpi: kpi::Kpis,
    /// When this instance started counting (Unix seconds): what its in-memory figures cover.
    pub started_at: i64,
}

impl Metrics {
    pub fn new(version: &str, commit: &str) -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")
            .expect("valid metric");
        let registrations =
            IntCounter::new("marketplace_registrations_total", "Accounts registered")
                .expect("valid metric");
        let database_unreachable = IntCounter::new(
            "marketplace_database_unreachable_total",
            "Readiness checks that could not reach the database",
        )
        .expect("valid metric");
        let engagement = IntCounterVec::new(
            Opts::new(
                "marketplace_engagement_total",
                "Searches, profile views and messages",
            ),
            &["event"],
        )
        .expect("valid metric");
        for event in ["search", "profile_view", "message"] {
            engagement.with_label_values(&[event]);
        }
        let transitions = IntCounterVec::new(
            Opts::new(
                "marketplace_booking_transitions_total",
                "Booking and session transitions by action",
            ),
            &["action"],
        )
        .expect("valid metric");
        let notifications = IntCounterVec::new(
            Opts::new(
                "marketplace_notifications_total",
                "Outbox emails by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let bookings = IntGaugeVec::new(
            Opts::new(
                "marketplace_bookings_total",
                "Booking requests in the database by state, read at scrape time",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "marketplace_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool_max = IntGauge::new(
            "marketplace_db_pool_max_connections",
            "Configured database pool size",
        )
        .expect("valid metric");
        let draining = IntGauge::new(
            "marketplace_draining",
            "1 while the instance is shutting down and refusing readiness",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new("marketplace_build_info", "Always 1; labels carry the build"),
            &["version", "commit"],
        )
        .expect("valid metric");
        build_info.with_label_values(&[version, commit]).set(1);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(registrations.clone()),
            Box::new(engagement.clone()),
            Box::new(transitions.clone()),
            Box::new(notifications.clone()),
            Box::new(database_unreachable.clone()),
            Box::new(bookings.clone()),
            Box::new(pool.clone()),
            Box::new(pool_max.clone()),
            Box::new(draining.clone()),
            Box::new(build_info),
            // CPU and resident memory, for the same alerts CloudWatch raises on the task.
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        let kpi = kpi::Kpis::new(&registry);
        Self {
            kpi,
            started_at: crate::clock::now(),
            registry,
            requests,
            duration,
            in_flight,
            registrations,
            engagement,
            transitions,
            notifications,
            database_unreachable,
            bookings,
            pool,
            pool_max,
            draining,
        }
    }

    /// With a namespace, KPI events are also written as Embedded Metric Format lines.
    pub fn with_emf(mut self, namespace: &str, environment: &'static str) -> Self {
        if !namespace.is_empty() {
            self.kpi = self.kpi.with_emf(emf::Emf::new(namespace, environment));
        }
        self
    }

    /// Refreshes the gauges that are read from elsewhere, then encodes everything.
    /// The `limit` slowest routes since this instance started (p95, then mean).
    pub fn slowest_routes(&self, limit: usize) -> Vec<slowest::RouteLatency> {
        slowest::slowest(&self.duration, limit)
    }

    pub fn render(
        &self,
        pool: storage::PoolStats,
        bookings: &[(domain::BookingState, i64)],
        draining: bool,
    ) -> String {
        self.draining.set(i64::from(draining));
        let idle = i64::from(pool.idle);
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(pool.size) - idle);
        self.pool_max.set(i64::from(pool.max));
        for state in domain::BookingState::ALL {
            let n = bookings
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            self.bookings.with_label_values(&[state.as_str()]).set(n);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

/// Records metrics and writes one structured log line per request. Paths are logged as their
/// route template, never raw, so ids and query strings (personal data) stay out of logs.
pub async fn observe(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    // `otel.*` and the `http.*` names are what tracing-opentelemetry and X-Ray read: the span
    // is named by method and route template, never by the raw path.
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    // A caller's `traceparent` (the proxy's, or the ALB's) makes this span its child; without
    // the OpenTelemetry layer this does nothing.
    let _ = span.set_parent(otel_pipeline::extract(request.headers()));
    metrics.in_flight.inc();
    let response = next.run(request).instrument(span.clone()).await;
    metrics.in_flight.dec();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics
        .requests
        .with_label_values(&[&method, &route, &status.to_string()])
        .inc();
    metrics
        .duration
        .with_label_values(&[&route])
        .observe(elapsed.as_secs_f64());
    span.record("http.response.status_code", status);
    if status >= 500 {
        // An error status keeps the trace even when the sampling ratio left it out.
        span.record("otel.status_code", "error");
    }
    // Inside the span, so the line carries the trace id; its own fields stay at the top level.
    span.in_scope(|| {
        tracing::info!(
            request_id = %request_id,
            method = %method,
            route = %route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    response
}
