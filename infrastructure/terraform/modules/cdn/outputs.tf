output "distribution_id" {
  description = "CloudFront distribution ID (for invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "CloudFront distribution ARN (Shield Advanced, WAF)."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_domain_name" {
  description = "The *.cloudfront.net name to point DNS at."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "media_bucket" {
  description = "S3 bucket for images, served under /media/."
  value       = aws_s3_bucket.media.bucket
}

output "media_replica_bucket" {
  description = "The media bucket's replica in the DR region (null where DR is off)."
  value       = var.replicate_media ? aws_s3_bucket.media_replica[0].bucket : null
}
