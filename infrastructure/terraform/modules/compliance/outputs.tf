output "trail_arn" {
  description = "The multi-region CloudTrail (null where this environment does not run the account's controls)."
  value       = var.account_services ? aws_cloudtrail.this[0].arn : null
}

output "audit_bucket" {
  description = "Object-locked bucket holding CloudTrail and AWS Config records."
  value       = var.account_services ? aws_s3_bucket.audit[0].bucket : null
}

output "guardduty_detector_id" {
  description = "GuardDuty detector."
  value       = var.account_services ? aws_guardduty_detector.this[0].id : null
}

output "finding_rules" {
  description = "EventBridge rules sending high-severity findings to the critical topic."
  value       = [for r in aws_cloudwatch_event_rule.findings : r.name]
}
