//! Deploy markers on ECS: each finished deploy or rollback is a CloudWatch data point, which the
//! monitoring module's dashboard draws next to latency, errors and the KPIs.

use crate::state::{Action, Ended};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

/// The namespace the marketplace's KPIs are written in too (the ECS task's
/// `TM_LOG_EMF_NAMESPACE`), so one dashboard reads both.
pub const NAMESPACE: &str = "TattooMarketplace";
pub const METRIC: &str = "Deployments";

/// How the dashboard names an ending; `None` when nothing changed, which is no marker.
pub fn outcome(action: Action, ended: Ended) -> Option<&'static str> {
    match (action, ended) {
        (_, Ended::Unchanged) => None,
        (Action::Rollback, Ended::Deployed) | (_, Ended::RolledBack) => Some("rolled_back"),
        (_, Ended::Deployed) => Some("succeeded"),
        (_, Ended::Failed | Ended::TimedOut) => Some("failed"),
    }
}

/// One marker: a count of 1 in the environment, by outcome.
pub fn datum(environment: &str, outcome: &str) -> MetricDatum {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    MetricDatum::builder()
        .metric_name(METRIC)
        .dimensions(dimension("Environment", environment))
        .dimensions(dimension("Outcome", outcome))
        .value(1.0)
        .unit(StandardUnit::Count)
        .timestamp(aws_smithy_types::DateTime::from_secs_f64(
            crate::state::now(),
        ))
        .build()
}

/// Puts the marker; the caller turns a failure into a warning, never the deploy's end.
pub async fn put(
    client: &aws_sdk_cloudwatch::Client,
    environment: &str,
    outcome: &str,
) -> Result<(), String> {
    client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(datum(environment, outcome))
        .send()
        .await
        .map(drop)
        .map_err(|e| super::aws::explain("recording the deploy marker", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_is_the_marker_the_dashboard_draws() {
        assert_eq!(outcome(Action::Deploy, Ended::Deployed), Some("succeeded"));
        assert_eq!(
            outcome(Action::Deploy, Ended::RolledBack),
            Some("rolled_back")
        );
        assert_eq!(
            outcome(Action::Rollback, Ended::Deployed),
            Some("rolled_back")
        );
        assert_eq!(outcome(Action::Deploy, Ended::TimedOut), Some("failed"));
        assert_eq!(outcome(Action::Deploy, Ended::Failed), Some("failed"));
        assert_eq!(outcome(Action::Deploy, Ended::Unchanged), None);
        let d = datum("staging", "succeeded");
        assert_eq!(d.metric_name(), Some(METRIC));
        assert_eq!(d.value(), Some(1.0));
        let dims: Vec<(&str, &str)> = d
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or(""), d.value().unwrap_or("")))
            .collect();
        assert_eq!(dims, [("Environment", "staging"), ("Outcome", "succeeded")]);
    }
}
