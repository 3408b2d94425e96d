# The app on ECS Fargate behind an ALB: ECR, cluster with Container Insights, one service on
# ECS's own deployment controller (rolling, or blue/green and canary with a production and an
# alternate target group, production and test listener rules, and the infrastructure role ECS
# shifts traffic with), the spec's rollback alarms per target group, the deploy history and lock
# bucket marketctl shares, secrets from Secrets Manager, autoscaling, optional Fargate Spot and
# EC2 capacity.
#
# Ownership: Terraform creates all of this once; after that marketctl owns releases. It
# registers task definition revisions and sets the deployment configuration on every deploy,
# and ECS moves the listener rule weights and swaps the target groups' roles. So the service's
# task_definition, desired_count (autoscaling), deployment configuration, alarms and load
# balancer, and the listener rules' actions, are ignored after creation.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_elb_service_account" "this" {}

locals {
  colours = toset(["blue", "green"])
  image   = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"

  # Stopping a task, in one place. ECS first drains the target for the deregistration delay, then
  # sends SIGTERM; the app keeps answering for the pre-stop delay, finishes in-flight requests
  # within the drain deadline, and must exit before ECS's stop timeout sends SIGKILL. The margin
  # covers process exit and log flushing, so no request is ever cut by the kill.
  stop = {
    pre_stop_seconds = 5
    drain_seconds    = 25
    margin_seconds   = 10
  }
  stop_timeout_seconds = local.stop.pre_stop_seconds + local.stop.drain_seconds + local.stop.margin_seconds
}

# ---------------------------------------------------------------- registry

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false
  tags                 = var.tags

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged layers after 7 days"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the 50 newest releases (rollback targets)"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
        action       = { type = "expire" }
      },
    ]
  })
}

# ---------------------------------------------------------------- secrets (values set out of band)

resource "aws_secretsmanager_secret" "app" {
  for_each = {
    database_url   = "PostgreSQL URL of the app's own role without a password: it signs in with RDS IAM tokens"
    session_secret = "Session cookie signing key, at least 64 characters"
    mail_smtp_url  = "SMTP URL with credentials for notification email (SES SMTP interface)"
  }
  #checkov:skip=CKV2_AWS_57:Rotating the session key signs everyone out and SES SMTP credentials are IAM user keys; both follow docs/runbooks/secrets.md, which no Lambda rotator fits.
  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
  tags                    = var.tags

  # The DR region holds a replica of every secret, so a failover deploy finds them in place.
  dynamic "replica" {
    for_each = var.dr_region == null ? [] : [var.dr_region]
    content {
      region     = replica.value
      kms_key_id = var.dr_kms_key_arn
    }
  }
}

# ---------------------------------------------------------------- cluster and logs

