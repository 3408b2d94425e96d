//! Per-version request metrics: Prometheus counters and histograms for scraping, and a
//! per-second sliding window the deploy engine reads to decide on rollbacks, per version and per
//! route group (method and path prefix), with the requests still in flight.

use crate::wire::{GroupWindow, Totals, WindowReport};
use axum::http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latency buckets (seconds); they go well past the 10 s rollback trigger.
pub const BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];
/// How much history the window keeps.
pub const WINDOW_SECONDS: u64 = 300;
/// Route groups kept per version; requests past it share one "(other)" group, so odd paths
/// cannot grow memory.
pub const MAX_GROUPS: usize = 64;

#[derive(Clone, Copy, Default)]
struct Slot {
    second: u64,
    requests: u64,
    errors: u64,
    /// Counts per bucket, plus one overflow bucket past the last bound.
    buckets: [u64; BUCKETS.len() + 1],
}

struct Ring {
    slots: Vec<Slot>,
}

impl Ring {
    fn new() -> Self {
        Self {
            slots: vec![Slot::default(); WINDOW_SECONDS as usize],
        }
    }

    fn record(&mut self, second: u64, error: bool, latency: Duration) {
        let slot = &mut self.slots[(second % WINDOW_SECONDS) as usize];
        if slot.second != second {
            *slot = Slot {
                second,
                ..Slot::default()
            };
        }
        slot.requests += 1;
        slot.errors += u64::from(error);
        let secs = latency.as_secs_f64();
        let index = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        slot.buckets[index] += 1;
    }

    fn window(&self, now: u64, seconds: u64) -> Totals {
        let seconds = seconds.clamp(1, WINDOW_SECONDS);
        let mut stats = Totals::default();
        let mut buckets = [0u64; BUCKETS.len() + 1];
        for slot in &self.slots {
            if slot.requests > 0 && slot.second + seconds > now && slot.second <= now {
                stats.requests += slot.requests;
                stats.errors += slot.errors;
                for (total, n) in buckets.iter_mut().zip(slot.buckets) {
                    *total += n;
                }
            }
        }
        if stats.requests > 0 {
            stats.error_rate = stats.errors as f64 / stats.requests as f64;
            // Each percentile is its bucket's upper bound: at most this. Past the last bound it
            // is only known to exceed 60 s: `None`.
            let quantile = |q: f64| {
                let target = (stats.requests as f64 * q).ceil() as u64;
                let mut seen = 0;
                buckets.iter().enumerate().find_map(|(i, n)| {
                    seen += n;
                    (seen >= target).then(|| BUCKETS.get(i).copied())
                })?
            };
            stats.p50_seconds = quantile(0.50);
            stats.p95_seconds = quantile(0.95);
            stats.p99_seconds = quantile(0.99);
        }
        stats
    }
}

/// The route group of a path: its first segment (`/search`, `/artists`, `/sign-in`), or its
/// first three under `/api` (`/api/v1/booking-requests`). A slice of the path, so grouping a
/// request allocates nothing once its group exists.
pub fn route_group(path: &str) -> &str {
    let depth = if path.starts_with("/api/") { 3 } else { 1 };
    let mut end = path.len();
    let mut seen = 0;
    for (i, b) in path.bytes().enumerate().skip(1) {
        if b == b'/' {
            seen += 1;
            if seen == depth {
                end = i;
                break;
            }
        }
    }
    if end == 0 { "/" } else { &path[..end] }
}

/// Requests sent and not yet answered, counted per quarter second of their start in a ring
/// longer than the longest upstream timeout: one atomic add when a request leaves and one
/// subtract when it ends, so the forward path takes no lock for it.
struct InFlight {
    started: Box<[AtomicI64]>,
}

/// The ring's resolution and length: 16,384 quarter seconds cover 68 minutes, past the longest
/// timeout a route may have (1 hour).
const TICKS_PER_SECOND: u64 = 4;
const IN_FLIGHT_TICKS: u64 = 16_384;

fn now_tick() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 * TICKS_PER_SECOND / 1000)
        .unwrap_or(0)
}

