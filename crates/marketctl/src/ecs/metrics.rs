//! A target group's traffic over a recent window, from the load balancer's CloudWatch metrics.
//! Behind a trait so that the CloudWatch client (pinned for the test API) can change alone.

use crate::wire::Totals;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

#[allow(async_fn_in_trait)]
pub trait Metrics {
    /// Requests, 5xx answers and latency percentiles of one target group over the last
    /// `seconds`.
    async fn window(
        &self,
        load_balancer_arn: &str,
        target_group_arn: &str,
        seconds: u64,
    ) -> Result<Totals, String>;
}

/// ALB dimensions are the ARNs' resource parts: `app/NAME/ID` and `targetgroup/NAME/ID`.
fn dimension(arn: &str, marker: &str) -> Option<String> {
    arn.split_once(marker).map(|(_, rest)| rest.to_owned())
}

pub struct CloudWatch<'a> {
    pub client: &'a aws_sdk_cloudwatch::Client,
}

impl Metrics for CloudWatch<'_> {
    async fn window(
        &self,
        load_balancer_arn: &str,
        target_group_arn: &str,
        seconds: u64,
    ) -> Result<Totals, String> {
        let lb = dimension(load_balancer_arn, ":loadbalancer/")
            .ok_or_else(|| format!("{load_balancer_arn} is not a load balancer ARN"))?;
        let tg = dimension(target_group_arn, ":targetgroup/")
            .map(|rest| format!("targetgroup/{rest}"))
            .ok_or_else(|| format!("{target_group_arn} is not a target group ARN"))?;
        let dims = vec![
            Dimension::builder().name("LoadBalancer").value(lb).build(),
            Dimension::builder().name("TargetGroup").value(tg).build(),
        ];
        let query = |id: &str, metric: &str, stat: &str| {
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/ApplicationELB")
                                .metric_name(metric)
                                .set_dimensions(Some(dims.clone()))
                                .build(),
                        )
                        .period(seconds.max(1) as i32)
                        .stat(stat)
                        .build(),
                )
                .build()
        };
        let end = std::time::SystemTime::now();
        let start = end - std::time::Duration::from_secs(seconds.max(1));
        let out = self
            .client
            .get_metric_data()
            .start_time(start.into())
            .end_time(end.into())
            .metric_data_queries(query("requests", "RequestCount", "Sum"))
            .metric_data_queries(query("errors", "HTTPCode_Target_5XX_Count", "Sum"))
            .metric_data_queries(query("p50", "TargetResponseTime", "p50"))
            .metric_data_queries(query("p95", "TargetResponseTime", "p95"))
            .metric_data_queries(query("p99", "TargetResponseTime", "p99"))
            .send()
            .await
            .map_err(|e| super::aws::explain("CloudWatch GetMetricData", e))?;
        let values = |id: &str| -> Vec<f64> {
            out.metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id))
                .map(|r| r.values().to_vec())
                .unwrap_or_default()
        };
        let sum = |id: &str| values(id).iter().sum::<f64>().max(0.0) as u64;
        // Over several periods, the worst one's percentile: never better than the truth.
        let worst = |id: &str| values(id).into_iter().reduce(f64::max);
        let requests = sum("requests");
        let mut totals = Totals::of(requests, sum("errors").min(requests));
        if requests > 0 {
            totals.p50_seconds = worst("p50");
            totals.p95_seconds = worst("p95");
            totals.p99_seconds = worst("p99");
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dimensions_are_the_arns_resource_parts() {
        assert_eq!(
            super::dimension(
                "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/tm/50dc6c495c0c9188",
                ":loadbalancer/"
            )
            .as_deref(),
            Some("app/tm/50dc6c495c0c9188")
        );
        assert_eq!(super::dimension("nonsense", ":loadbalancer/"), None);
    }
}