resource "aws_ecs_cluster" "this" {
  name = var.name
  tags = var.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

# The audit log's copy outside the database: each entry is a JSON line with target "audit",
# carrying its sequence number and chain hash, so a row changed later in the database no longer
# matches what CloudWatch received.
resource "aws_cloudwatch_query_definition" "audit" {
  name            = "${var.name}/audit-log"
  log_group_names = [aws_cloudwatch_log_group.app.name]
  query_string    = <<-EOT
    fields @timestamp, seq, action, actor, subject, hash
    | filter target = "audit"
    | sort seq desc
  EOT
}

# ---------------------------------------------------------------- IAM

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.this.arn]
  }
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for s in aws_secretsmanager_secret.app : s.arn]
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The app itself calls AWS to send traces and to store portfolio images.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "Traces"
    # The ADOT collector sidecar sends the app's spans with the task's role. X-Ray has no
    # resource-level permissions, so these cannot be narrowed below "*".
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]
    resources = ["*"]
  }
  statement {
    sid     = "MediaObjects"
    actions = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    # The service keeps its images under media/ (the CDN serves /media/... from the same keys);
    # reference images are read back by the service itself, for the request's parties only.
    resources = [
      "arn:aws:s3:::${var.media_bucket}/media/portfolio/*",
      "arn:aws:s3:::${var.media_bucket}/media/flash/*",
      "arn:aws:s3:::${var.media_bucket}/media/references/*",
    ]
  }
  statement {
    sid       = "MediaEncryption"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  # Field encryption of health answers, dates of birth and skin photos: the app's data keys are
  # wrapped by this key under an encryption context naming their use; `marketplace keys rotate`
  # (a one-off task with this role) re-wraps them.
  statement {
    sid       = "FieldEncryption"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = [var.field_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:purpose"
      values   = ["tm-field-encryption"]
    }
  }
  # The app signs in to PostgreSQL with short-lived IAM tokens instead of a stored password.
  statement {
    sid       = "DatabaseIamAuth"
    actions   = ["rds-db:connect"]
    resources = ["arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${var.database_resource_id}/${var.database_user}"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "traces-media"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---------------------------------------------------------------- task definition

locals {
  # The ADOT collector beside each app container: OTLP/HTTP on the task's loopback only (the
  # containers share it in awsvpc mode), batched, to X-Ray. Its configuration travels in
  # AOT_CONFIG_CONTENT, so no file has to be baked into an image.
  otel_port = 4318
  otel_config = yamlencode({
    extensions = { health_check = { endpoint = "127.0.0.1:13133" } }
    receivers = {
      otlp = { protocols = { http = { endpoint = "127.0.0.1:${local.otel_port}" } } }
    }
    processors = {
      memory_limiter = { check_interval = "1s", limit_mib = 96 }
      batch          = { timeout = "1s", send_batch_size = 256 }
    }
    exporters = {
      awsxray = { region = data.aws_region.current.name, indexed_attributes = ["http.route"] }
    }
    service = {
      extensions = ["health_check"]
      pipelines = {
        traces = { receivers = ["otlp"], processors = ["memory_limiter", "batch"], exporters = ["awsxray"] }
      }
    }
  })
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE", "EC2"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    # ARM64 (Graviton) where tasks run on demand; X86_64 where they run on Fargate Spot, which
    # has no ARM64 capacity. The image is built for both (deploy.yml).
    cpu_architecture = var.cpu_architecture
  }

  # The root filesystem is read-only; /tmp is the only writable place.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "marketplace"
      image                  = local.image
      essential              = true
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      privileged             = false
      stopTimeout            = local.stop_timeout_seconds
      portMappings           = [{ containerPort = var.container_port, protocol = "tcp" }]
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      environment = [
        { name = "TM_ENV", value = var.environment },
        { name = "TM_SERVER_PORT", value = tostring(var.container_port) },
        { name = "TM_MEDIA_S3_BUCKET", value = var.media_bucket },
        { name = "AWS_REGION", value = data.aws_region.current.name },
        { name = "TM_SERVER_PRE_STOP_DELAY_MS", value = tostring(local.stop.pre_stop_seconds * 1000) },
        { name = "TM_SERVER_DRAIN_DEADLINE_MS", value = tostring(local.stop.drain_seconds * 1000) },
        { name = "TM_DATABASE_MAX_CONNECTIONS", value = tostring(var.db_pool_per_task) },
        { name = "TM_DATABASE_IAM_AUTH", value = "true" },
        { name = "TM_ENCRYPTION_KMS_KEY_ID", value = var.field_kms_key_arn },
        # KPI events as Embedded Metric Format lines: CloudWatch metrics with no agent, shown on
        # the monitoring module's dashboard (same namespace).
        { name = "TM_LOG_EMF_NAMESPACE", value = "TattooMarketplace" },
        # Spans go to the collector sidecar below; the sampling ratio is the environment's
        # (config/<env>.toml), and traces with an error are always kept.
        { name = "TM_TRACING_OTLP_ENDPOINT", value = "http://127.0.0.1:${local.otel_port}" },
      ]
      # The collector is up before the first request's spans; if it later fails, the app keeps
      # serving (the collector is not essential) and only spans are lost.
      dependsOn = [{ containerName = "otel-collector", condition = "START" }]
      secrets = [
        { name = "TM_DATABASE_URL", valueFrom = aws_secretsmanager_secret.app["database_url"].arn },
        { name = "TM_SESSION_SECRET", valueFrom = aws_secretsmanager_secret.app["session_secret"].arn },
        { name = "TM_MAIL_SMTP_URL", valueFrom = aws_secretsmanager_secret.app["mail_smtp_url"].arn },
      ]
      healthCheck = {
        command     = ["CMD", "/app/marketplace", "healthcheck", "--timeout-secs", "2"]
        interval    = 10
        timeout     = 3
        retries     = 3
        startPeriod = 15
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = "marketplace"
        }
      }
      linuxParameters = { initProcessEnabled = true }
    },
    {
      name                   = "otel-collector"
      image                  = var.otel_collector_image
      essential              = false
      readonlyRootFilesystem = true
      privileged             = false
      memoryReservation      = 128
      environment            = [{ name = "AOT_CONFIG_CONTENT", value = local.otel_config }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = "otel-collector"
        }
      }
    }
  ])
}

