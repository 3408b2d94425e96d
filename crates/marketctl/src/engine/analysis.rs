//! Rollback analysis: the spec's triggers (health checks failing, 5xx rate above 5%, p95 above
//! 10 s) applied to the whole version and to each route group (method and path prefix), so one
//! broken route or method is not diluted by the healthy rest; requests waiting too long while
//! still in flight (a hang shows before it ends); and the old version's figures on the same
//! window as a baseline. A verdict is healthy, a breach, or inconclusive (too little traffic),
//! which is never a pass.

use crate::config::AnalysisSettings;
use crate::platform::{Fleet, Window};
use crate::wire::Totals;

/// What one evaluation says about the new version.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Healthy,
    /// A rule fired: which, where, and the figures.
    Breach(String),
    /// Too few requests to judge; never a pass.
    Inconclusive(String),
}

/// `what` is empty for the whole version, `"POST /sign-in: "` for a group.
fn error_rule(settings: &AnalysisSettings, what: &str, t: &Totals, seconds: u64) -> Option<String> {
    (t.error_rate > settings.max_error_rate).then(|| {
        format!(
            "{what}5xx rate {:.1}% above {:.1}% ({} of {} requests in {seconds} s)",
            t.error_rate * 100.0,
            settings.max_error_rate * 100.0,
            t.errors,
            t.requests,
        )
    })
}

fn latency_rule(settings: &AnalysisSettings, what: &str, t: &Totals) -> Option<String> {
    let p95 = t.p95_seconds.unwrap_or(f64::INFINITY);
    (p95 > settings.max_p95_seconds).then(|| {
        format!(
            "{what}p95 latency above {} s (bucket up to {})",
            settings.max_p95_seconds,
            if p95.is_finite() {
                format!("{p95} s")
            } else {
                "beyond 60 s".into()
            }
        )
    })
}

/// The new version against the old on the same window: errors more often, or much slower.
fn baseline_rule(
    settings: &AnalysisSettings,
    what: &str,
    new: &Totals,
    old: &Totals,
    min_requests: u64,
) -> Option<String> {
    if old.requests < min_requests {
        return None;
    }
    if new.error_rate - old.error_rate > settings.max_error_rate_over_baseline {
        return Some(format!(
            "{what}5xx rate {:.1}% vs {:.1}% on the old release (the baseline)",
            new.error_rate * 100.0,
            old.error_rate * 100.0
        ));
    }
    let (n, o) = (
        new.p95_seconds.unwrap_or(f64::INFINITY),
        old.p95_seconds.unwrap_or(f64::INFINITY),
    );
    (n >= settings.min_p95_to_compare_seconds && n > o * settings.max_p95_ratio_over_baseline).then(
        || {
            format!(
                "{what}p95 latency up to {} vs {} s on the old release (the baseline)",
                if n.is_finite() {
                    format!("{n} s")
                } else {
                    "beyond 60 s".into()
                },
                o
            )
        },
    )
}

