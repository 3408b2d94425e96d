//! CloudWatch Embedded Metric Format: one JSON line per KPI event on standard output, which the
//! ECS task's log driver ships to CloudWatch Logs, where it becomes a metric with no agent.

use std::io::Write;

/// Where the lines say their metrics belong.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    environment: &'static str,
}

impl Emf {
    pub fn new(namespace: &str, environment: &'static str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            environment,
        }
    }

    /// The line for one event: `metric` rose by `value` at `timestamp_ms`, in `unit`.
    pub fn line(&self, metric: &str, value: f64, unit: &str, timestamp_ms: i64) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Environment"]],
                    "Metrics": [{ "Name": metric, "Unit": unit }],
                }],
            },
            "Environment": self.environment,
            metric: value,
        })
        .to_string()
    }

    /// Writes the line in one call, so it never interleaves with a log line.
    pub fn emit(&self, metric: &str, value: f64, unit: &str) {
        let now = time::OffsetDateTime::now_utc();
        let ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let line = format!("{}\n", self.line(metric, value, unit, ms));
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_follows_the_embedded_metric_format() {
        let emf = Emf::new("TattooMarketplace/KPI", "production");
        let line: serde_json::Value =
            serde_json::from_str(&emf.line("BookingsBooked", 1.0, "Count", 1_800_000_000_000))
                .unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_800_000_000_000_i64);
        assert_eq!(directive["Namespace"], "TattooMarketplace/KPI");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Environment"]])
        );
        assert_eq!(directive["Metrics"][0]["Name"], "BookingsBooked");
        assert_eq!(directive["Metrics"][0]["Unit"], "Count");
        // Each dimension and metric named in the directive is a member of the root.
        assert_eq!(line["Environment"], "production");
        assert_eq!(line["BookingsBooked"], 1.0);
    }
}
