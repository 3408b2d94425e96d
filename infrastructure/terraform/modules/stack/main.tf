# One environment of the marketplace: the seven modules wired together once, so the three
# environment roots differ only in the values they pass (the spec's table and a few switches).

data "aws_region" "dr" {
  provider = aws.dr
}

# Every zone, whatever its state: an impaired zone must not drop out of the list and take its
# subnets with it on the next apply. New zones sort after the existing ones.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first availability_zone_count names (sorted) are used, and an environment pins them by name with availability_zones; the list is never used whole.
  all_availability_zones = true
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  name       = "tm-${var.environment}"
  production = var.environment == "production"
  # Named zones when given (they must never shift under a running VPC); otherwise the region's
  # first ones, so the same root applies in the DR region unchanged.
  availability_zones = coalesce(var.availability_zones, slice(data.aws_availability_zones.available.names, 0, var.settings.availability_zone_count))
  origin_domain_name = "origin.${var.domain_names[0]}"

  # Database connections at full scale: every task of two releases side by side (a blue/green or
  # rolling deploy at the autoscaling ceiling), each with its pool, plus the migration task's and
  # an operator's session, stay within the spec's warning threshold.
  db_connection_reserve = 2
  db_tasks_at_peak      = 2 * (var.settings.autoscaling.enabled ? var.settings.autoscaling.max : var.spec.container_count)
  db_pool_per_task      = min(10, floor((var.db_connections_alarm_threshold - local.db_connection_reserve) / local.db_tasks_at_peak))
}

module "security" {
  source = "../security"
  providers = {
    aws        = aws
    aws.global = aws.global
    aws.dr     = aws.dr
  }

  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  vpc_cidr                   = var.spec.vpc_cidr
  enable_shield_advanced     = var.settings.shield_advanced
  shield_advanced_subscribed = var.shield_advanced_subscribed
  shield_protected_arns = {
    alb = module.ecs.alb_arn
    cdn = module.cdn.distribution_arn
  }
  upload_path_regex = var.upload_path_regex
  max_upload_bytes  = var.max_upload_bytes
  tags              = { Feature = "security" }
}

module "vpc" {
  source = "../vpc"

  name                       = local.name
  cidr_block                 = var.spec.vpc_cidr
  availability_zones         = local.availability_zones
  nat_gateway_per_az         = var.settings.nat_gateway_per_az
  flow_log_kms_key_arn       = module.security.kms_key_arns["logs"]
  endpoint_security_group_id = module.security.endpoints_security_group_id
  tags                       = { Feature = "network" }
}

module "database" {
  source = "../database"
  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  name                        = local.name
  instance_class              = var.spec.db_instance_class
  allocated_storage_gb        = var.spec.db_storage_gb
  max_allocated_storage_gb    = var.settings.max_storage_gb
  subnet_ids                  = module.vpc.data_subnet_ids
  security_group_id           = module.security.db_security_group_id
  kms_key_arn                 = module.security.kms_key_arns["data"]
  logs_kms_key_arn            = module.security.kms_key_arns["logs"]
  multi_az                    = var.settings.multi_az
  deletion_protection         = var.settings.deletion_protection
  backup_retention_days       = 30
  cross_region_backup_copy    = var.settings.disaster_recovery
  dr_kms_key_arn              = module.security.backup_kms_key_arn
  connections_alarm_threshold = var.db_connections_alarm_threshold
  warning_topic_arn           = module.monitoring.warning_topic_arn
  critical_topic_arn          = module.monitoring.critical_topic_arn
  tags                        = { Feature = "database" }
}

