output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The ECS service (on ECS's own deployment controller)."
  value       = aws_ecs_service.this.name
}

output "service_names" {
  description = "The ECS services for per-service alarms and dashboards: { service }."
  value       = { service = aws_ecs_service.this.name }
}

output "target_group_names" {
  description = "The production (blue at creation) and alternate (green) target groups; ECS swaps their roles with each blue/green deploy."
  value       = { for k, t in aws_lb_target_group.this : k => t.name }
}

output "target_group_arns" {
  description = "Target group ARNs by colour."
  value       = { for k, t in aws_lb_target_group.this : k => t.arn }
}

output "listener_arn" {
  description = "The HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "production_listener_rule_arn" {
  description = "The listener rule whose weights ECS shifts."
  value       = aws_lb_listener_rule.production.arn
}

output "test_listener_rule_arn" {
  description = "The test listener's rule (the new release before production traffic)."
  value       = aws_lb_listener_rule.test.arn
}

output "infrastructure_role_arn" {
  description = "The role ECS shifts load balancer traffic with."
  value       = aws_iam_role.ecs_infrastructure.arn
}

output "rollback_alarm_names" {
  description = "The spec's rollback alarms (5xx rate, p95) per target group."
  value       = local.rollback_alarm_names
}

output "deploy_state_bucket" {
  description = "marketctl's deploy history and lock."
  value       = aws_s3_bucket.deploy_state.id
}

output "alb_arn" {
  description = "The load balancer ARN."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "The load balancer's ARN suffix, for CloudWatch dimensions."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffixes" {
  description = "Target group ARN suffixes by colour, for CloudWatch dimensions."
  value       = { for k, t in aws_lb_target_group.this : k => t.arn_suffix }
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (origin_domain_name is an alias of it)."
  value       = aws_lb.this.dns_name
}

output "ecr_repository_url" {
  description = "Where deploys push images."
  value       = aws_ecr_repository.this.repository_url
}

output "task_definition_family" {
  description = "Task definition family that marketctl registers new revisions in."
  value       = aws_ecs_task_definition.this.family
}

output "log_group_name" {
  description = "Container log group."
  value       = aws_cloudwatch_log_group.app.name
}

output "secret_arns" {
  description = "Secrets whose values operators set: database_url, session_secret, mail_smtp_url."
  value       = { for k, s in aws_secretsmanager_secret.app : k => s.arn }
}

output "origin_domain_name" {
  description = "The origin's name, as the validated certificate names it (CloudFront's origin)."
  value       = aws_acm_certificate.origin.domain_name
}

output "origin_verify_header" {
  description = "The secret header CloudFront must send for the ALB to forward a request."
  value       = local.origin_verify_header
  sensitive   = true
}

output "certificate_arn" {
  description = "The origin certificate (ALB listeners), for the expiry alarm."
  value       = aws_acm_certificate_validation.origin.certificate_arn
}

output "test_listener_port" {
  description = "Port of the test listener."
  value       = var.test_listener_port
}
