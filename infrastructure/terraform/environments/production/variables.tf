variable "region" {
  description = "Primary AWS region."
  type        = string
  default     = "us-west-2"
}

variable "dr_region" {
  description = "Disaster-recovery region for backup copies."
  type        = string
  default     = "us-east-2"
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

variable "certificate_arn" {
  description = "Regional ACM certificate for the ALB."
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
  description = "Addresses for critical alerts and budget notices."
  type        = list(string)
  default     = []
}

variable "deploy_runner_cidrs" {
  description = "Where deploys run from besides the VPC (self-hosted runners), for the ALB's test listener."
  type        = list(string)
  default     = []
}
