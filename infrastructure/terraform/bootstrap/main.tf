# Run once per account: the versioned, encrypted state bucket (locking uses S3 lock files) and
# the GitHub OIDC provider with the deploy role, so CI never holds long-lived AWS keys.

provider "aws" {
  region = var.region
  default_tags {
    tags = merge(var.tags, { Environment = "shared" })
  }
}

# The disaster-recovery region: replicas of the state bucket and of every tm-* image repository.
provider "aws" {
  alias  = "dr"
  region = var.dr_region
  default_tags {
    tags = merge(var.tags, { Environment = "shared" })
  }
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "state" {
  description             = "Terraform state"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the state bucket.
  bucket = var.state_bucket_name
  tags   = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "keep-old-state-versions-90-days"
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

# The log bucket itself: logging it to itself would loop.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "state_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access logs cannot be delivered to SSE-KMS buckets.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the log bucket.
  bucket = "${var.state_bucket_name}-logs"
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "state_logs" {
  bucket = aws_s3_bucket.state_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Log delivery (ALB, CloudFront, S3 access logs) supports only SSE-S3.
#trivy:ignore:AVD-AWS-0132
resource "aws_s3_bucket_server_side_encryption_configuration" "state_logs" {
  bucket = aws_s3_bucket.state_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state_logs" {
  bucket                  = aws_s3_bucket.state_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state_logs" {
  bucket = aws_s3_bucket.state_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# ---------------------------------------------------------------- state replica (DR region)

# Without the state, "apply in the DR region" cannot know what exists: every version of every
# environment's state is replicated there.
resource "aws_kms_key" "state_dr" {
  provider                = aws.dr
  description             = "Terraform state replica (DR region)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

# Written only by S3 replication (recorded by CloudTrail); the DR region has no log bucket.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "state_replica" {
  #checkov:skip=CKV_AWS_18:Written only by S3 replication, which CloudTrail records.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the state replica.
  provider = aws.dr
  bucket   = "${var.state_bucket_name}-${var.dr_region}"
  tags     = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.state_replica.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.state_replica.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state_dr.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state_replica" {
  provider                = aws.dr
  bucket                  = aws_s3_bucket.state_replica.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.state_replica.id
  rule {
    id     = "keep-old-state-versions-90-days"
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

resource "aws_s3_bucket_policy" "state_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.state_replica.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state_replica.arn, "${aws_s3_bucket.state_replica.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

resource "aws_iam_role" "state_replication" {
  name = "tattoo-marketplace-state-replication"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "state_replication" {
  name = "replicate-state"
  role = aws_iam_role.state_replication.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource = aws_s3_bucket.state.arn },
      { Effect = "Allow", Action = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"], Resource = "${aws_s3_bucket.state.arn}/*" },
      { Effect = "Allow", Action = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], Resource = "${aws_s3_bucket.state_replica.arn}/*" },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = aws_kms_key.state.arn },
      { Effect = "Allow", Action = ["kms:Encrypt", "kms:GenerateDataKey"], Resource = aws_kms_key.state_dr.arn },
    ]
  })
}

resource "aws_s3_bucket_replication_configuration" "state" {
  role   = aws_iam_role.state_replication.arn
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "state-to-dr"
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
      bucket = aws_s3_bucket.state_replica.arn
      encryption_configuration {
        replica_kms_key_id = aws_kms_key.state_dr.arn
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.state, aws_s3_bucket_versioning.state_replica]
}

# ---------------------------------------------------------------- image replicas (DR region)

# One per registry, so it lives here rather than in each environment: every tm-* repository's
# images are copied to the DR region as they are pushed, ready for a failover deploy.
resource "aws_ecr_replication_configuration" "dr" {
  replication_configuration {
    rule {
      destination {
        region      = var.dr_region
        registry_id = data.aws_caller_identity.current.account_id
      }
      repository_filter {
        filter      = "tm-"
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}

# S3 server access logs are delivered by the logging service, which needs this grant.
data "aws_iam_policy_document" "state_logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.state_logs.arn}/state/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.state.arn]
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
    resources = [aws_s3_bucket.state_logs.arn, "${aws_s3_bucket.state_logs.arn}/*"]
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

resource "aws_s3_bucket_policy" "state_logs" {
  bucket = aws_s3_bucket.state_logs.id
  policy = data.aws_iam_policy_document.state_logs.json
}

resource "aws_s3_bucket_logging" "state" {
  bucket        = aws_s3_bucket.state.id
  target_bucket = aws_s3_bucket.state_logs.id
  target_prefix = "state/"

  depends_on = [aws_s3_bucket_policy.state_logs]
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# ---------------------------------------------------------------- GitHub OIDC

resource "aws_iam_openid_connect_provider" "github" {
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = var.tags
}

locals {
  account = data.aws_caller_identity.current.account_id
  # Each GitHub environment assumes only its own roles; production's has required reviewers.
  github_trust = { for env in var.environments : env => local.trust_of[env] }
  # The daily backup job runs in ENV-backups, a GitHub environment without reviewers (nobody
  # approves a backup at 04:30), which can assume the backup role and nothing else.
  github_backup_trust = { for env in var.environments : env => local.trust_of["${env}-backups"] }
  trust_of = {
    for env in concat(var.environments, [for e in var.environments : "${e}-backups"]) : env => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = aws_iam_openid_connect_provider.github.arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
            "token.actions.githubusercontent.com:sub" = "repo:${var.github_repository}:environment:${env}"
          }
        }
      }]
    })
  }
}

# Terraform for one environment (the plan and apply jobs): it creates the whole stack, so
# PowerUser, with IAM only for that environment's own roles.
resource "aws_iam_role" "terraform" {
  for_each             = toset(var.environments)
  name                 = "tm-${each.key}-terraform"
  assume_role_policy   = local.github_trust[each.key]
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "terraform" {
  for_each   = aws_iam_role.terraform
  role       = each.value.name
  policy_arn = "arn:aws:iam::aws:policy/PowerUserAccess"
}

resource "aws_iam_role_policy" "terraform_iam" {
  for_each = aws_iam_role.terraform
  name     = "environment-roles"
  role     = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
        "iam:PassRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy",
        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
        "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
        "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
        "iam:UpdateAssumeRolePolicy", "iam:CreateServiceLinkedRole",
      ]
      Resource = [
        "arn:aws:iam::${local.account}:role/tm-${each.key}-*",
        "arn:aws:iam::${local.account}:instance-profile/tm-${each.key}-*",
        "arn:aws:iam::${local.account}:role/aws-service-role/*",
      ]
    }]
  })
}

# Releases for one environment (the image and release jobs): push its image, and what marketctl
# calls on its service, nothing else.
resource "aws_iam_role" "release" {
  for_each             = toset(var.environments)
  name                 = "tm-${each.key}-release"
  assume_role_policy   = local.github_trust[each.key]
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "release" {
  for_each = toset(var.environments)

  statement {
    sid = "ReadOnlyDescribes"
    # These calls take no resource-level permissions.
    actions = [
      "ecr:GetAuthorizationToken",
      "ecs:DescribeTaskDefinition",
      "ecs:RegisterTaskDefinition",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
      "cloudwatch:GetMetricData",
    ]
    resources = ["*"]
  }
  statement {
    sid = "PushTheEnvironmentsImage"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages",
    ]
    resources = ["arn:aws:ecr:*:${local.account}:repository/tm-${each.key}"]
  }
  statement {
    sid = "DriveTheEnvironmentsService"
    actions = [
      "ecs:DescribeServices", "ecs:UpdateService", "ecs:StopServiceDeployment",
      "ecs:ContinueServiceDeployment", "ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask",
      "ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments",
    ]
    resources = [
      "arn:aws:ecs:*:${local.account}:service/tm-${each.key}/*",
      "arn:aws:ecs:*:${local.account}:service-deployment/tm-${each.key}/*",
      "arn:aws:ecs:*:${local.account}:task-definition/tm-${each.key}:*",
      "arn:aws:ecs:*:${local.account}:task/tm-${each.key}/*",
    ]
  }
  statement {
    sid       = "ReadTheRollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:aws:cloudwatch:*:${local.account}:alarm:tm-${each.key}-*"]
  }
  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = ["arn:aws:iam::${local.account}:role/tm-${each.key}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "CheckTheTasksSecretsExist"
    actions   = ["secretsmanager:DescribeSecret"]
    resources = ["arn:aws:secretsmanager:*:${local.account}:secret:tm-${each.key}/*"]
  }
  statement {
    sid       = "DeployHistoryAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:aws:s3:::tm-${each.key}-deploy-state/*"]
  }
  statement {
    sid       = "DeployHistoryBucket"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::tm-${each.key}-deploy-state"]
  }
  statement {
    sid       = "DeployHistoryEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["arn:aws:kms:*:${local.account}:key/*"]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["s3.*.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "release" {
  for_each = aws_iam_role.release
  name     = "release"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.release[each.key].json
}

# The daily backup job (.github/workflows/backup.yml): snapshot the environment's database, copy
# it to the DR region, verify it by restoring a scratch instance, publish BackupVerified. It
# may delete only its own scratch instances (tm-ENV-verify-*) and snapshots, never the live one.
resource "aws_iam_role" "backup" {
  for_each             = toset(var.environments)
  name                 = "tm-${each.key}-backup"
  assume_role_policy   = local.github_backup_trust[each.key]
  max_session_duration = 7200
  tags                 = var.tags
}

data "aws_iam_policy_document" "backup" {
  for_each = toset(var.environments)

  statement {
    sid     = "Describe"
    actions = ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:ListTagsForResource"]
    resources = [
      "arn:aws:rds:*:${local.account}:db:tm-${each.key}",
      "arn:aws:rds:*:${local.account}:db:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:snapshot:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:snapshot:rds:tm-${each.key}-*",
    ]
  }
  statement {
    sid = "SnapshotCopyAndTag"
    actions = [
      "rds:CreateDBSnapshot", "rds:CopyDBSnapshot", "rds:DeleteDBSnapshot", "rds:AddTagsToResource",
    ]
    resources = [
      "arn:aws:rds:*:${local.account}:db:tm-${each.key}",
      "arn:aws:rds:*:${local.account}:snapshot:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:snapshot:rds:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:db:tm-${each.key}-verify-*",
    ]
  }
  statement {
    sid     = "RestoreAndDeleteTheScratchInstance"
    actions = ["rds:RestoreDBInstanceFromDBSnapshot", "rds:DeleteDBInstance"]
    resources = [
      "arn:aws:rds:*:${local.account}:db:tm-${each.key}-verify-*",
      "arn:aws:rds:*:${local.account}:snapshot:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:snapshot:rds:tm-${each.key}-*",
      "arn:aws:rds:*:${local.account}:subgrp:*",
      "arn:aws:rds:*:${local.account}:pg:*",
      "arn:aws:rds:*:${local.account}:og:*",
    ]
  }
  statement {
    sid = "UseTheDatabaseKeysThroughRds"
    # RDS creates grants on the customer-managed keys for encrypted copies and restores.
    actions   = ["kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["arn:aws:kms:*:${local.account}:key/*"]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["rds.*.amazonaws.com"]
    }
  }
  statement {
    sid       = "PublishBackupVerified"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["TattooMarketplace/Backups"]
    }
  }
}

resource "aws_iam_role_policy" "backup" {
  for_each = aws_iam_role.backup
  name     = "backup"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.backup[each.key].json
}