impl InFlight {
    fn new() -> Self {
        Self {
            started: (0..IN_FLIGHT_TICKS).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    fn slot(&self, tick: u64) -> &AtomicI64 {
        &self.started[(tick % IN_FLIGHT_TICKS) as usize]
    }

    /// How many are in flight, and how long the oldest has waited (to a quarter second).
    fn report(&self) -> (u64, f64) {
        let now = now_tick();
        let mut count = 0;
        let mut oldest = None;
        for age in (0..IN_FLIGHT_TICKS).rev() {
            let n = self.slot(now.saturating_sub(age)).load(Ordering::Relaxed);
            if n > 0 {
                count += n as u64;
                oldest.get_or_insert(age);
            }
        }
        let age = oldest.map_or(0.0, |ticks| ticks as f64 / TICKS_PER_SECOND as f64);
        (count, age)
    }
}

/// One version's metric handles, resolved once so the request path skips label lookups.
pub struct VersionStats {
    requests: prometheus::IntCounter,
    errors: prometheus::IntCounter,
    latency: prometheus::Histogram,
    /// One lock for the window, its groups and what is in flight: a request takes it twice,
    /// once when it leaves and once when it is answered.
    window: Mutex<VersionWindow>,
    in_flight: InFlight,
}

#[derive(Default)]
struct VersionWindow {
    ring: Option<Ring>,
    groups: HashMap<Method, HashMap<String, Ring>>,
    group_count: usize,
}

impl VersionWindow {
    fn ring(&mut self) -> &mut Ring {
        self.ring.get_or_insert_with(Ring::new)
    }

    /// The ring of a request's group; a new group past `MAX_GROUPS` shares "(other)".
    fn group(&mut self, method: &Method, route: &str) -> &mut Ring {
        if self
            .groups
            .get(method)
            .is_some_and(|m| m.contains_key(route))
        {
            return self
                .groups
                .get_mut(method)
                .and_then(|m| m.get_mut(route))
                .expect("seen just above");
        }
        let key = if self.group_count < MAX_GROUPS {
            route
        } else {
            "(other)"
        };
        let by_route = self.groups.entry(method.clone()).or_default();
        if !by_route.contains_key(key) {
            self.group_count += 1;
            by_route.insert(key.to_owned(), Ring::new());
        }
        by_route.get_mut(key).expect("inserted above")
    }
}

/// A request on its way to a version: counted in flight until it is recorded or dropped (a
/// client that gave up).
pub struct Pending {
    stats: Arc<VersionStats>,
    /// The quarter second it left, where it is counted in flight.
    tick: u64,
}

impl Pending {
    /// Records the answer (or the proxy's 502/504 in its place) for the request's group.
    pub fn finish(self, method: &Method, path: &str, status: u16, latency: Duration) {
        let error = status >= 500;
        let s = &self.stats;
        s.requests.inc();
        if error {
            s.errors.inc();
        }
        s.latency.observe(latency.as_secs_f64());
        let second = now_second();
        let mut w = s.window.lock().unwrap_or_else(|p| p.into_inner());
        w.ring().record(second, error, latency);
        w.group(method, route_group(path))
            .record(second, error, latency);
        // Leaving the in-flight count is `Drop`'s, for answered and abandoned requests alike.
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.stats
            .in_flight
            .slot(self.tick)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct ProxyMetrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    versions: RwLock<HashMap<String, Arc<VersionStats>>>,
}

fn now_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ProxyMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "marketctl_proxy_requests_total",
                "Requests proxied, by version",
            ),
            &["version"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "marketctl_proxy_responses_5xx_total",
                "5xx answers by version, including 502s for unreachable instances",
            ),
            &["version"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "marketctl_proxy_request_duration_seconds",
                "Time to the upstream's response headers, by version",
            )
            .buckets(BUCKETS.to_vec()),
            &["version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique");
        registry.register(Box::new(errors.clone())).expect("unique");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique");
        Self {
            registry,
            requests,
            errors,
            latency,
            versions: RwLock::new(HashMap::new()),
        }
    }

    fn stats(&self, version: &str) -> Arc<VersionStats> {
        if let Some(s) = self
            .versions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(version)
        {
            return s.clone();
        }
        let mut versions = self.versions.write().unwrap_or_else(|p| p.into_inner());
        versions
            .entry(version.to_owned())
            .or_insert_with(|| {
                Arc::new(VersionStats {
                    requests: self.requests.with_label_values(&[version]),
                    errors: self.errors.with_label_values(&[version]),
                    latency: self.latency.with_label_values(&[version]),
                    window: Mutex::new(VersionWindow::default()),
                    in_flight: InFlight::new(),
                })
            })
            .clone()
    }