/// One evaluation of `version` (`canary`), with the old version's window as `baseline`.
pub fn judge(
    settings: &AnalysisSettings,
    fleet: &Fleet,
    version: &str,
    canary: &Window,
    baseline: Option<&Window>,
) -> Verdict {
    if let Some(sick) = fleet.of_version(version).find(|i| {
        i.consecutive_failures >= settings.health_check_failures
            || i.status == crate::platform::Status::Crashed
    }) {
        return Verdict::Breach(format!(
            "health checks failing on {} ({} consecutive, status {})",
            sick.id, sick.consecutive_failures, sick.status
        ));
    }
    // Counted before any request completes: a hang breaches while it is still hanging.
    if canary.oldest_in_flight_seconds > settings.max_in_flight_seconds {
        return Verdict::Breach(format!(
            "a request has waited {:.0} s without an answer ({} in flight; the limit is {} s)",
            canary.oldest_in_flight_seconds, canary.in_flight, settings.max_in_flight_seconds
        ));
    }
    let seconds = settings.window_seconds;
    let total = &canary.totals;
    let mut judged = total.requests >= settings.min_requests;
    for g in &canary.groups {
        // A user rule for this group replaces the defaults it names.
        let ruled = settings
            .rule_for(&g.method, &g.route)
            .map(|rule| AnalysisSettings {
                max_error_rate: rule.max_error_rate.unwrap_or(settings.max_error_rate),
                max_p95_seconds: rule.max_p95_seconds.unwrap_or(settings.max_p95_seconds),
                min_group_requests: rule.min_requests.unwrap_or(settings.min_group_requests),
                ..settings.clone()
            });
        let settings = ruled.as_ref().unwrap_or(settings);
        if g.totals.requests < settings.min_group_requests {
            continue;
        }
        judged = true;
        let what = format!("{} {}: ", g.method, g.route);
        let old = baseline.and_then(|b| {
            b.groups
                .iter()
                .find(|o| o.method == g.method && o.route == g.route)
        });
        let breach = error_rule(settings, &what, &g.totals, seconds)
            .or_else(|| latency_rule(settings, &what, &g.totals))
            .or_else(|| {
                old.and_then(|o| {
                    baseline_rule(
                        settings,
                        &what,
                        &g.totals,
                        &o.totals,
                        settings.min_group_requests,
                    )
                })
            });
        if let Some(reason) = breach {
            return Verdict::Breach(reason);
        }
    }
    // The whole version after its groups: a reason that names the broken route says more.
    if total.requests >= settings.min_requests {
        let whole = error_rule(settings, "", total, seconds)
            .or_else(|| latency_rule(settings, "", total))
            .or_else(|| {
                baseline.and_then(|b| {
                    baseline_rule(settings, "", total, &b.totals, settings.min_requests)
                })
            });
        if let Some(reason) = whole {
            return Verdict::Breach(reason);
        }
    }
    if judged {
        Verdict::Healthy
    } else {
        Verdict::Inconclusive(format!(
            "{} requests in {seconds} s, fewer than the {} needed",
            total.requests, settings.min_requests
        ))
    }
}

/// Counts breaching evaluations in a row; a healthy one resets it, an inconclusive one neither
/// counts nor resets.
#[derive(Debug, Default)]
pub struct Breaches {
    in_a_row: u32,
    /// Evaluations that could judge at all (healthy or breach).
    pub judged: u32,
}

impl Breaches {
    /// Returns the reason once the trigger has fired.
    pub fn observe(&mut self, verdict: &Verdict, needed: u32) -> Option<String> {
        match verdict {
            Verdict::Breach(reason) => {
                self.judged += 1;
                self.in_a_row += 1;
                (self.in_a_row >= needed)
                    .then(|| format!("{reason}; {} consecutive windows", self.in_a_row))
            }
            Verdict::Healthy => {
                self.judged += 1;
                self.in_a_row = 0;
                None
            }
            Verdict::Inconclusive(_) => None,
        }
    }

