# Shared by the three environment roots (each links this file).

output "marketctl_ecs" {
  description = "The [ecs] section of deploy/ENV.toml."
  value       = merge(module.stack.marketctl_ecs, { region = var.region })
}

output "marketctl_rds" {
  description = "The [rds] section of deploy/ENV.toml."
  value       = module.stack.marketctl_rds
}

output "task_definition_family" {
  description = "Task definition family marketctl registers revisions in."
  value       = module.stack.task_definition_family
}

output "ecr_repository_url" {
  description = "Image repository."
  value       = module.stack.ecr_repository_url
}

output "distribution_domain_name" {
  description = "Point DNS here."
  value       = module.stack.distribution_domain_name
}

output "database_endpoint" {
  description = "PostgreSQL endpoint."
  value       = module.stack.database_endpoint
}

output "alert_topics" {
  description = "SNS topics by severity."
  value       = module.stack.alert_topics
}

output "alarm_names" {
  description = "Alarms monitoring-setup verifies."
  value       = module.stack.alarm_names
}

output "secret_arns" {
  description = "Secrets to fill before the first deploy."
  value       = module.stack.secret_arns
}

output "dr" {
  description = "Resources the disaster-recovery runbook names."
  value       = module.stack.dr
}

output "database_pool" {
  description = "Connection arithmetic (docs/environments.md)."
  value       = module.stack.database_pool
}
