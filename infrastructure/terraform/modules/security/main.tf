# Security: least-privilege security groups, WAF (regional for the ALB, global for CloudFront),
# optional Shield Advanced, and customer-managed KMS keys with rotation for data, logs and backups.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
}

# ---------------------------------------------------------------- KMS

data "aws_iam_policy_document" "key_admin" {
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
}

data "aws_iam_policy_document" "logs_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  statement {
    sid = "CloudWatchLogsEncrypt"
    actions = [
      "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
    }
  }

  statement {
    sid       = "SnsAndCloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "sns.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "data_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  statement {
    sid       = "CloudFrontReadsMedia"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = {
    data = { description = "Database, secrets, images and container registry", policy = data.aws_iam_policy_document.data_key.json }
    logs = { description = "CloudWatch Logs, SNS topics and flow logs", policy = data.aws_iam_policy_document.logs_key.json }
  }

  description             = "${var.name}: ${each.value.description}"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = each.value.policy
  tags                    = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# Backup copies live in the disaster-recovery region, so their key does too.
resource "aws_kms_key" "backups" {
  provider                = aws.dr
  description             = "${var.name}: the DR region's copies: database backups, media, secrets"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key_admin.json
  tags                    = merge(var.tags, { Name = "${var.name}-backups" })
}

# Field encryption (health answers, dates of birth, skin photos): its own key, so access to
# special-category data is granted and audited apart from everything else, and multi-Region, so
# the DR Region's replica opens the data keys stored in a restored database while the primary
# Region (and its KMS) is down.
resource "aws_kms_key" "fields" {
  description             = "${var.name}: field encryption of special-category data"
  multi_region            = true
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key_admin.json
  tags                    = merge(var.tags, { Name = "${var.name}-fields" })
}

resource "aws_kms_alias" "fields" {
  name          = "alias/${var.name}-fields"
  target_key_id = aws_kms_key.fields.key_id
}

resource "aws_kms_replica_key" "fields" {
  provider                = aws.dr
  description             = "${var.name}: field encryption of special-category data (DR replica)"
  primary_key_arn         = aws_kms_key.fields.arn
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key_admin.json
  tags                    = merge(var.tags, { Name = "${var.name}-fields" })
}

resource "aws_kms_alias" "backups" {
  provider      = aws.dr
  name          = "alias/${var.name}-backups"
  target_key_id = aws_kms_key.backups.key_id
}

resource "aws_kms_alias" "this" {
  for_each      = aws_kms_key.this
  name          = "alias/${var.name}-${each.key}"
  target_key_id = each.value.key_id
}

# ---------------------------------------------------------------- security groups

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ecs, database, vpc), which checkov cannot follow across module boundaries.
  name        = "${var.name}-alb"
  description = "Load balancer: HTTPS from the internet only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })
}

# Only CloudFront's origin-facing servers reach the public listener, so the WAF and the CDN
# cannot be skipped (the ALB also requires CloudFront's secret origin header: see the ecs
# module). The prefix list counts as its ~55 entries against the group's rule quota, which is why
# the test listener's sources live in a group of their own.
data "aws_ec2_managed_prefix_list" "cloudfront" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from CloudFront's origin-facing servers only"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront.id
  tags              = var.tags
}

# The test listener's sources (the VPC and deploy runners): the ecs module adds its rules here.
resource "aws_security_group" "test_listener" {
  #checkov:skip=CKV2_AWS_5:Attached to the load balancer in the ecs module, which checkov cannot follow across module boundaries.
  name        = "${var.name}-alb-test"
  description = "Load balancer test listener: the VPC and the deploy runners"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb-test" })
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the app containers only"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.app.id
  tags                         = var.tags
}

resource "aws_security_group" "app" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ecs, database, vpc), which checkov cannot follow across module boundaries.
  name        = "${var.name}-app"
  description = "Marketplace containers: traffic from the load balancer only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-app" })
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "HTTP from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.alb.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "app_to_endpoints" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to the VPC endpoints (ECR, S3, Secrets Manager, Logs) inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
  tags              = var.tags
}

# Notification e-mail: SES's SMTP interface through its VPC endpoint (STARTTLS on 587), so the
# app sends mail without a route to the internet's port 25.
resource "aws_vpc_security_group_egress_rule" "app_to_ses" {
  security_group_id            = aws_security_group.app.id
  description                  = "SMTP submission to the SES endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 587
  to_port                      = 587
  referenced_security_group_id = aws_security_group.endpoints.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_smtp" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "SMTP submission from the app to the SES endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 587
  to_port                      = 587
  referenced_security_group_id = aws_security_group.app.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "app_to_s3" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.s3.id
  tags              = var.tags
}

data "aws_ec2_managed_prefix_list" "s3" {
  name = "com.amazonaws.${local.region}.s3"
}

resource "aws_security_group" "db" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ecs, database, vpc), which checkov cannot follow across module boundaries.
  name        = "${var.name}-db"
  description = "PostgreSQL: from the app containers only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the app"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.app.id
  tags                         = var.tags
}

resource "aws_security_group" "endpoints" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ecs, database, vpc), which checkov cannot follow across module boundaries.
  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
  tags              = var.tags
}

# ---------------------------------------------------------------- WAF

