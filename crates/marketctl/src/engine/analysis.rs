//! Rollback analysis: the spec's triggers (health checks failing, 5xx rate above 5%, p95 above
//! 10 s), each needing consecutive breaching windows, checked in every state including the bake.

use crate::config::AnalysisSettings;
use crate::platform::{Fleet, Window};

/// One evaluation's verdict on the new version.
pub fn breach(
    settings: &AnalysisSettings,
    fleet: &Fleet,
    version: &str,
    canary: &Window,
    baseline: Option<&Window>,
) -> Option<String> {
    if let Some(sick) = fleet
        .of_version(version)
        .find(|i| i.consecutive_failures >= settings.health_check_failures || i.status == "crashed")
    {
        return Some(format!(
            "health checks failing on {} ({} consecutive, status {})",
            sick.id, sick.consecutive_failures, sick.status
        ));
    }
    if canary.requests < settings.min_requests {
        return None;
    }
    if canary.error_rate > settings.max_error_rate {
        return Some(format!(
            "5xx rate {:.1}% above {:.1}% ({} of {} requests in {} s)",
            canary.error_rate * 100.0,
            settings.max_error_rate * 100.0,
            canary.errors,
            canary.requests,
            settings.window_seconds
        ));
    }
    let p95 = canary.p95_seconds.unwrap_or(f64::INFINITY);
    if p95 > settings.max_p95_seconds {
        return Some(format!(
            "p95 latency above {} s (bucket up to {})",
            settings.max_p95_seconds,
            if p95.is_finite() {
                format!("{p95} s")
            } else {
                "beyond 60 s".into()
            }
        ));
    }
    if let Some(base) = baseline.filter(|b| b.requests >= settings.min_requests)
        && canary.error_rate - base.error_rate > settings.max_error_rate_over_baseline
    {
        return Some(format!(
            "canary 5xx rate {:.1}% vs baseline {:.1}%",
            canary.error_rate * 100.0,
            base.error_rate * 100.0
        ));
    }
    None
}

/// Counts breaching evaluations in a row; a healthy one resets it.
#[derive(Debug, Default)]
pub struct Breaches {
    in_a_row: u32,
}

impl Breaches {
    /// Returns the reason once the trigger has fired.
    pub fn observe(&mut self, verdict: Option<String>, needed: u32) -> Option<String> {
        match verdict {
            Some(reason) => {
                self.in_a_row += 1;
                (self.in_a_row >= needed)
                    .then(|| format!("{reason}; {} consecutive windows", self.in_a_row))
            }
            None => {
                self.in_a_row = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Instance;

    fn fleet(failures: u32) -> Fleet {
        Fleet {
            instances: vec![Instance {
                id: "new-1".into(),
                version: "v2".into(),
                status: if failures >= 3 {
                    "unhealthy".into()
                } else {
                    "ready".into()
                },
                consecutive_failures: failures,
            }],
            routes: vec![],
        }
    }

    fn window(requests: u64, errors: u64, p95: Option<f64>) -> Window {
        Window {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p95_seconds: p95,
        }
    }

    #[test]
    fn each_spec_trigger_fires_at_its_threshold_and_not_below() {
        let s = AnalysisSettings::default();
        let ok = window(100, 5, Some(1.0));
        assert_eq!(
            breach(&s, &fleet(0), "v2", &ok, None),
            None,
            "exactly 5% is not above 5%"
        );
        assert!(
            breach(&s, &fleet(0), "v2", &window(100, 6, Some(1.0)), None)
                .unwrap()
                .contains("5xx rate")
        );
        assert_eq!(
            breach(&s, &fleet(0), "v2", &window(100, 0, Some(10.0)), None),
            None
        );
        assert!(
            breach(&s, &fleet(0), "v2", &window(100, 0, Some(15.0)), None)
                .unwrap()
                .contains("p95")
        );
        assert!(
            breach(&s, &fleet(0), "v2", &window(100, 0, None), None)
                .unwrap()
                .contains("beyond 60 s")
        );
        assert_eq!(breach(&s, &fleet(2), "v2", &ok, None), None);
        assert!(
            breach(&s, &fleet(3), "v2", &ok, None)
                .unwrap()
                .contains("health checks")
        );
    }

    #[test]
    fn too_few_requests_say_nothing_but_health_still_counts() {
        let s = AnalysisSettings::default();
        assert_eq!(
            breach(&s, &fleet(0), "v2", &window(10, 10, None), None),
            None
        );
        assert!(breach(&s, &fleet(5), "v2", &window(0, 0, None), None).is_some());
    }

    #[test]
    fn a_canary_worse_than_its_baseline_breaches() {
        let s = AnalysisSettings::default();
        let base = window(1000, 0, Some(0.1));
        assert!(
            breach(&s, &fleet(0), "v2", &window(100, 4, Some(0.1)), Some(&base))
                .unwrap()
                .contains("baseline")
        );
        assert_eq!(
            breach(&s, &fleet(0), "v2", &window(100, 1, Some(0.1)), Some(&base)),
            None
        );
    }

    #[test]
    fn the_trigger_needs_consecutive_breaches() {
        let mut b = Breaches::default();
        assert_eq!(b.observe(Some("x".into()), 2), None);
        assert_eq!(b.observe(None, 2), None, "a good window resets");
        assert_eq!(b.observe(Some("x".into()), 2), None);
        assert!(
            b.observe(Some("x".into()), 2)
                .unwrap()
                .contains("2 consecutive")
        );
    }
}
