# SOC 2 detective controls: a multi-region CloudTrail with log file validation into an
# object-locked, KMS-encrypted bucket; GuardDuty; AWS Config recording everything with a
# conformance pack of the rules behind the trust criteria we claim; Security Hub with AWS
# Foundational Security Best Practices; IAM Access Analyzer. High-severity findings from all of
# them reach the critical topic through EventBridge.
#
# The services are one per account and region, so `account_services` creates them in one
# environment per account (always production); the finding rules exist in every environment.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  count      = var.account_services ? 1 : 0
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  trail_name = "${var.name}-audit"
  trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
}

# ---------------------------------------------------------------- audit key

data "aws_iam_policy_document" "audit_key" {
  #checkov:skip=CKV_AWS_111:A KMS key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_356:A KMS key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_109:The account root must administer its own keys, or they become unmanageable.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudTrailEncrypts"
    actions   = ["kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
  }
  statement {
    sid       = "ConfigDelivers"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "audit" {
  count                   = local.count
  description             = "${var.name}: CloudTrail and AWS Config records"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.audit_key.json
  tags                    = merge(var.tags, { Name = "${var.name}-audit" })
}

resource "aws_kms_alias" "audit" {
  count         = local.count
  name          = "alias/${var.name}-audit"
  target_key_id = aws_kms_key.audit[0].key_id
}

# ---------------------------------------------------------------- audit bucket

# Object-locked evidence: access logs would need a second bucket under the same controls.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "audit" {
  #checkov:skip=CKV_AWS_18:Server access logs of the audit bucket would need a second bucket under the same controls; object lock in COMPLIANCE mode already makes every record tamper-proof, and reads go through IAM.
  #checkov:skip=CKV_AWS_144:Records of a multi-region trail are evidence, not recovery data; they are object-locked in place and CloudTrail's digest files prove their integrity.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the audit bucket; findings arrive through EventBridge.
  count               = local.count
  bucket_prefix       = "${var.name}-audit-"
  object_lock_enabled = true
  tags                = var.tags
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  count  = local.count
  bucket = aws_s3_bucket.audit[0].id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.object_lock_days
    }
  }
}

