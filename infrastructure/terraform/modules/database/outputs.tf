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
