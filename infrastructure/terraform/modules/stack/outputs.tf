output "cluster_name" {
  description = "ECS cluster."
  value       = module.ecs.cluster_name
}

output "marketctl_ecs" {
  description = "The [ecs] section of deploy/ENV.toml."
  value = {
    cluster      = module.ecs.cluster_name
    service      = module.ecs.service_name
    state_bucket = module.ecs.deploy_state_bucket
    alarms       = module.ecs.rollback_alarm_names
    public_url   = "https://${var.domain_names[0]}"
    test_url     = "https://${module.ecs.origin_domain_name}:${module.ecs.test_listener_port}"
  }
}

output "marketctl_rds" {
  description = "The [rds] section of deploy/ENV.toml: the instance marketctl restores from, the secret a cut-over points at the restored one, and the DR region and key its backups are copied with."
  value = {
    instance            = module.database.instance_identifier
    database_url_secret = module.ecs.secret_arns["database_url"]
    # Where `marketctl backup ENV create` copies each snapshot (null: no DR region).
    dr_region  = var.settings.disaster_recovery ? data.aws_region.dr.name : null
    dr_kms_key = var.settings.disaster_recovery ? module.security.backup_kms_key_arn : null
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
  description = "Point the public DNS names here."
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
  value       = concat(module.monitoring.alarm_names, module.database.alarm_names)
}

output "secret_arns" {
  description = "Secrets to fill before the first deploy."
  value       = module.ecs.secret_arns
}

output "dr" {
  description = "What the disaster-recovery runbook names in the DR region."
  value = {
    media_replica_bucket = module.cdn.media_replica_bucket
    secret_replicas      = var.settings.disaster_recovery
    backups_replicated   = var.settings.disaster_recovery
  }
}

output "database_pool" {
  description = "The connection arithmetic: pool per task, tasks at peak (two releases at the ceiling) and the alarm threshold."
  value = {
    pool_per_task   = local.db_pool_per_task
    tasks_at_peak   = local.db_tasks_at_peak
    reserve         = local.db_connection_reserve
    alarm_threshold = var.db_connections_alarm_threshold
  }
}