    /// A streak is under way: the watch must not end on it.
    pub fn pending(&self) -> bool {
        self.in_a_row > 0
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
                    crate::platform::Status::Unhealthy
                } else {
                    crate::platform::Status::Ready
                },
                consecutive_failures: failures,
                log: None,
            }],
            routes: vec![],
        }
    }

    fn totals(requests: u64, errors: u64, p95: Option<f64>) -> Totals {
        Totals {
            p95_seconds: p95,
            ..Totals::of(requests, errors)
        }
    }

    fn window(requests: u64, errors: u64, p95: Option<f64>) -> Window {
        Window {
            seconds: 30,
            totals: totals(requests, errors, p95),
            ..Window::default()
        }
    }

    fn group(method: &str, route: &str, t: Totals) -> crate::wire::GroupWindow {
        crate::wire::GroupWindow {
            method: method.into(),
            route: route.into(),
            totals: t,
        }
    }

    /// The breach's reason, if the verdict is one.
    fn breach(
        s: &AnalysisSettings,
        fleet: &Fleet,
        version: &str,
        canary: &Window,
        baseline: Option<&Window>,
    ) -> Option<String> {
        match judge(s, fleet, version, canary, baseline) {
            Verdict::Breach(r) => Some(r),
            Verdict::Healthy | Verdict::Inconclusive(_) => None,
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
        let x = Verdict::Breach("x".into());
        assert_eq!(b.observe(&x, 2), None);
        assert!(b.pending(), "a streak has started");
        assert_eq!(
            b.observe(&Verdict::Healthy, 2),
            None,
            "a good window resets"
        );
        assert!(!b.pending());
        assert_eq!(b.observe(&x, 2), None);
        assert_eq!(
            b.observe(&Verdict::Inconclusive("thin".into()), 2),
            None,
            "too little traffic neither counts nor resets"
        );
        assert!(b.observe(&x, 2).unwrap().contains("2 consecutive"));
        assert_eq!(b.judged, 4);
    }

    #[test]
    fn one_broken_method_breaches_however_small_its_share() {
        let s = AnalysisSettings::default();
        let mut w = window(1000, 6, Some(0.05));
        w.groups = vec![
            group("GET", "/search", totals(994, 0, Some(0.05))),
            group("POST", "/sign-in", totals(6, 6, Some(0.01))),
        ];
        let reason = breach(&s, &fleet(0), "v2", &w, None).expect("0.6% overall, 100% on POST");
        assert!(
            reason.contains("POST /sign-in") && reason.contains("6 of 6"),
            "{reason}"
        );
        // Too few of them to judge the group alone: the whole version decides.
        w.groups[1].totals = totals(4, 4, Some(0.01));
        assert_eq!(breach(&s, &fleet(0), "v2", &w, None), None);
    }

    #[test]
    fn a_hang_breaches_while_it_is_still_in_flight() {
        let s = AnalysisSettings::default();
        let mut w = window(0, 0, None);
        w.in_flight = 3;
        w.oldest_in_flight_seconds = 10.5;
        let reason = breach(&s, &fleet(0), "v2", &w, None).unwrap();
        assert!(
            reason.contains("waited 10 s") || reason.contains("waited 11 s"),
            "{reason}"
        );
        w.oldest_in_flight_seconds = 2.0;
        assert!(matches!(
            judge(&s, &fleet(0), "v2", &w, None),
            Verdict::Inconclusive(_)
        ));
    }

    #[test]
    fn a_route_much_slower_than_on_the_old_release_breaches() {
        let s = AnalysisSettings::default();
        let mut new = window(100, 0, Some(2.5));
        new.groups = vec![group("GET", "/artists", totals(50, 0, Some(5.0)))];
        let mut old = window(100, 0, Some(0.5));
        old.groups = vec![group("GET", "/artists", totals(50, 0, Some(0.5)))];
        let reason = breach(&s, &fleet(0), "v2", &new, Some(&old)).unwrap();
        assert!(reason.contains("old release"), "{reason}");
        // Both fast: doubling inside the fast buckets is noise.
        new.totals = totals(100, 0, Some(0.05));
        new.groups = vec![group("GET", "/artists", totals(50, 0, Some(0.1)))];
        old.totals = totals(100, 0, Some(0.025));
        old.groups = vec![group("GET", "/artists", totals(50, 0, Some(0.025)))];
        assert_eq!(breach(&s, &fleet(0), "v2", &new, Some(&old)), None);
    }

    #[test]
    fn no_traffic_is_inconclusive_never_healthy() {
        let s = AnalysisSettings::default();
        assert!(matches!(
            judge(&s, &fleet(0), "v2", &window(3, 0, Some(0.1)), None),
            Verdict::Inconclusive(_)
        ));
        assert_eq!(
            judge(&s, &fleet(0), "v2", &window(100, 0, Some(0.1)), None),
            Verdict::Healthy
        );
    }

    #[test]
    fn a_user_rule_judges_its_route_more_strictly_than_the_defaults() {
        let mut s = AnalysisSettings::default();
        s.rules.push(crate::config::AnalysisRule {
            route: "/api/v1/booking-requests".into(),
            method: Some("POST".into()),
            max_error_rate: Some(0.0),
            max_p95_seconds: Some(1.0),
            min_requests: Some(2),
        });
        let mut w = window(400, 1, Some(0.05));
        w.groups = vec![
            group("GET", "/", totals(397, 0, Some(0.05))),
            group("POST", "/api/v1/booking-requests", totals(3, 1, Some(0.05))),
        ];
        let reason = breach(&s, &fleet(0), "v2", &w, None).expect("one failed booking breaches");
        assert!(reason.contains("POST /api/v1/booking-requests"), "{reason}");
        // The same figures without the rule: three requests are too few to judge the group,
        // and one failure in 400 is well under the default 5%.
        assert_eq!(
            breach(&AnalysisSettings::default(), &fleet(0), "v2", &w, None),
            None
        );
        // Another method on that route keeps the defaults.
        w.groups[1].method = "GET".into();
        assert_eq!(breach(&s, &fleet(0), "v2", &w, None), None);
    }
}
