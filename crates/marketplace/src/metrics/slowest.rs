//! The slowest routes since this instance started, read from the request-latency histogram.

use prometheus::HistogramVec;
use prometheus::core::Collector;

/// One route's latency as the histogram knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteLatency {
    pub route: String,
    pub requests: u64,
    pub mean_seconds: f64,
    /// The upper bound of the bucket holding the 95th percentile; infinite past the last bucket.
    pub p95_seconds: f64,
}

/// The `limit` routes with the highest p95 (then mean), each with at least one request.
pub fn slowest(histogram: &HistogramVec, limit: usize) -> Vec<RouteLatency> {
    let mut routes: Vec<RouteLatency> = histogram
        .collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .filter_map(|metric| {
            let route = metric
                .get_label()
                .iter()
                .find(|l| l.name() == "route")?
                .value()
                .to_owned();
            let h = metric.get_histogram();
            let requests = h.get_sample_count();
            if requests == 0 {
                return None;
            }
            let wanted = (requests as f64 * 0.95).ceil() as u64;
            let p95_seconds = h
                .get_bucket()
                .iter()
                .find(|b| b.cumulative_count() >= wanted)
                .map_or(f64::INFINITY, |b| b.upper_bound());
            Some(RouteLatency {
                route,
                requests,
                mean_seconds: h.get_sample_sum() / requests as f64,
                p95_seconds,
            })
        })
        .collect();
    routes.sort_by(|a, b| {
        b.p95_seconds
            .total_cmp(&a.p95_seconds)
            .then(b.mean_seconds.total_cmp(&a.mean_seconds))
    });
    routes.truncate(limit);
    routes
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::HistogramOpts;

    #[test]
    fn the_slow_route_comes_first_with_its_bucket_as_p95() {
        let h = HistogramVec::new(
            HistogramOpts::new("t", "t").buckets(vec![0.01, 0.1, 1.0, 10.0]),
            &["route"],
        )
        .unwrap();
        for _ in 0..100 {
            h.with_label_values(&["/fast"]).observe(0.005);
        }
        for _ in 0..94 {
            h.with_label_values(&["/slow"]).observe(0.05);
        }
        for _ in 0..6 {
            h.with_label_values(&["/slow"]).observe(5.0);
        }
        h.with_label_values(&["/idle"]);
        h.with_label_values(&["/off-the-scale"]).observe(30.0);
        let top = slowest(&h, 2);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].route, "/off-the-scale");
        assert!(top[0].p95_seconds.is_infinite());
        assert_eq!((top[1].route.as_str(), top[1].requests), ("/slow", 100));
        assert_eq!(top[1].p95_seconds, 10.0, "6% of requests took 5 s");
        assert!((top[1].mean_seconds - (94.0 * 0.05 + 30.0) / 100.0).abs() < 1e-9);
        assert!(slowest(&h, 10).iter().all(|r| r.route != "/idle"));
    }
}
