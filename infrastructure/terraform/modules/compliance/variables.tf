variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "development, staging or production."
  type        = string

  validation {
    condition     = contains(["development", "staging", "production"], var.environment)
    error_message = "environment must be development, staging or production."
  }
}

variable "account_services" {
  description = "Create the account-wide detective controls here (CloudTrail, GuardDuty, AWS Config with its conformance pack, Security Hub, IAM Access Analyzer). One per account and region: on in production, and in any environment with an account of its own."
  type        = bool

  validation {
    condition     = var.account_services || var.environment != "production"
    error_message = "Production always runs the account's detective controls."
  }
}

variable "kms_key_arn" {
  description = "Logs key encrypting the CloudTrail log group."
  type        = string
}

variable "critical_topic_arn" {
  description = "Critical SNS topic that high-severity findings reach."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep CloudTrail and AWS Config records (SOC 2 evidence)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention of at least a year."
  }
}

variable "object_lock_days" {
  description = "Days each audit record is locked in COMPLIANCE mode: nobody, root included, can delete or alter it."
  type        = number
  default     = 365

  validation {
    condition     = var.object_lock_days >= 90
    error_message = "object_lock_days must be at least 90."
  }
}

variable "finding_severity_threshold" {
  description = "GuardDuty severity (0-10) from which a finding pages: 7 is GuardDuty's High."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
