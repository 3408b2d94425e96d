# Development: the spec's row of the Environment Configuration table, and the few switches
# that differ by environment. Everything else is the stack module, shared by all three.

locals {
  environment = "development"

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

  settings = {
    availability_zone_count = 2
    nat_gateway_per_az      = false
    multi_az                = false
    deletion_protection     = false
    max_storage_gb          = 40
    disaster_recovery       = false
    deployment_strategy     = "ROLLING"
    autoscaling             = { enabled = false, min = 1, max = 1 }
    # Fargate Spot: x86_64, because Spot runs no ARM64 tasks; at about 70% off
    # on-demand it is cheaper than Graviton's 20%. Production shares this
    # account and turns on its account-wide security services.
    fargate_spot_weight       = 1
    cpu_architecture          = "X86_64"
    shield_advanced           = false
    account_security_services = false
    monthly_budget_usd        = 150
    xray_sampling_rate        = 0.2
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
