output "critical_topic_arn" {
  description = "SNS topic for critical alerts."
  value       = aws_sns_topic.this["critical"].arn
}

output "warning_topic_arn" {
  description = "SNS topic for warning alerts."
  value       = aws_sns_topic.this["warning"].arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Every alarm this module created, for monitoring-setup checks."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.service : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.ratio : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.unhealthy_hosts : a.alarm_name],
    [
      aws_cloudwatch_metric_alarm.latency.alarm_name,
      aws_cloudwatch_metric_alarm.no_healthy_hosts.alarm_name,
      aws_cloudwatch_metric_alarm.certificate.alarm_name,
      aws_cloudwatch_metric_alarm.waf_blocks.alarm_name,
      aws_cloudwatch_metric_alarm.traffic_anomaly.alarm_name,
    ],
  )
}

output "deployment_log_group" {
  description = "Log group marketctl writes deployment events to."
  value       = aws_cloudwatch_log_group.deployments.name
}

output "global_alarm_names" {
  description = "Alarms in us-east-1 (CloudFront's metrics and certificate)."
  value = [
    aws_cloudwatch_metric_alarm.cloudfront_certificate.alarm_name,
    aws_cloudwatch_metric_alarm.cloudfront_5xx.alarm_name,
    aws_cloudwatch_metric_alarm.cloudfront_waf_blocks.alarm_name,
  ]
}

output "global_topic_arns" {
  description = "The us-east-1 topics by severity."
  value       = { for k, t in aws_sns_topic.global : k => t.arn }
}
