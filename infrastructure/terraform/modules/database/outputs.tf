output "endpoint" {
  description = "host:port of the primary."
  value       = aws_db_instance.this.endpoint
}

output "address" {
  description = "Hostname of the primary."
  value       = aws_db_instance.this.address
}

output "database_name" {
  description = "Database the app uses."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master credentials (rotated by RDS)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "instance_arn" {
  description = "The DB instance ARN."
  value       = aws_db_instance.this.arn
}

output "instance_identifier" {
  description = "The DB instance identifier, for alarms and dashboards."
  value       = aws_db_instance.this.identifier
}

output "resource_id" {
  description = "The instance's resource id (db-...), for rds-db:connect permissions."
  value       = aws_db_instance.this.resource_id
}

output "app_user" {
  description = "The app's PostgreSQL role (IAM authentication)."
  value       = var.app_user
}

output "alarm_names" {
  description = "The database's alarms."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.this : a.alarm_name],
    [aws_cloudwatch_metric_alarm.storage.alarm_name, aws_cloudwatch_metric_alarm.connection_failures.alarm_name, aws_cloudwatch_metric_alarm.backup_not_verified.alarm_name],
  )
}
