# Shared by the three environment roots (each links this file): what an operator sets per
# environment through TF_VAR_* (see .github/workflows/deploy.yml).

variable "region" {
  description = "Primary AWS region."
  type        = string
  default     = "us-west-2"
}

variable "dr_region" {
  description = "Disaster-recovery region: replicas of backups, media, secrets and images."
  type        = string
  default     = "us-east-2"

  validation {
    condition     = var.dr_region != var.region
    error_message = "dr_region must differ from region."
  }
}

variable "availability_zones" {
  description = "Zones by name; null takes the region's first ones (2, or 3 in production)."
  type        = list(string)
  default     = null
}

variable "cost_center" {
  description = "CostCenter tag."
  type        = string
  default     = "marketplace-platform"
}

variable "owner" {
  description = "Owner tag: the team answering for this environment."
  type        = string
  default     = "platform-engineering"
}

variable "image_tag" {
  description = "Image tag the task definition starts from (deploys change it through marketctl)."
  type        = string
  default     = "bootstrap"
}

variable "domain_names" {
  description = "Public host names."
  type        = list(string)
}

variable "dns_zone_id" {
  description = "Route 53 hosted zone holding the domain names."
  type        = string
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate in us-east-1 for CloudFront."
  type        = string
}

variable "slack" {
  description = "AWS Chatbot Slack workspace and channel for alerts."
  type = object({
    team_id    = string
    channel_id = string
  })
  default = null
}

variable "alert_emails" {
  description = "Addresses for alerts and budget notices; staging and production need these or Slack."
  type        = list(string)
  default     = []
}

variable "deploy_runner_cidrs" {
  description = "Where deploys run from besides the VPC (self-hosted runners), for the ALB's test listener."
  type        = list(string)
  default     = []
}

variable "shield_advanced_subscribed" {
  description = "The account holds a Shield Advanced subscription (production protects its ALB and distribution with it)."
  type        = bool
  default     = false
}