module "ecs" {
  source                 = "../ecs"
  name                   = local.name
  environment            = var.environment
  vpc_id                 = module.vpc.vpc_id
  public_subnet_ids      = module.vpc.public_subnet_ids
  app_subnet_ids         = module.vpc.app_subnet_ids
  media_bucket           = module.cdn.media_bucket
  alb_security_group_id  = module.security.alb_security_group_id
  test_security_group_id = module.security.test_listener_security_group_id
  app_security_group_id  = module.security.app_security_group_id
  origin_domain_name     = local.origin_domain_name
  public_domain_names    = var.domain_names
  dns_zone_id            = var.dns_zone_id
  web_acl_arn            = module.security.regional_web_acl_arn
  kms_key_arn            = module.security.kms_key_arns["data"]
  field_kms_key_arn      = module.security.field_kms_key_arn
  logs_kms_key_arn       = module.security.kms_key_arns["logs"]
  dr_region              = var.settings.disaster_recovery ? data.aws_region.dr.name : null
  dr_kms_key_arn         = module.security.backup_kms_key_arn
  image_tag              = var.image_tag
  task_cpu               = var.spec.container_cpu
  task_memory            = var.spec.container_memory
  cpu_architecture       = var.settings.cpu_architecture
  desired_count          = var.spec.container_count
  db_pool_per_task       = local.db_pool_per_task
  database_resource_id   = module.database.resource_id
  database_user          = module.database.app_user
  deployment_strategy    = var.settings.deployment_strategy
  test_listener_cidrs    = concat([var.spec.vpc_cidr], var.deploy_runner_cidrs)
  autoscaling            = var.settings.autoscaling
  fargate_spot_weight    = var.settings.fargate_spot_weight
  ec2_capacity = {
    enabled       = false
    instance_type = var.spec.instance_type
  }
  alb_deletion_protection = var.settings.deletion_protection
  tags                    = { Feature = "application" }
}

module "cdn" {
  source = "../cdn"
  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  name                 = local.name
  domain_names         = var.domain_names
  certificate_arn      = var.cloudfront_certificate_arn
  origin_domain_name   = module.ecs.origin_domain_name
  origin_verify_header = module.ecs.origin_verify_header
  web_acl_arn          = module.security.cloudfront_web_acl_arn
  kms_key_arn          = module.security.kms_key_arns["data"]
  replicate_media      = var.settings.disaster_recovery
  dr_kms_key_arn       = module.security.backup_kms_key_arn
  tags                 = { Feature = "cdn" }
}

module "monitoring" {
  source = "../monitoring"
  providers = {
    aws        = aws
    aws.global = aws.global
  }

  name                       = local.name
  project                    = var.project
  environment                = var.environment
  kms_key_arn                = module.security.kms_key_arns["logs"]
  global_kms_key_arn         = module.security.global_logs_kms_key_arn
  cluster_name               = module.ecs.cluster_name
  service_names              = module.ecs.service_names
  alb_arn_suffix             = module.ecs.alb_arn_suffix
  target_group_arn_suffixes  = module.ecs.target_group_arn_suffixes
  certificate_arn            = module.ecs.certificate_arn
  cloudfront_certificate_arn = var.cloudfront_certificate_arn
  distribution_id            = module.cdn.distribution_id
  regional_web_acl_name      = module.security.regional_web_acl_name
  cloudfront_web_acl_name    = module.security.cloudfront_web_acl_name
  db_instance_identifier     = module.database.instance_identifier
  db_connections_threshold   = var.db_connections_alarm_threshold
  slack                      = var.alerts.slack
  alert_emails               = var.alerts.emails
  require_subscriber         = var.environment != "development"
  monthly_budget_usd         = var.settings.monthly_budget_usd
  xray_sampling_rate         = var.settings.xray_sampling_rate
  tags                       = { Feature = "monitoring" }
}

module "compliance" {
  source = "../compliance"

  name               = local.name
  environment        = var.environment
  account_services   = var.settings.account_security_services
  kms_key_arn        = module.security.kms_key_arns["logs"]
  critical_topic_arn = module.monitoring.critical_topic_arn
  log_retention_days = local.production ? 2557 : 365
  tags               = { Feature = "compliance" }
}