# ---------------------------------------------------------------- load balancer

# The log bucket itself: logging it to itself would loop.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "alb_logs" {
  #checkov:skip=CKV_AWS_145:ALB access logging only supports SSE-S3, not SSE-KMS.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated; losing a region's logs loses no customer data.
  #checkov:skip=CKV_AWS_18:This is the log bucket; logging it to itself would loop.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the log bucket.
  bucket_prefix = "${var.name}-alb-logs-"
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "alb_logs" {
  bucket                  = aws_s3_bucket.alb_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Log delivery (ALB, CloudFront, S3 access logs) supports only SSE-S3.
#trivy:ignore:AVD-AWS-0132
resource "aws_s3_bucket_server_side_encryption_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "alb_logs" {
  statement {
    sid       = "AlbWritesLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.alb_logs.arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.alb_logs.arn, "${aws_s3_bucket.alb_logs.arn}/*"]
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

resource "aws_s3_bucket_policy" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  policy = data.aws_iam_policy_document.alb_logs.json
}

# Internet-facing only so CloudFront can reach it: its security group admits CloudFront's
# origin-facing prefix list alone, and its rule only requests carrying the secret origin header.
#trivy:ignore:AVD-AWS-0053
resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The web ACL passed in (security module) runs AWSManagedRulesKnownBadInputsRuleSet, which CKV_AWS_192 verifies there; checkov cannot follow the ARN across modules.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [var.alb_security_group_id, var.test_security_group_id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 60
  tags                       = var.tags

  access_logs {
    bucket  = aws_s3_bucket.alb_logs.id
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.alb_logs]
}

# The origin's name and its certificate. CloudFront connects to origin.<domain> and, since it
# forwards the viewer's Host header, checks the certificate against that too; so the certificate
# names the origin and every public name.
resource "aws_route53_record" "origin" {
  zone_id = var.dns_zone_id
  name    = var.origin_domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# CloudFront adds this header to every origin request; the production rule admits nothing without
# it, so even another CloudFront distribution (whose servers share the prefix list) cannot reach
# the app around this one's WAF. Rotate by tainting it: one apply updates both sides.
resource "random_password" "origin_verify" {
  length  = 48
  special = false
}

locals {
  origin_verify_header = {
    name  = "X-Origin-Verify"
    value = random_password.origin_verify.result
  }
}

resource "aws_acm_certificate" "origin" {
  domain_name               = var.origin_domain_name
  subject_alternative_names = var.public_domain_names
  validation_method         = "DNS"
  key_algorithm             = "EC_prime256v1"
  tags                      = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "origin_validation" {
  for_each = {
    for o in aws_acm_certificate.origin.domain_validation_options : o.domain_name => {
      name   = o.resource_record_name
      type   = o.resource_record_type
      record = o.resource_record_value
    }
  }
  zone_id         = var.dns_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "origin" {
  certificate_arn         = aws_acm_certificate.origin.arn
  validation_record_fqdns = [for r in aws_route53_record.origin_validation : r.fqdn]
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.web_acl_arn
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB (HTTPS listeners only); tasks are reached over HTTP inside the VPC's private subnets.
  for_each             = local.colours
  name                 = "${var.name}-${each.key}"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.stop.pre_stop_seconds + local.stop.drain_seconds
  tags                 = merge(var.tags, { Colour = each.key })

  health_check {
    path                = "/health/ready"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  # TLS 1.3 first, with TLS 1.2 kept because CloudFront speaks at most TLS 1.2 to origins.
  ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn = aws_acm_certificate_validation.origin.certificate_arn
  tags            = var.tags

  # Requests reach the app through the production rule, which ECS drives and which admits only
  # requests carrying CloudFront's secret origin header; anything else gets 403.
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

# Production traffic: all on blue at creation; ECS shifts the weights during blue/green and
# canary deployments and leaves them on the winner.
resource "aws_lb_listener_rule" "production" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10
  tags         = var.tags

  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.this["blue"].arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.this["green"].arn
        weight = 0
      }
    }
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  condition {
    http_header {
      http_header_name = local.origin_verify_header.name
      values           = [local.origin_verify_header.value]
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}

# The test listener: the new release before production traffic moves to it (marketctl's smoke
# tests). Reachable from the VPC and the deploy runners only.
resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.origin.certificate_arn
  tags              = var.tags

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener_rule" "test" {
  listener_arn = aws_lb_listener.test.arn
  priority     = 10
  tags         = var.tags

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["green"].arn
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}

resource "aws_vpc_security_group_ingress_rule" "test_listener" {
  for_each          = toset(var.test_listener_cidrs)
  security_group_id = var.test_security_group_id
  description       = "Test listener: the VPC and the deploy runners"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# ---------------------------------------------------------------- service

# The role ECS uses to move listener rule weights and target groups in blue/green and canary
# deployments.
data "aws_iam_policy_document" "ecs_infrastructure_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "ecs_infrastructure" {
  name               = "${var.name}-ecs-infrastructure"
  assume_role_policy = data.aws_iam_policy_document.ecs_infrastructure_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  role       = aws_iam_role.ecs_infrastructure.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}

resource "aws_ecs_service" "this" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.this.arn
  desired_count                     = var.desired_count
  health_check_grace_period_seconds = 30
  enable_execute_command            = false
  propagate_tags                    = "SERVICE"
  tags                              = var.tags

  deployment_controller {
    type = "ECS"
  }

  # The environment's default strategy; marketctl sets the one each deploy asks for.
  deployment_configuration {
    strategy             = var.deployment_strategy
    bake_time_in_minutes = var.deployment_strategy == "ROLLING" ? null : var.bake_time_minutes
  }

  # Surge first, drain second: never below the desired count during a rolling update.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  alarms {
    alarm_names = local.rollback_alarm_names
    enable      = true
    rollback    = true
  }

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 1
    weight            = 1
  }

  dynamic "capacity_provider_strategy" {
    for_each = var.fargate_spot_weight > 0 ? [1] : []
    content {
      capacity_provider = "FARGATE_SPOT"
      weight            = var.fargate_spot_weight
    }
  }

  network_configuration {
    subnets          = var.app_subnet_ids
    security_groups  = [var.app_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this["blue"].arn
    container_name   = "marketplace"
    container_port   = var.container_port

    advanced_configuration {
      alternate_target_group_arn = aws_lb_target_group.this["green"].arn
      production_listener_rule   = aws_lb_listener_rule.production.arn
      test_listener_rule         = aws_lb_listener_rule.test.arn
      role_arn                   = aws_iam_role.ecs_infrastructure.arn
    }
  }

  # marketctl owns releases and their deployment configuration; ECS swaps the target groups'
  # roles with each blue/green deploy; autoscaling owns the count (see the header).
  lifecycle {
    ignore_changes = [
      task_definition,
      desired_count,
      deployment_configuration,
      deployment_circuit_breaker,
      alarms,
      load_balancer,
    ]
  }

  # The capacity-provider strategy names FARGATE_SPOT (and EC2), which must be attached to the
  # cluster before the service can be created.
  depends_on = [
    aws_lb_listener_rule.production,
    aws_lb_listener_rule.test,
    aws_iam_role_policy_attachment.ecs_infrastructure,
    aws_ecs_cluster_capacity_providers.this,
  ]
}

# ---------------------------------------------------------------- rollback alarms

locals {
  rollback_alarm_names = concat(
    [for a in aws_cloudwatch_metric_alarm.rollback_5xx : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.rollback_latency : a.alarm_name],
  )
}

# The spec's rollback triggers per target group (the new release's is the alternate one while it
# bakes): ECS rolls a deployment back when one fires.
resource "aws_cloudwatch_metric_alarm" "rollback_5xx" {
  for_each            = local.colours
  alarm_name          = "${var.name}-5xx-${each.key}"
  alarm_description   = "More than 5% of requests to the ${each.key} target group answered 5xx (rolls a deployment back)"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 5
  treat_missing_data  = "notBreaching"
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "100 * FILL(errors, 0) / IF(FILL(requests, 0) > 0, FILL(requests, 0), 1)"
    label       = "5xx percent"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = aws_lb.this.arn_suffix
        TargetGroup  = aws_lb_target_group.this[each.key].arn_suffix
      }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = aws_lb.this.arn_suffix
        TargetGroup  = aws_lb_target_group.this[each.key].arn_suffix
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "rollback_latency" {
  for_each            = local.colours
  alarm_name          = "${var.name}-latency-${each.key}"
  alarm_description   = "p95 response time of the ${each.key} target group above 10 s (rolls a deployment back)"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  tags                = var.tags
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.this[each.key].arn_suffix
  }
}

# ---------------------------------------------------------------- deploy history and lock

# marketctl's history and lock for this environment, shared by everyone who deploys it (CI
# runners and people), written with S3's conditional writes. Every write is the release role's
# and in CloudTrail, so server access logs would add nothing.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "deploy_state" {
  #checkov:skip=CKV_AWS_144:Deploy history is not replicated: it is rebuilt from the ECS service's deployments if a region is lost.
  #checkov:skip=CKV_AWS_18:Every write is by the deploy role and recorded in CloudTrail; access logs would add nothing.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the deploy history.
  bucket        = "${var.name}-deploy-state"
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "deploy_state" {
  bucket                  = aws_s3_bucket.deploy_state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "deploy_state" {
  bucket = aws_s3_bucket.deploy_state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "deploy_state" {
  bucket = aws_s3_bucket.deploy_state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "deploy_state" {
  bucket = aws_s3_bucket.deploy_state.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "deploy_state" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.deploy_state.arn, "${aws_s3_bucket.deploy_state.arn}/*"]
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

resource "aws_s3_bucket_policy" "deploy_state" {
  bucket = aws_s3_bucket.deploy_state.id
  policy = data.aws_iam_policy_document.deploy_state.json
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = concat(["FARGATE", "FARGATE_SPOT"], var.ec2_capacity.enabled ? [aws_ecs_capacity_provider.ec2[0].name] : [])
}

# ---------------------------------------------------------------- autoscaling

resource "aws_appautoscaling_target" "this" {
  count              = var.autoscaling.enabled ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.autoscaling.min
  max_capacity       = var.autoscaling.max
  tags               = var.tags
}

# On CPU only: a requests-per-target policy names one target group, and which of the pair takes
# production traffic changes with every blue/green deploy.
resource "aws_appautoscaling_policy" "cpu" {
  count              = var.autoscaling.enabled ? 1 : 0
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ---------------------------------------------------------------- optional EC2 capacity

data "aws_ssm_parameter" "ecs_ami" {
  count = var.ec2_capacity.enabled ? 1 : 0
  name  = "/aws/service/ecs/optimized-ami/amazon-linux-2023/${startswith(var.ec2_capacity.instance_type, "r6g") || startswith(var.ec2_capacity.instance_type, "t4g") ? "arm64/" : ""}recommended/image_id"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ec2" {
  count              = var.ec2_capacity.enabled ? 1 : 0
  name               = "${var.name}-ecs-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ec2" {
  count      = var.ec2_capacity.enabled ? 1 : 0
  role       = aws_iam_role.ec2[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "ec2" {
  count = var.ec2_capacity.enabled ? 1 : 0
  name  = "${var.name}-ecs-instance"
  role  = aws_iam_role.ec2[0].name
  tags  = var.tags
}

resource "aws_launch_template" "ec2" {
  count                  = var.ec2_capacity.enabled ? 1 : 0
  name_prefix            = "${var.name}-"
  image_id               = data.aws_ssm_parameter.ecs_ami[0].value
  instance_type          = var.ec2_capacity.instance_type
  vpc_security_group_ids = [var.app_security_group_id]
  user_data              = base64encode("#!/bin/bash\necho ECS_CLUSTER=${var.name} >> /etc/ecs/ecs.config\n")
  tags                   = var.tags

  iam_instance_profile {
    arn = aws_iam_instance_profile.ec2[0].arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 30
      volume_type = "gp3"
      encrypted   = true
      kms_key_id  = var.kms_key_arn
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-ecs" })
  }
}

resource "aws_autoscaling_group" "ec2" {
  count               = var.ec2_capacity.enabled ? 1 : 0
  name_prefix         = "${var.name}-ecs-"
  min_size            = 0
  max_size            = var.ec2_capacity.max_size
  vpc_zone_identifier = var.app_subnet_ids

  launch_template {
    id      = aws_launch_template.ec2[0].id
    version = "$Latest"
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = var.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_ecs_capacity_provider" "ec2" {
  count = var.ec2_capacity.enabled ? 1 : 0
  name  = "${var.name}-ec2"
  tags  = var.tags

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.ec2[0].arn
    managed_termination_protection = "DISABLED"
    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
}