    /// Counts a request to `version` as in flight until its `Pending` is finished or dropped.
    pub fn begin(&self, version: &str) -> Pending {
        let stats = self.stats(version);
        let tick = now_tick();
        stats.in_flight.slot(tick).fetch_add(1, Ordering::Relaxed);
        Pending { stats, tick }
    }

    /// The last `seconds` of `version`: totals, each route group, and what is still in flight.
    pub fn window(&self, version: &str, seconds: u64) -> WindowReport {
        let seconds = seconds.clamp(1, WINDOW_SECONDS);
        let known = self
            .versions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(version)
            .cloned();
        let Some(s) = known else {
            return WindowReport {
                seconds,
                ..WindowReport::default()
            };
        };
        let now = now_second();
        let mut w = s.window.lock().unwrap_or_else(|p| p.into_inner());
        let totals = w.ring().window(now, seconds);
        let mut groups: Vec<GroupWindow> = w
            .groups
            .iter()
            .flat_map(|(method, routes)| {
                routes.iter().map(move |(route, ring)| GroupWindow {
                    method: method.to_string(),
                    route: route.clone(),
                    totals: ring.window(now, seconds),
                })
            })
            .filter(|g| g.totals.requests > 0)
            .collect();
        groups.sort_by(|a, b| (&a.route, &a.method).cmp(&(&b.route, &b.method)));
        drop(w);
        let (in_flight, oldest) = s.in_flight.report();
        WindowReport {
            seconds,
            totals,
            in_flight,
            oldest_in_flight_seconds: oldest,
            groups,
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_only_recent_seconds_and_finds_the_p95_bucket() {
        let mut ring = Ring::new();
        for _ in 0..90 {
            ring.record(1000, false, Duration::from_millis(20));
        }
        for _ in 0..10 {
            ring.record(1000, true, Duration::from_secs(12));
        }
        ring.record(900, true, Duration::from_secs(1));
        let w = ring.window(1000, 30);
        assert_eq!((w.requests, w.errors), (100, 10));
        assert!((w.error_rate - 0.1).abs() < 1e-9);
        assert_eq!(
            w.p95_seconds,
            Some(15.0),
            "the slow tenth puts p95 in the 15 s bucket"
        );
        assert_eq!(ring.window(1000, 200).requests, 101);
        assert_eq!(ring.window(1100, 30).requests, 0, "old seconds fall out");
    }

    #[test]
    fn a_slot_is_reused_when_its_second_comes_round_again() {
        let mut ring = Ring::new();
        ring.record(5, true, Duration::from_millis(1));
        ring.record(5 + WINDOW_SECONDS, false, Duration::from_millis(1));
        let w = ring.window(5 + WINDOW_SECONDS, 10);
        assert_eq!((w.requests, w.errors), (1, 0));
    }

    #[test]
    fn requests_are_grouped_by_their_first_segment_or_three_under_the_api() {
        for (path, group) in [
            ("/", "/"),
            ("/search", "/search"),
            ("/artists/mira-koi/book", "/artists"),
            (
                "/api/v1/booking-requests/7/quote",
                "/api/v1/booking-requests",
            ),
            ("/api/v1/artists", "/api/v1/artists"),
        ] {
            assert_eq!(route_group(path), group, "{path}");
        }
    }

    #[test]
    fn a_broken_method_shows_in_its_group_and_waiting_requests_in_flight() {
        let metrics = ProxyMetrics::new();
        for _ in 0..50 {
            let p = metrics.begin("v2");
            p.finish(&Method::GET, "/search", 200, Duration::from_millis(5));
        }
        for _ in 0..3 {
            let p = metrics.begin("v2");
            p.finish(&Method::POST, "/sign-in", 500, Duration::from_millis(5));
        }
        let hung = metrics.begin("v2");
        std::thread::sleep(Duration::from_millis(600));
        let w = metrics.window("v2", 30);
        assert_eq!((w.totals.requests, w.totals.errors), (53, 3));
        let post = w.groups.iter().find(|g| g.method == "POST").unwrap();
        assert_eq!((post.route.as_str(), post.totals.errors), ("/sign-in", 3));
        assert_eq!(post.totals.error_rate, 1.0);
        assert_eq!(w.in_flight, 1);
        assert!(
            (0.25..=1.0).contains(&w.oldest_in_flight_seconds),
            "{}",
            w.oldest_in_flight_seconds
        );
        drop(hung);
        assert_eq!(
            metrics.window("v2", 30).in_flight,
            0,
            "a dropped request leaves"
        );
    }
}
