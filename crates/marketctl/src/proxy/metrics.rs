//! Per-version request metrics: Prometheus counters and histograms for scraping, and a
//! per-second sliding window the deploy engine reads to decide on rollbacks.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latency buckets (seconds); they go well past the 10 s rollback trigger.
pub const BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];
/// How much history the window keeps.
pub const WINDOW_SECONDS: u64 = 300;

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

    fn window(&self, now: u64, seconds: u64) -> WindowStats {
        let seconds = seconds.clamp(1, WINDOW_SECONDS);
        let mut stats = WindowStats {
            seconds,
            ..WindowStats::default()
        };
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
            let target = (stats.requests as f64 * 0.95).ceil() as u64;
            let mut seen = 0;
            for (i, n) in buckets.iter().enumerate() {
                seen += n;
                if seen >= target {
                    // The bucket's upper bound: p95 is at most this. Past the last bound it is
                    // only known to exceed 60 s, reported as infinity.
                    stats.p95_seconds = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
                    break;
                }
            }
        }
        stats
    }
}

/// What the engine reads: totals over the last `seconds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WindowStats {
    pub seconds: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Upper bound of the bucket holding the 95th percentile.
    #[serde(serialize_with = "finite_or_null")]
    pub p95_seconds: f64,
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

/// One version's metric handles, resolved once so the request path skips label lookups.
struct VersionStats {
    requests: prometheus::IntCounter,
    errors: prometheus::IntCounter,
    latency: prometheus::Histogram,
    ring: Mutex<Ring>,
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
                    ring: Mutex::new(Ring::new()),
                })
            })
            .clone()
    }

    pub fn record(&self, version: &str, status: u16, latency: Duration) {
        let error = status >= 500;
        let stats = self.stats(version);
        stats.requests.inc();
        if error {
            stats.errors.inc();
        }
        stats.latency.observe(latency.as_secs_f64());
        stats
            .ring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now_second(), error, latency);
    }

    pub fn window(&self, version: &str, seconds: u64) -> WindowStats {
        let known = self
            .versions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(version)
            .cloned();
        known
            .map(|s| {
                s.ring
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .window(now_second(), seconds)
            })
            .unwrap_or(WindowStats {
                seconds,
                ..WindowStats::default()
            })
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
            w.p95_seconds, 15.0,
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
}