resource "aws_s3_bucket_versioning" "audit" {
  count  = local.count
  bucket = aws_s3_bucket.audit[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "audit" {
  count                   = local.count
  bucket                  = aws_s3_bucket.audit[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  count  = local.count
  bucket = aws_s3_bucket.audit[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.audit[0].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "audit" {
  count  = local.count
  bucket = aws_s3_bucket.audit[0].id
  rule {
    id     = "keep-evidence"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "GLACIER_IR"
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

data "aws_iam_policy_document" "audit_bucket" {
  count = local.count
  statement {
    sid       = "CloudTrailChecksAcl"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.audit[0].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "CloudTrailWrites"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.audit[0].arn}/cloudtrail/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "ConfigChecksBucket"
    actions   = ["s3:GetBucketAcl", "s3:ListBucket"]
    resources = [aws_s3_bucket.audit[0].arn]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "ConfigWrites"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.audit[0].arn}/config/AWSLogs/${local.account_id}/Config/*"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.audit[0].arn, "${aws_s3_bucket.audit[0].arn}/*"]
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

resource "aws_s3_bucket_policy" "audit" {
  count  = local.count
  bucket = aws_s3_bucket.audit[0].id
  policy = data.aws_iam_policy_document.audit_bucket[0].json
}

# ---------------------------------------------------------------- CloudTrail

resource "aws_cloudwatch_log_group" "trail" {
  count             = local.count
  name              = "/${var.name}/cloudtrail"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "trail_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_iam_role" "trail" {
  count              = local.count
  name               = "${var.name}-cloudtrail-logs"
  assume_role_policy = data.aws_iam_policy_document.trail_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "trail_logs" {
  count = local.count
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.trail[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "trail" {
  count  = local.count
  name   = "write-trail-logs"
  role   = aws_iam_role.trail[0].id
  policy = data.aws_iam_policy_document.trail_logs[0].json
}

resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252:Findings reach people through EventBridge and the critical topic; a per-delivery SNS notification would page on every log file.
  count                         = local.count
  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.audit[0].id
  s3_key_prefix                 = "cloudtrail"
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  kms_key_id                    = aws_kms_key.audit[0].arn
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.trail[0].arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.trail[0].arn
  tags                          = var.tags

  depends_on = [aws_s3_bucket_policy.audit, aws_iam_role_policy.trail]
}

# ---------------------------------------------------------------- GuardDuty

resource "aws_guardduty_detector" "this" {
  #checkov:skip=CKV2_AWS_3:The account is standalone (no AWS Organization to delegate GuardDuty administration to); the detector covers this account in this region, and each region the stack is applied in.
  count                        = local.count
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
  tags                         = var.tags
}

resource "aws_guardduty_detector_feature" "this" {
  for_each    = var.account_services ? toset(["S3_DATA_EVENTS", "RDS_LOGIN_EVENTS"]) : toset([])
  detector_id = aws_guardduty_detector.this[0].id
  name        = each.key
  status      = "ENABLED"
}

# Runtime threat detection inside the Fargate tasks, with the agent managed by GuardDuty.
resource "aws_guardduty_detector_feature" "runtime" {
  count       = local.count
  detector_id = aws_guardduty_detector.this[0].id
  name        = "RUNTIME_MONITORING"
  status      = "ENABLED"

  additional_configuration {
    name   = "ECS_FARGATE_AGENT_MANAGEMENT"
    status = "ENABLED"
  }
}

# ---------------------------------------------------------------- AWS Config

data "aws_iam_policy_document" "config_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "config" {
  count              = local.count
  name               = "${var.name}-config"
  assume_role_policy = data.aws_iam_policy_document.config_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "config" {
  count      = local.count
  role       = aws_iam_role.config[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWS_ConfigRole"
}

resource "aws_config_configuration_recorder" "this" {
  count    = local.count
  name     = var.name
  role_arn = aws_iam_role.config[0].arn

  recording_group {
    all_supported                 = true
    include_global_resource_types = true
  }
}

resource "aws_config_delivery_channel" "this" {
  count          = local.count
  name           = var.name
  s3_bucket_name = aws_s3_bucket.audit[0].id
  s3_key_prefix  = "config"
  s3_kms_key_arn = aws_kms_key.audit[0].arn

  snapshot_delivery_properties {
    delivery_frequency = "TwentyFour_Hours"
  }

  depends_on = [aws_config_configuration_recorder.this, aws_s3_bucket_policy.audit]
}

resource "aws_config_configuration_recorder_status" "this" {
  count      = local.count
  name       = aws_config_configuration_recorder.this[0].name
  is_enabled = true

  depends_on = [aws_config_delivery_channel.this]
}

locals {
  # AWS managed Config rules behind the SOC 2 criteria we claim: CC6 (logical access,
  # encryption), CC7 (detection and monitoring) and A1 (availability, backups).
  conformance_rules = {
    "cloudtrail-enabled"                     = "MULTI_REGION_CLOUD_TRAIL_ENABLED"
    "cloudtrail-log-file-validation-enabled" = "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED"
    "cloudtrail-encryption-enabled"          = "CLOUD_TRAIL_ENCRYPTION_ENABLED"
    "guardduty-enabled"                      = "GUARDDUTY_ENABLED_CENTRALIZED"
    "securityhub-enabled"                    = "SECURITYHUB_ENABLED"
    "root-account-mfa-enabled"               = "ROOT_ACCOUNT_MFA_ENABLED"
    "iam-root-access-key-check"              = "IAM_ROOT_ACCESS_KEY_CHECK"
    "iam-user-mfa-enabled"                   = "IAM_USER_MFA_ENABLED"
    "access-keys-rotated"                    = "ACCESS_KEYS_ROTATED"
    "s3-bucket-public-read-prohibited"       = "S3_BUCKET_PUBLIC_READ_PROHIBITED"
    "s3-bucket-public-write-prohibited"      = "S3_BUCKET_PUBLIC_WRITE_PROHIBITED"
    "s3-bucket-ssl-requests-only"            = "S3_BUCKET_SSL_REQUESTS_ONLY"
    "s3-default-encryption-kms"              = "S3_DEFAULT_ENCRYPTION_KMS"
    "rds-storage-encrypted"                  = "RDS_STORAGE_ENCRYPTED"
    "rds-instance-public-access-check"       = "RDS_INSTANCE_PUBLIC_ACCESS_CHECK"
    "db-instance-backup-enabled"             = "DB_INSTANCE_BACKUP_ENABLED"
    "rds-multi-az-support"                   = "RDS_MULTI_AZ_SUPPORT"
    "cloudwatch-log-group-encrypted"         = "CLOUDWATCH_LOG_GROUP_ENCRYPTED"
    "vpc-flow-logs-enabled"                  = "VPC_FLOW_LOGS_ENABLED"
    "vpc-default-security-group-closed"      = "VPC_DEFAULT_SECURITY_GROUP_CLOSED"
    "alb-waf-enabled"                        = "ALB_WAF_ENABLED"
    "elb-tls-https-listeners-only"           = "ELB_TLS_HTTPS_LISTENERS_ONLY"
    "kms-cmk-not-scheduled-for-deletion"     = "KMS_CMK_NOT_SCHEDULED_FOR_DELETION"
    "secretsmanager-rotation-enabled-check"  = "SECRETSMANAGER_ROTATION_ENABLED_CHECK"
    "ecs-task-definition-nonroot-user"       = "ECS_TASK_DEFINITION_NONROOT_USER"
    "ecr-private-image-scanning-enabled"     = "ECR_PRIVATE_IMAGE_SCANNING_ENABLED"
  }
}

resource "aws_config_conformance_pack" "soc2" {
  count = local.count
  name  = "${var.name}-soc2"
  template_body = yamlencode({
    Resources = {
      for name, identifier in local.conformance_rules :
      replace(title(replace(name, "-", " ")), " ", "") => {
        Type = "AWS::Config::ConfigRule"
        Properties = {
          ConfigRuleName = name
          Source         = { Owner = "AWS", SourceIdentifier = identifier }
        }
      }
    }
  })

  depends_on = [aws_config_configuration_recorder_status.this]
}

# ---------------------------------------------------------------- Security Hub, Access Analyzer

resource "aws_securityhub_account" "this" {
  count                    = local.count
  enable_default_standards = false
  auto_enable_controls     = true
}

resource "aws_securityhub_standards_subscription" "foundational" {
  count         = local.count
  standards_arn = "arn:${local.partition}:securityhub:${local.region}::standards/aws-foundational-security-best-practices/v/1.0.0"

  depends_on = [aws_securityhub_account.this]
}

resource "aws_accessanalyzer_analyzer" "this" {
  count         = local.count
  analyzer_name = "${var.name}-account"
  type          = "ACCOUNT"
  tags          = var.tags
}

# ---------------------------------------------------------------- findings to people

locals {
  finding_patterns = {
    guardduty = {
      source        = ["aws.guardduty"]
      "detail-type" = ["GuardDuty Finding"]
      detail        = { severity = [{ numeric = [">=", var.finding_severity_threshold] }] }
    }
    securityhub = {
      source        = ["aws.securityhub"]
      "detail-type" = ["Security Hub Findings - Imported"]
      detail = {
        findings = {
          Severity    = { Label = ["HIGH", "CRITICAL"] }
          Workflow    = { Status = ["NEW"] }
          RecordState = ["ACTIVE"]
        }
      }
    }
    access-analyzer = {
      source        = ["aws.access-analyzer"]
      "detail-type" = ["Access Analyzer Finding"]
      detail        = { status = ["ACTIVE"] }
    }
  }
}

resource "aws_cloudwatch_event_rule" "findings" {
  for_each      = local.finding_patterns
  name          = "${var.name}-${each.key}-findings"
  description   = "High-severity ${each.key} findings to the critical topic"
  event_pattern = jsonencode(each.value)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "findings" {
  for_each = local.finding_patterns
  rule     = aws_cloudwatch_event_rule.findings[each.key].name
  arn      = var.critical_topic_arn
}
