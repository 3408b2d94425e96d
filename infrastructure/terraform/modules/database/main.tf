# PostgreSQL on RDS: encrypted with the CMK, SSL forced, 30 days of backups with PITR, Multi-AZ
# and deletion protection in production, Performance Insights, master password in Secrets
# Manager, optional cross-region backup copies, and alarms on connections, CPU and storage.

locals {
  # A major version only: RDS picks the newest minor at creation and auto_minor_version_upgrade
  # keeps it current, whereas a pinned minor stops being creatable once RDS retires it.
  major = var.engine_version

  log_exports = toset(["postgresql", "upgrade"])
}

# RDS would create these on first export with no retention and no key; created here first, they
# keep the spec's retention and are encrypted with the logs key.
resource "aws_cloudwatch_log_group" "exports" {
  for_each          = local.log_exports
  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-pg${local.major}"
  family = "postgres${local.major}"
  tags   = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# Deletion protection is a variable: on in staging and production, off in development.
#trivy:ignore:AVD-AWS-0177
resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.database_name
  username       = "marketplace_admin"
  port           = 5432

  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb > 0 ? var.max_allocated_storage_gb : null
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az

  iam_database_authentication_enabled = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  # Unique per instance: a second instance of the same name, deleted later, would otherwise fail
  # on a snapshot name its predecessor already took. Fixed at creation (see ignore_changes).
  final_snapshot_identifier = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  copy_tags_to_snapshot     = true
  # Deleting the instance keeps its automated backups (and so point-in-time recovery) for their
  # retention period.
  delete_automated_backups = false

  backup_retention_period = var.backup_retention_days
  backup_window           = "03:00-04:00"
  maintenance_window      = "sun:04:30-sun:05:30"

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = local.log_exports
  monitoring_interval             = 30
  monitoring_role_arn             = aws_iam_role.monitoring.arn

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  tags = var.tags

  lifecycle {
    ignore_changes = [final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.exports]
}

data "aws_caller_identity" "current" {}

# The master password (used only for administration) rotates on this schedule; RDS owns the
# secret and performs the rotation itself.
resource "aws_secretsmanager_secret_rotation" "master" {
  secret_id = aws_db_instance.this.master_user_secret[0].secret_arn
  rotation_rules {
    schedule_expression = var.master_password_rotation
  }
}

resource "aws_db_instance_automated_backups_replication" "dr" {
  count                  = var.cross_region_backup_copy ? 1 : 0
  provider               = aws.dr
  source_db_instance_arn = aws_db_instance.this.arn
  kms_key_id             = var.dr_kms_key_arn
  retention_period       = var.backup_retention_days
}

# ---------------------------------------------------------------- alarms

locals {
  # Memory of the spec's instance classes, for the freeable-memory alarm (10% of it).
  memory_gib = {
    "db.t3.micro"  = 1
    "db.t3.small"  = 2
    "db.t3.medium" = 4
    "db.r6g.large" = 16
  }

  alarms = {
    connections = {
      metric      = "DatabaseConnections"
      statistic   = "Maximum"
      operator    = "GreaterThanThreshold"
      threshold   = var.connections_alarm_threshold
      periods     = 1
      severity    = "warning"
      description = "More than ${var.connections_alarm_threshold} database connections (warning)."
    }
    cpu = {
      metric      = "CPUUtilization"
      statistic   = "Average"
      operator    = "GreaterThanThreshold"
      threshold   = 80
      periods     = 5
      severity    = "warning"
      description = "Database CPU above 80% for 5 minutes."
    }
    memory = {
      metric      = "FreeableMemory"
      statistic   = "Minimum"
      operator    = "LessThanThreshold"
      threshold   = lookup(local.memory_gib, var.instance_class, 1) * 1073741824 * 0.1
      periods     = 5
      severity    = "warning"
      description = "Database freeable memory below 10% of the instance's for 5 minutes."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-db-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  period              = 60
  evaluation_periods  = each.value.periods
  treat_missing_data  = "missing"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [each.value.severity == "critical" ? var.critical_topic_arn : var.warning_topic_arn]
  ok_actions          = [each.value.severity == "critical" ? var.critical_topic_arn : var.warning_topic_arn]
  tags                = var.tags
}

# Disk use as a percentage of the volume as it is now: storage autoscales, so a threshold fixed
# to the initial size would be wrong after the first growth. Enhanced Monitoring reports the data
# volume's usedPercent every 30 s into the region's RDSOSMetrics log group (RDS creates it when
# the instance starts reporting, hence the dependency).
resource "aws_cloudwatch_log_metric_filter" "storage_used" {
  name           = "${var.name}-db-storage-used-percent"
  log_group_name = "RDSOSMetrics"
  pattern        = "{ ($.instanceID = \"${var.name}\") && ($.fileSys[0].mountPoint = \"/rdsdbdata\") }"

  metric_transformation {
    name      = "StorageUsedPercent"
    namespace = "TattooMarketplace/RDS"
    value     = "$.fileSys[0].usedPercent"
    unit      = "Percent"
    dimensions = {
      DBInstanceIdentifier = "$.instanceID"
    }
  }

  depends_on = [aws_db_instance.this]
}

resource "aws_cloudwatch_metric_alarm" "storage" {
  alarm_name          = "${var.name}-db-storage"
  alarm_description   = "Database disk more than 85% used (of the volume as autoscaling has sized it)."
  namespace           = "TattooMarketplace/RDS"
  metric_name         = "StorageUsedPercent"
  statistic           = "Maximum"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  period              = 60
  evaluation_periods  = 3
  treat_missing_data  = "missing"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [var.warning_topic_arn]
  ok_actions          = [var.warning_topic_arn]
  tags                = var.tags

  depends_on = [aws_cloudwatch_log_metric_filter.storage_used]
}

# Failed sign-ins to PostgreSQL (wrong credentials, an expired IAM token, too many connections)
# from the exported server log: the app cannot reach its data, which is critical.
resource "aws_cloudwatch_log_metric_filter" "connection_failures" {
  name           = "${var.name}-db-connection-failures"
  log_group_name = aws_cloudwatch_log_group.exports["postgresql"].name
  pattern        = "?\"password authentication failed\" ?\"PAM authentication failed\" ?\"too many connections\" ?\"remaining connection slots are reserved\" ?\"no pg_hba.conf entry\""

  metric_transformation {
    name          = "ConnectionFailures"
    namespace     = "TattooMarketplace/RDS"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "connection_failures" {
  alarm_name          = "${var.name}-db-connection-failures"
  alarm_description   = "PostgreSQL refused connections (authentication or connection slots) in 2 of the last 3 minutes."
  namespace           = "TattooMarketplace/RDS"
  metric_name         = "ConnectionFailures"
  statistic           = "Sum"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 5
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.critical_topic_arn]
  ok_actions          = [var.critical_topic_arn]
  tags                = var.tags

  depends_on = [aws_cloudwatch_log_metric_filter.connection_failures]
}

# The daily backup job (`marketctl backup ENV verify`) publishes BackupVerified = 1 each time a
# snapshot restores into a scratch instance and checks out. No such datapoint in 26 hours (a
# failed, stuck or never-run job) is a backup nobody has proven: the hour's sum is missing or 0
# in each of the last 26 hourly periods.
resource "aws_cloudwatch_metric_alarm" "backup_not_verified" {
  alarm_name          = "${var.name}-backup-not-verified"
  alarm_description   = "No database backup was verified by a restore in the last 26 hours (.github/workflows/backup.yml; docs/runbooks/disaster-recovery.md)."
  namespace           = "TattooMarketplace/Backups"
  metric_name         = "BackupVerified"
  statistic           = "Sum"
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  period              = 3600
  evaluation_periods  = 26
  datapoints_to_alarm = 26
  treat_missing_data  = "breaching"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [var.warning_topic_arn]
  ok_actions          = [var.warning_topic_arn]
  tags                = var.tags
}
