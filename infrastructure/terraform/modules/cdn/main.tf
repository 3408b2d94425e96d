# CloudFront in front of the ALB (pages, API, content-hashed /static/) and of a private S3 bucket
# (media) reached through Origin Access Control. TLS 1.2_2021 minimum, WAF attached, access logs,
# and cache policies: a year for hashed assets and media, nothing for the app's HTML.

data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

# The viewer's Host header goes to the app, which checks Origin against Host and builds links
# from it; CloudFront then validates the origin certificate against that Host, so the ALB's
# certificate names every public domain as well as the origin's own name.
data "aws_cloudfront_origin_request_policy" "all_viewer" {
  name = "Managed-AllViewer"
}

locals {
  alb_origin   = "alb"
  media_origin = "media"
}

# ---------------------------------------------------------------- media bucket

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV2_AWS_62:No consumer of bucket events yet; thumbnails are made by the app on upload.
  bucket_prefix = "${var.name}-media-"
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    id     = "tidy-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_transition {
      noncurrent_days = 30
      storage_class   = "STANDARD_IA"
    }
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "media" {
  bucket        = aws_s3_bucket.media.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3-media/"

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  description                       = "CloudFront reads the media bucket; nothing else can"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_iam_policy_document" "media" {
  statement {
    sid     = "CloudFrontReads"
    actions = ["s3:GetObject"]
    # Public work only: reference photos (media/references/) are served by the app to the
    # request's two parties, never by the CDN.
    resources = [
      "${aws_s3_bucket.media.arn}/media/portfolio/*",
      "${aws_s3_bucket.media.arn}/media/flash/*",
      "${aws_s3_bucket.media.arn}/media/demo/*",
    ]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media.json
}

# ---------------------------------------------------------------- media replica (DR region)

# Portfolio images and reference photos exist nowhere else (the database holds only their keys),
# so the DR region keeps a replica of every version, encrypted with that region's key.
# Written only by S3 replication (recorded by CloudTrail); the DR region has no log bucket.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "media_replica" {
  #checkov:skip=CKV_AWS_18:Writes come only from S3 replication, recorded by CloudTrail's data events.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the replica.
  count         = var.replicate_media ? 1 : 0
  provider      = aws.dr
  bucket_prefix = "${var.name}-media-dr-"
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "media_replica" {
  count                   = var.replicate_media ? 1 : 0
  provider                = aws.dr
  bucket                  = aws_s3_bucket.media_replica[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "media_replica" {
  count    = var.replicate_media ? 1 : 0
  provider = aws.dr
  bucket   = aws_s3_bucket.media_replica[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media_replica" {
  count    = var.replicate_media ? 1 : 0
  provider = aws.dr
  bucket   = aws_s3_bucket.media_replica[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.dr_kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media_replica" {
  count    = var.replicate_media ? 1 : 0
  provider = aws.dr
  bucket   = aws_s3_bucket.media_replica[0].id
  rule {
    id     = "tidy-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "media_replica" {
  count = var.replicate_media ? 1 : 0
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.media_replica[0].arn, "${aws_s3_bucket.media_replica[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media_replica" {
  count    = var.replicate_media ? 1 : 0
  provider = aws.dr
  bucket   = aws_s3_bucket.media_replica[0].id
  policy   = data.aws_iam_policy_document.media_replica[0].json
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "replication_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "replication" {
  count              = var.replicate_media ? 1 : 0
  name               = "${var.name}-media-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  count = var.replicate_media ? 1 : 0
  statement {
    sid       = "ReadSource"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
  }
  statement {
    sid       = "ReadSourceVersions"
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${aws_s3_bucket.media.arn}/*"]
  }
  statement {
    sid       = "WriteReplica"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${aws_s3_bucket.media_replica[0].arn}/*"]
  }
  statement {
    sid       = "DecryptSource"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "EncryptReplica"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.dr_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "replication" {
  count  = var.replicate_media ? 1 : 0
  name   = "replicate-media"
  role   = aws_iam_role.replication[0].id
  policy = data.aws_iam_policy_document.replication[0].json
}

resource "aws_s3_bucket_replication_configuration" "media" {
  count  = var.replicate_media ? 1 : 0
  role   = aws_iam_role.replication[0].arn
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "media-to-dr"
    status = "Enabled"
    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = aws_s3_bucket.media_replica[0].arn
      storage_class = "STANDARD_IA"
      encryption_configuration {
        replica_kms_key_id = var.dr_kms_key_arn
      }
    }
  }

  # Replication needs versioning on both sides first.
  depends_on = [aws_s3_bucket_versioning.media, aws_s3_bucket_versioning.media_replica]
}

# ---------------------------------------------------------------- access logs

# The log bucket itself: logging it to itself would loop.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:CloudFront standard logs cannot be delivered to SSE-KMS buckets.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated; losing a region's logs loses no customer data.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the log bucket.
  bucket_prefix = "${var.name}-cdn-logs-"
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging delivers with ACLs, so this bucket must allow them.
  bucket = aws_s3_bucket.logs.id
  rule {
    # CloudFront standard logging writes with ACLs.
    object_ownership = "BucketOwnerPreferred"
  }
}

# S3 server access logs (the media bucket's) are delivered by the logging service, which needs
# this grant; CloudFront's standard logs arrive through the bucket ACL instead.
data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3-media/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.media.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Log delivery (ALB, CloudFront, S3 access logs) supports only SSE-S3.
#trivy:ignore:AVD-AWS-0132
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# ---------------------------------------------------------------- cache and headers

resource "aws_cloudfront_cache_policy" "immutable" {
  name        = "${var.name}-immutable"
  comment     = "Content-hashed assets and media: cache for a year, no cookies or query strings"
  min_ttl     = 86400
  default_ttl = 31536000
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${var.name}-security-headers"
  comment = "The same strict headers the app sends, enforced at the edge for S3 media too"

  security_headers_config {
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
    content_security_policy {
      content_security_policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
      override                = false
    }
  }
}

# ---------------------------------------------------------------- distribution

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV2_AWS_47:The web ACL passed in (security module) runs AWSManagedRulesKnownBadInputsRuleSet, which CKV_AWS_192 verifies there; checkov cannot follow the ARN across modules.
  #checkov:skip=CKV_AWS_310:One ALB origin spans AZs already; a second-region failover origin is part of the manual DR procedure (docs/runbooks/disaster-recovery.md).
  #checkov:skip=CKV_AWS_305:The app serves "/" itself; a default root object would bypass it.
  #checkov:skip=CKV_AWS_374:The marketplace is global; no geo restriction is wanted.
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name}: pages, API and assets"
  aliases         = var.domain_names
  price_class     = var.price_class
  web_acl_id      = var.web_acl_arn
  http_version    = "http2and3"
  tags            = var.tags

  # The ALB by a name its certificate holds (the *.elb.amazonaws.com name matches no certificate
  # of ours, and the TLS handshake would fail with 502), carrying the secret the ALB checks.
  origin {
    origin_id   = local.alb_origin
    domain_name = var.origin_domain_name
    custom_header {
      name  = var.origin_verify_header.name
      value = var.origin_verify_header.value
    }
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  origin {
    origin_id                = local.media_origin
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  # Pages and the API: never cached at the edge, every header and cookie forwarded.
  default_cache_behavior {
    target_origin_id           = local.alb_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  ordered_cache_behavior {
    path_pattern               = "/static/*"
    target_origin_id           = local.alb_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = aws_cloudfront_cache_policy.immutable.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  # Clients' reference photos are private: the service checks the session on each one, so this
  # path goes to the app, uncached, ahead of the public media behaviour below.
  ordered_cache_behavior {
    path_pattern               = "/media/references/*"
    target_origin_id           = local.alb_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  ordered_cache_behavior {
    path_pattern               = "/media/*"
    target_origin_id           = local.media_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = aws_cloudfront_cache_policy.immutable.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  viewer_certificate {
    acm_certificate_arn      = var.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}