locals {
  # The label the common rule set puts on bodies over 8 KB (its SizeRestrictions_BODY rule).
  body_size_label = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"

  # A Content-Length above max_upload_bytes, as a regex (WAF compares no numbers): more digits,
  # or as many digits and larger at the first place they differ.
  limit_digits = tostring(var.max_upload_bytes)
  limit_length = length(local.limit_digits)
  content_length_over_limit = format("^0*(%s)$", join("|", concat(
    ["[1-9][0-9]{${local.limit_length},}"],
    [
      for i in range(local.limit_length) :
      format("%s[%d-9][0-9]{%d}", substr(local.limit_digits, 0, i), tonumber(substr(local.limit_digits, i, 1)) + 1, local.limit_length - i - 1)
      if tonumber(substr(local.limit_digits, i, 1)) < 9
    ],
  )))
}

resource "aws_wafv2_web_acl" "regional" {
  name        = "${var.name}-regional"
  description = "OWASP common rules, known bad inputs, SQL injection, upload size and per-IP rate limit (ALB)"
  scope       = "REGIONAL"
  tags        = var.tags

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  # Uploads: larger than the app's largest body limit is refused at the edge. WAF sees only the
  # first 8-16 KB of a body, so the declared Content-Length is what it can judge.
  rule {
    name     = "upload-too-large"
    priority = 5
    action {
      block {}
    }
    statement {
      and_statement {
        statement {
          regex_match_statement {
            regex_string = var.upload_path_regex
            field_to_match {
              uri_path {}
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
        statement {
          regex_match_statement {
            regex_string = local.content_length_over_limit
            field_to_match {
              single_header {
                name = "content-length"
              }
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-upload-too-large"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"
        # Counted here and enforced by the rule below everywhere but the upload routes.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesSQLiRuleSet"
    priority = 30
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesSQLiRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesSQLiRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # The common rule set's 8 KB body limit, everywhere except the upload routes.
  rule {
    name     = "body-over-8kb-outside-uploads"
    priority = 11
    action {
      block {}
    }
    statement {
      and_statement {
        statement {
          label_match_statement {
            scope = "LABEL"
            key   = local.body_size_label
          }
        }
        statement {
          not_statement {
            statement {
              regex_match_statement {
                regex_string = var.upload_path_regex
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-body-over-8kb"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-regional"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl" "global" {
  provider    = aws.global
  name        = "${var.name}-cloudfront"
  description = "OWASP common rules, known bad inputs, SQL injection, upload size and per-IP rate limit (CloudFront)"
  scope       = "CLOUDFRONT"
  tags        = var.tags

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  # Uploads: larger than the app's largest body limit is refused at the edge. WAF sees only the
  # first 8-16 KB of a body, so the declared Content-Length is what it can judge.
  rule {
    name     = "upload-too-large"
    priority = 5
    action {
      block {}
    }
    statement {
      and_statement {
        statement {
          regex_match_statement {
            regex_string = var.upload_path_regex
            field_to_match {
              uri_path {}
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
        statement {
          regex_match_statement {
            regex_string = local.content_length_over_limit
            field_to_match {
              single_header {
                name = "content-length"
              }
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-upload-too-large"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"
        # Counted here and enforced by the rule below everywhere but the upload routes.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesSQLiRuleSet"
    priority = 30
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesSQLiRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-AWSManagedRulesSQLiRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # The common rule set's 8 KB body limit, everywhere except the upload routes.
  rule {
    name     = "body-over-8kb-outside-uploads"
    priority = 11
    action {
      block {}
    }
    statement {
      and_statement {
        statement {
          label_match_statement {
            scope = "LABEL"
            key   = local.body_size_label
          }
        }
        statement {
          not_statement {
            statement {
              regex_match_statement {
                regex_string = var.upload_path_regex
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-cf-body-over-8kb"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-cloudfront"
    sampled_requests_enabled   = true
  }
}

# WAF log group names must start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf_regional" {
  name              = "aws-waf-logs-${var.name}-regional"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "regional" {
  resource_arn            = aws_wafv2_web_acl.regional.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf_regional.arn]

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}

resource "aws_cloudwatch_log_group" "waf_global" {
  provider          = aws.global
  name              = "aws-waf-logs-${var.name}-cloudfront"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.global_logs.arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "global" {
  provider                = aws.global
  resource_arn            = aws_wafv2_web_acl.global.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf_global.arn]

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}

data "aws_iam_policy_document" "global_logs_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  statement {
    sid = "CloudWatchLogsEncrypt"
    actions = [
      "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.us-east-1.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:us-east-1:${local.account_id}:*"]
    }
  }

  statement {
    sid       = "AlarmsAndTopicsInUsEast1"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "sns.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The CloudFront WAF logs live in us-east-1 and need a key there.
resource "aws_kms_key" "global_logs" {
  provider                = aws.global
  description             = "${var.name}: CloudFront WAF logs (us-east-1)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.global_logs_key.json
  tags                    = merge(var.tags, { Name = "${var.name}-global-logs" })
}

# ---------------------------------------------------------------- Shield Advanced

# Protections need the account's Shield Advanced subscription: a one-year commitment at a
# monthly fee, taken deliberately in the console (docs/environments.md), not as a side effect of
# an apply. The plan stops here if it is missing instead of failing half-way through an apply.
resource "aws_shield_protection" "this" {
  for_each     = var.enable_shield_advanced ? var.shield_protected_arns : {}
  name         = "${var.name}-${each.key}"
  resource_arn = each.value
  tags         = var.tags

  lifecycle {
    precondition {
      condition     = var.shield_advanced_subscribed
      error_message = "Shield Advanced is enabled but the account has no subscription: subscribe (docs/environments.md, \"Before the first apply\") and set shield_advanced_subscribed = true."
    }
  }
}
