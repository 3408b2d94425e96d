# Production: the spec's row of the Environment Configuration table, and the few switches
# that differ by environment. Everything else is the stack module, shared by all three.

locals {
  environment = "production"

  # The spec's Environment Configuration, exactly.
  spec = {
    vpc_cidr          = "10.2.0.0/16"
    instance_type     = "r6g.large"
    db_instance_class = "db.r6g.large"
    db_storage_gb     = 100
    container_count   = 3
    container_cpu     = 1024
    container_memory  = 2048
  }

  settings = {
    availability_zone_count = 3
    nat_gateway_per_az      = true
    multi_az                = true
    deletion_protection     = true
    max_storage_gb          = 500
    disaster_recovery       = true
    deployment_strategy     = "BLUE_GREEN"
    autoscaling             = { enabled = true, min = 3, max = 12 }
    # Graviton (ARM64), on demand only: 20% below x86 per vCPU-hour and
    # no Spot interruptions; the account-wide security services are on here
    # and cover the environments that share the account.
    fargate_spot_weight       = 0
    cpu_architecture          = "ARM64"
    shield_advanced           = true
    account_security_services = true
    monthly_budget_usd        = 2500
    xray_sampling_rate        = 0.05
  }
}

module "stack" {
  source = "../../modules/stack"
  providers = {
    aws        = aws
    aws.global = aws.global
    aws.dr     = aws.dr
  }

  environment                = local.environment
  spec                       = local.spec
  settings                   = local.settings
  availability_zones         = var.availability_zones
  domain_names               = var.domain_names
  dns_zone_id                = var.dns_zone_id
  cloudfront_certificate_arn = var.cloudfront_certificate_arn
  image_tag                  = var.image_tag
  deploy_runner_cidrs        = var.deploy_runner_cidrs
  shield_advanced_subscribed = var.shield_advanced_subscribed
  alerts = {
    emails = var.alert_emails
    slack  = var.slack
  }
}
