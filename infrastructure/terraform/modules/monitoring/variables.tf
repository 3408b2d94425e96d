variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "project" {
  description = "Project tag value; Application Insights groups resources by it."
  type        = string
}

variable "environment" {
  description = "Environment tag value."
  type        = string

  validation {
    condition     = contains(["development", "staging", "production"], var.environment)
    error_message = "environment must be development, staging or production."
  }
}

variable "kms_key_arn" {
  description = "Logs key: SNS topics and log groups."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster."
  type        = string
}

variable "service_names" {
  description = "ECS services by colour."
  type        = map(string)
}

variable "alb_arn_suffix" {
  description = "The load balancer's ARN suffix."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "Target group ARN suffixes by colour."
  type        = map(string)
}

variable "certificate_arn" {
  description = "The ALB's ACM certificate, watched for expiry."
  type        = string
}

variable "cloudfront_certificate_arn" {
  description = "CloudFront's ACM certificate (us-east-1), watched for expiry."
  type        = string
}

variable "global_kms_key_arn" {
  description = "Key in us-east-1 for the topics there."
  type        = string
}

variable "distribution_id" {
  description = "CloudFront distribution, for its 5xx alarm."
  type        = string
}

variable "regional_web_acl_name" {
  description = "The ALB's web ACL, for the blocked-requests alarm."
  type        = string
}

variable "cloudfront_web_acl_name" {
  description = "CloudFront's web ACL, for the blocked-requests alarm."
  type        = string
}

variable "waf_blocked_requests_threshold" {
  description = "Blocked requests in 5 minutes that count as a security incident."
  type        = number
  default     = 1000
}

variable "db_connections_threshold" {
  description = "The database connections warning (drawn on the dashboard)."
  type        = number
  default     = 50
}

variable "db_instance_identifier" {
  description = "RDS instance shown on the dashboard (its alarms live in the database module)."
  type        = string
}

variable "slack" {
  description = "AWS Chatbot Slack target for both topics; null disables it."
  type = object({
    team_id    = string
    channel_id = string
  })
  default = null
}

variable "alert_emails" {
  description = "Addresses subscribed to every alert topic and the budget alerts."
  type        = list(string)
  default     = []
}

variable "require_subscriber" {
  description = "Refuse to plan unless alerts reach someone (an e-mail address or Slack): on in staging and production."
  type        = bool
  default     = true

  validation {
    condition     = !var.require_subscriber || length(var.alert_emails) > 0 || var.slack != null
    error_message = "Alerts would reach no one: set alert_emails (TF_VAR_alert_emails) or slack (TF_VAR_slack) for this environment."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget; alerts at 80% actual and 100% forecast."
  type        = number

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be positive."
  }
}

variable "xray_sampling_rate" {
  description = "Fraction of requests traced after the first one each second."
  type        = number
  default     = 0.05

  validation {
    condition     = var.xray_sampling_rate >= 0 && var.xray_sampling_rate <= 1
    error_message = "xray_sampling_rate must be between 0 and 1."
  }
}

variable "log_retention_days" {
  description = "Retention of the deployment log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
