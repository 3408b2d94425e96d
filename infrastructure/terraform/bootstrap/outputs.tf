output "state_bucket" {
  description = "Bucket the environments' S3 backends use."
  value       = aws_s3_bucket.state.bucket
}

output "terraform_role_arns" {
  description = "Per environment, the role its plan and apply jobs assume (environment secret AWS_TERRAFORM_ROLE_ARN)."
  value       = { for env, r in aws_iam_role.terraform : env => r.arn }
}

output "release_role_arns" {
  description = "Per environment, the role its image and release jobs assume (environment secret AWS_RELEASE_ROLE_ARN)."
  value       = { for env, r in aws_iam_role.release : env => r.arn }
}

output "backup_role_arns" {
  description = "Per environment, the role the daily backup job assumes (secret AWS_BACKUP_ROLE_ARN of the GitHub environment ENV-backups)."
  value       = { for env, r in aws_iam_role.backup : env => r.arn }
}

output "state_replica_bucket" {
  description = "The state bucket's replica in the DR region (the DR runbook's backend)."
  value       = aws_s3_bucket.state_replica.bucket
}
