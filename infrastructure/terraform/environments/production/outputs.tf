output "cluster_name" {
  description = "ECS cluster."
  value       = module.ecs.cluster_name
}

output "marketctl_ecs" {
  description = "The [ecs] section of deploy/production.toml."
  value = {
    region       = var.region
    cluster      = module.ecs.cluster_name
    service      = module.ecs.service_name
    state_bucket = module.ecs.deploy_state_bucket
    alarms       = module.ecs.rollback_alarm_names
  }
}

output "task_definition_family" {
  description = "Task definition family marketctl registers revisions in."
  value       = module.ecs.task_definition_family
}

output "ecr_repository_url" {
  description = "Image repository."
  value       = module.ecs.ecr_repository_url
}

output "distribution_domain_name" {
  description = "Point DNS here."
  value       = module.cdn.distribution_domain_name
}

output "database_endpoint" {
  description = "PostgreSQL endpoint."
  value       = module.database.endpoint
}

output "alert_topics" {
  description = "SNS topics by severity."
  value = {
    critical = module.monitoring.critical_topic_arn
    warning  = module.monitoring.warning_topic_arn
  }
}

output "alarm_names" {
  description = "Alarms monitoring-setup verifies."
  value       = module.monitoring.alarm_names
}

output "secret_arns" {
  description = "Secrets to fill before the first deploy."
  value       = module.ecs.secret_arns
}
