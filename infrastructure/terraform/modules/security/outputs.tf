output "alb_security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "app_security_group_id" {
  description = "Security group of the app containers."
  value       = aws_security_group.app.id
}

output "db_security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.db.id
}

output "endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints."
  value       = aws_security_group.endpoints.id
}

output "kms_key_arns" {
  description = "Customer-managed KMS key ARNs in the primary region by purpose: data, logs."
  value       = { for k, v in aws_kms_key.this : k => v.arn }
}

output "backup_kms_key_arn" {
  description = "Customer-managed KMS key in the DR region for database backup copies."
  value       = aws_kms_key.backups.arn
}

output "regional_web_acl_arn" {
  description = "WAF web ACL for the ALB."
  value       = aws_wafv2_web_acl.regional.arn
}

output "cloudfront_web_acl_arn" {
  description = "WAF web ACL for the CloudFront distribution (us-east-1)."
  value       = aws_wafv2_web_acl.global.arn
}

output "test_listener_security_group_id" {
  description = "Security group for the ALB's test listener sources (the VPC and the deploy runners)."
  value       = aws_security_group.test_listener.id
}

output "global_logs_kms_key_arn" {
  description = "Key in us-east-1 for CloudFront-side logs, alarms and topics."
  value       = aws_kms_key.global_logs.arn
}

output "regional_web_acl_name" {
  description = "The ALB's web ACL name (WAF metrics)."
  value       = aws_wafv2_web_acl.regional.name
}

output "cloudfront_web_acl_name" {
  description = "The CloudFront web ACL name (WAF metrics in us-east-1)."
  value       = aws_wafv2_web_acl.global.name
}

output "field_kms_key_arn" {
  description = "Multi-Region KMS key that wraps the app's field-encryption data keys (primary Region)."
  value       = aws_kms_key.fields.arn
}

output "field_kms_replica_key_arn" {
  description = "The DR Region's replica of the field-encryption key, for a stack restored there."
  value       = aws_kms_replica_key.fields.arn
}
