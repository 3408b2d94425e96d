output "state_bucket" {
  description = "Bucket the environments' S3 backends use."
  value       = aws_s3_bucket.state.bucket
}

output "deploy_role_arn" {
  description = "Role GitHub Actions assumes through OIDC (secret AWS_DEPLOY_ROLE_ARN)."
  value       = aws_iam_role.deploy.arn
}
