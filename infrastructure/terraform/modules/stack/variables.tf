variable "environment" {
  description = "development, staging or production."
  type        = string

  validation {
    condition     = contains(["development", "staging", "production"], var.environment)
    error_message = "environment must be development, staging or production."
  }
}

variable "project" {
  description = "Project tag value; Application Insights groups resources by it."
  type        = string
  default     = "tattoo-marketplace"
}

variable "spec" {
  description = "The spec's Environment Configuration row: VPC CIDR, instance types, storage, container count, CPU and memory."
  type = object({
    vpc_cidr          = string
    instance_type     = string
    db_instance_class = string
    db_storage_gb     = number
    container_count   = number
    container_cpu     = number
    container_memory  = number
  })

  validation {
    condition     = can(cidrhost(var.spec.vpc_cidr, 0)) && var.spec.container_count >= 1
    error_message = "spec.vpc_cidr must be a CIDR block and spec.container_count at least 1."
  }
}

variable "settings" {
  description = "What else differs by environment: zones, redundancy, protection, strategy, scaling, capacity, DR, budgets and account-wide security services."
  type = object({
    availability_zone_count   = number
    nat_gateway_per_az        = bool
    multi_az                  = bool
    deletion_protection       = bool
    max_storage_gb            = number
    disaster_recovery         = bool
    deployment_strategy       = string
    autoscaling               = object({ enabled = bool, min = number, max = number })
    fargate_spot_weight       = number
    cpu_architecture          = string
    shield_advanced           = bool
    account_security_services = bool
    monthly_budget_usd        = number
    xray_sampling_rate        = number
  })

  validation {
    condition     = var.settings.availability_zone_count >= 2 && var.settings.availability_zone_count <= 3
    error_message = "settings.availability_zone_count must be 2 or 3."
  }

  # Fargate Spot runs X86_64 tasks only.
  validation {
    condition     = var.settings.fargate_spot_weight == 0 || var.settings.cpu_architecture == "X86_64"
    error_message = "Fargate Spot does not run ARM64 tasks: use cpu_architecture = \"X86_64\" with fargate_spot_weight > 0."
  }
}

variable "availability_zones" {
  description = "Zones to use by name; null takes the region's first settings.availability_zone_count zones (so the root applies in the DR region unchanged)."
  type        = list(string)
  default     = null
}

variable "domain_names" {
  description = "Public host names CloudFront serves; the first also names the ALB origin (origin.<first>)."
  type        = list(string)

  validation {
    condition     = length(var.domain_names) > 0
    error_message = "At least one domain name is required."
  }
}

variable "dns_zone_id" {
  description = "Route 53 hosted zone of the domain names: the origin record and certificate validation live there."
  type        = string
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate in us-east-1 covering domain_names, for CloudFront."
  type        = string
}

variable "image_tag" {
  description = "Image tag the first task definition starts from (deploys change it through marketctl)."
  type        = string
  default     = "bootstrap"
}

variable "deploy_runner_cidrs" {
  description = "Where deploys run from besides the VPC (self-hosted runners), for the ALB's test listener."
  type        = list(string)
  default     = []
}

variable "alerts" {
  description = "Who alarms reach: e-mail addresses and an AWS Chatbot Slack channel. Staging and production refuse to plan with neither."
  type = object({
    emails = list(string)
    slack  = optional(object({ team_id = string, channel_id = string }))
  })
}

variable "shield_advanced_subscribed" {
  description = "The account has a Shield Advanced subscription (a one-year commitment taken in the console, not by Terraform): required when settings.shield_advanced is on."
  type        = bool
  default     = false
}

variable "db_connections_alarm_threshold" {
  description = "Database connections above which to warn (the spec: 50); the per-task pool is sized from it."
  type        = number
  default     = 50
}

variable "upload_path_regex" {
  description = "The app's upload routes (the ones with a larger body limit in routes/mod.rs and routes/openapi.rs): the 8 KB WAF body rule does not apply there, the upload size rule does."
  type        = string
  default     = "^/(artists/[^/]+/book|dashboard/(portfolio|flash)|bookings/[^/]+/healed-photo|api/v1/booking-requests)$"
}

variable "max_upload_bytes" {
  description = "Largest request body the upload paths take: the app's largest route body limit (4 reference photos of 10 MiB plus the form)."
  type        = number
  default     = 42008576
}
