# Development environment: the spec's sizes wired through the six modules.

locals {
  project     = "tattoo-marketplace"
  environment = "development"
  name        = "tm-development"

  # The spec's Environment Configuration, exactly.
  spec = {
    vpc_cidr          = "10.0.0.0/16"
    instance_type     = "t3.micro"
    db_instance_class = "db.t3.micro"
    db_storage_gb     = 20
    container_count   = 1
    container_cpu     = 256
    container_memory  = 512
  }

  tags = {
    Project     = local.project
    Environment = local.environment
    CostCenter  = var.cost_center
    Owner       = var.owner
    ManagedBy   = "terraform"
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "global"
  region = "us-east-1"
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "dr"
  region = var.dr_region
  default_tags {
    tags = local.tags
  }
}

module "security" {
  source = "../../modules/security"
  providers = {
    aws        = aws
    aws.global = aws.global
    aws.dr     = aws.dr
  }

  name                   = local.name
  vpc_id                 = module.vpc.vpc_id
  vpc_cidr               = local.spec.vpc_cidr
  enable_shield_advanced = false
  shield_protected_arns = {
    alb = module.ecs.alb_arn
    cdn = module.cdn.distribution_arn
  }
  tags = { Feature = "security" }
}

module "vpc" {
  source = "../../modules/vpc"

  name                       = local.name
  cidr_block                 = local.spec.vpc_cidr
  availability_zones         = ["us-west-2a", "us-west-2b"]
  nat_gateway_per_az         = false
  flow_log_kms_key_arn       = module.security.kms_key_arns["logs"]
  endpoint_security_group_id = module.security.endpoints_security_group_id
  tags                       = { Feature = "network" }
}

module "database" {
  source = "../../modules/database"
  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  name                     = local.name
  instance_class           = local.spec.db_instance_class
  allocated_storage_gb     = local.spec.db_storage_gb
  max_allocated_storage_gb = 40
  subnet_ids               = module.vpc.data_subnet_ids
  security_group_id        = module.security.db_security_group_id
  kms_key_arn              = module.security.kms_key_arns["data"]
  multi_az                 = false
  deletion_protection      = false
  backup_retention_days    = 30
  cross_region_backup_copy = false
  dr_kms_key_arn           = module.security.backup_kms_key_arn
  alarm_topic_arn          = module.monitoring.warning_topic_arn
  tags                     = { Feature = "database" }
}

module "ecs" {
  source = "../../modules/ecs"

  name                  = local.name
  environment           = local.environment
  vpc_id                = module.vpc.vpc_id
  public_subnet_ids     = module.vpc.public_subnet_ids
  app_subnet_ids        = module.vpc.app_subnet_ids
  media_bucket          = module.cdn.media_bucket
  alb_security_group_id = module.security.alb_security_group_id
  app_security_group_id = module.security.app_security_group_id
  certificate_arn       = var.certificate_arn
  web_acl_arn           = module.security.regional_web_acl_arn
  kms_key_arn           = module.security.kms_key_arns["data"]
  logs_kms_key_arn      = module.security.kms_key_arns["logs"]
  image_tag             = var.image_tag
  task_cpu              = local.spec.container_cpu
  task_memory           = local.spec.container_memory
  desired_count         = local.spec.container_count
  deployment_strategy   = "ROLLING"
  test_listener_cidrs   = concat([module.vpc.vpc_cidr], var.deploy_runner_cidrs)
  autoscaling = {
    enabled = false
    min     = 1
    max     = 1
  }
  fargate_spot_weight = 1
  ec2_capacity = {
    enabled       = false
    instance_type = local.spec.instance_type
  }
  alb_deletion_protection = false
  tags                    = { Feature = "application" }
}

module "cdn" {
  source = "../../modules/cdn"

  name            = local.name
  domain_names    = var.domain_names
  certificate_arn = var.cloudfront_certificate_arn
  alb_dns_name    = module.ecs.alb_dns_name
  web_acl_arn     = module.security.cloudfront_web_acl_arn
  kms_key_arn     = module.security.kms_key_arns["data"]
  tags            = { Feature = "cdn" }
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                      = local.name
  project                   = local.project
  environment               = local.environment
  kms_key_arn               = module.security.kms_key_arns["logs"]
  cluster_name              = module.ecs.cluster_name
  service_names             = module.ecs.service_names
  alb_arn_suffix            = module.ecs.alb_arn_suffix
  target_group_arn_suffixes = module.ecs.target_group_arn_suffixes
  certificate_arn           = var.certificate_arn
  db_instance_identifier    = module.database.instance_identifier
  slack                     = var.slack
  alert_emails              = var.alert_emails
  monthly_budget_usd        = 150
  xray_sampling_rate        = 0.2
  tags                      = { Feature = "monitoring" }
}
