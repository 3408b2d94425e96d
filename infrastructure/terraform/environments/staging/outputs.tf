output "cluster_name" {
  description = "ECS cluster (marketctl's ECS platform)."
  value       = module.ecs.cluster_name
}

output "service_names" {
  description = "Blue and green ECS services."
  value       = module.ecs.service_names
}

output "target_group_names" {
  description = "Blue and green target groups."
  value       = module.ecs.target_group_names
}

output "listener_arn" {
  description = "Weighted HTTPS listener."
  value       = module.ecs.listener_arn
}

output "task_definition_family" {
  description = "Task definition family."
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
