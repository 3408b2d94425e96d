variable "name" {
  description = "Name prefix for every resource, e.g. tattoo-marketplace-production."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC that holds the security groups."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC, for egress to the interface endpoints."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid CIDR block."
  }
}

variable "app_port" {
  description = "Port the marketplace container listens on."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port > 0 && var.app_port < 65536
    error_message = "app_port must be a TCP port."
  }
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one IP may send in 5 minutes before the WAF blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit_per_5_minutes >= 100
    error_message = "rate_limit_per_5_minutes must be at least 100 (the WAF minimum)."
  }
}

variable "enable_shield_advanced" {
  description = "Subscribe the ALB and CloudFront distribution to Shield Advanced (paid; production only)."
  type        = bool
  default     = false
}

variable "shield_protected_arns" {
  description = "Resource ARNs to protect with Shield Advanced when it is enabled (the ALB, the distribution)."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the WAF log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "shield_advanced_subscribed" {
  description = "The account holds a Shield Advanced subscription; protections are refused at plan time without it."
  type        = bool
  default     = false
}

variable "upload_path_regex" {
  description = "Regex of the app's upload routes: exempt from the 8 KB body rule, held to max_upload_bytes instead."
  type        = string

  validation {
    condition     = length(var.upload_path_regex) <= 512 && can(regex(var.upload_path_regex, "/"))
    error_message = "upload_path_regex must be a valid regex of at most 512 characters (the WAF limit)."
  }
}

variable "max_upload_bytes" {
  description = "Largest request body the upload routes take (the app's largest route body limit)."
  type        = number

  validation {
    condition     = var.max_upload_bytes > 8192 && floor(var.max_upload_bytes) == var.max_upload_bytes
    error_message = "max_upload_bytes must be a whole number above 8192."
  }
}
