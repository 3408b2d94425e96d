//! Deploy markers on a single host: each finished deploy or rollback, as Prometheus series with
//! the version it was for, so the local dashboards can draw it next to latency and errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// How many (environment, action, outcome, version) series the proxy keeps: versions come and
/// go, and an agent that runs for a year must not grow a series per deploy forever.
const KEPT: usize = 64;

/// What `marketctl deploy` and `rollback` send when they end (`POST /v1/markers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployMarker {
    pub environment: String,
    /// `deploy` or `rollback`.
    pub action: String,
    /// `succeeded`, `rolled_back` or `failed`, as the ECS markers name them.
    pub outcome: String,
    /// The release the deploy was for, or the one a rollback returned to.
    pub version: String,
    /// Unix seconds.
    pub at: f64,
}

impl DeployMarker {
    /// Why the marker cannot be a label set, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let label = |name: &str, value: &str| {
            let fine = !value.is_empty()
                && value.len() <= 128
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+:".contains(c));
            (!fine).then(|| {
                format!(
                    "{name} must be 1 to 128 letters, digits or -_.+: characters, not {value:?}"
                )
            })
        };
        label("environment", &self.environment)
            .or_else(|| label("version", &self.version))
            .or_else(|| {
                (!matches!(self.action.as_str(), "deploy" | "rollback"))
                    .then(|| format!("action must be deploy or rollback, not {:?}", self.action))
            })
            .or_else(|| {
                (!matches!(
                    self.outcome.as_str(),
                    "succeeded" | "rolled_back" | "failed"
                ))
                .then(|| {
                    format!(
                        "outcome must be succeeded, rolled_back or failed, not {:?}",
                        self.outcome
                    )
                })
            })
            .or_else(|| {
                (!self.at.is_finite() || self.at < 0.0)
                    .then(|| format!("at must be Unix seconds, not {}", self.at))
            })
    }
}

type Key = (String, String, String, String);

/// The markers so far: a count and the last time, per label set.
#[derive(Default)]
pub struct Markers {
    series: Mutex<BTreeMap<Key, (u64, f64)>>,
}

impl Markers {
    /// Records a marker that passed [`DeployMarker::problem`].
    pub fn record(&self, marker: &DeployMarker) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key = (
            marker.environment.clone(),
            marker.action.clone(),
            marker.outcome.clone(),
            marker.version.clone(),
        );
        let entry = series.entry(key).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 = entry.1.max(marker.at);
        while series.len() > KEPT {
            let oldest = series
                .iter()
                .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => series.remove(&k),
                None => break,
            };
        }
    }

    /// Prometheus text: a counter of endings and the time of the last, per label set.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if series.is_empty() {
            return out;
        }
        let labels = |(env, action, outcome, version): &Key| {
            format!(
                "environment=\"{env}\",action=\"{action}\",outcome=\"{outcome}\",version=\"{version}\""
            )
        };
        out.push_str("# HELP marketctl_deploys_total Deploys and rollbacks that ended, by outcome and the version they were for.\n");
        out.push_str("# TYPE marketctl_deploys_total counter\n");
        for (key, (count, _)) in series.iter() {
            let _ = writeln!(out, "marketctl_deploys_total{{{}}} {count}", labels(key));
        }
        out.push_str("# HELP marketctl_deploy_last_timestamp_seconds When the last such deploy or rollback ended.\n");
        out.push_str("# TYPE marketctl_deploy_last_timestamp_seconds gauge\n");
        for (key, (_, at)) in series.iter() {
            let _ = writeln!(
                out,
                "marketctl_deploy_last_timestamp_seconds{{{}}} {at}",
                labels(key)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(version: &str, outcome: &str, at: f64) -> DeployMarker {
        DeployMarker {
            environment: "staging".into(),
            action: "deploy".into(),
            outcome: outcome.into(),
            version: version.into(),
            at,
        }
    }

    #[test]
    fn markers_count_per_version_and_outcome_and_keep_the_last_time() {
        let markers = Markers::default();
        assert_eq!(markers.render(), "", "no series before the first deploy");
        markers.record(&marker("1.4.0", "succeeded", 100.0));
        markers.record(&marker("1.5.0", "rolled_back", 200.0));
        markers.record(&marker("1.5.0", "rolled_back", 300.0));
        let text = markers.render();
        assert!(text.contains("marketctl_deploys_total{environment=\"staging\",action=\"deploy\",outcome=\"rolled_back\",version=\"1.5.0\"} 2"), "{text}");
        assert!(text.contains("marketctl_deploy_last_timestamp_seconds{environment=\"staging\",action=\"deploy\",outcome=\"rolled_back\",version=\"1.5.0\"} 300"), "{text}");
        assert!(
            text.contains("outcome=\"succeeded\",version=\"1.4.0\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn old_versions_fall_out_past_the_limit() {
        let markers = Markers::default();
        for i in 0..(KEPT + 10) {
            markers.record(&marker(&format!("1.0.{i}"), "succeeded", i as f64));
        }
        let text = markers.render();
        assert!(!text.contains("version=\"1.0.0\""), "the oldest went");
        assert!(text.contains(&format!("version=\"1.0.{}\"", KEPT + 9)));
        assert_eq!(text.matches("marketctl_deploys_total{").count(), KEPT);
    }

    #[test]
    fn labels_that_could_break_the_text_format_are_refused() {
        assert_eq!(marker("1.0.0", "succeeded", 1.0).problem(), None);
        for bad in [
            marker("1.0\"} 99", "succeeded", 1.0),
            marker("", "succeeded", 1.0),
            marker("1.0.0", "exploded", 1.0),
            marker("1.0.0", "succeeded", f64::NAN),
            DeployMarker {
                action: "restart".into(),
                ..marker("1.0.0", "failed", 1.0)
            },
            DeployMarker {
                environment: "a b".into(),
                ..marker("1.0.0", "failed", 1.0)
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
