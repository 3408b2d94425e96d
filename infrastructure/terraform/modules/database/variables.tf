variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "instance_class" {
  description = "RDS instance class (the spec: db.t3.micro, db.t3.small, db.r6g.large)."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.t3.micro."
  }
}

variable "allocated_storage_gb" {
  description = "Initial storage in GB (the spec: 20, 50, 100)."
  type        = number

  validation {
    condition     = var.allocated_storage_gb >= 20 && var.allocated_storage_gb <= 65536
    error_message = "allocated_storage_gb must be between 20 and 65536."
  }
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GB; 0 disables autoscaling."
  type        = number
  default     = 0
}

variable "engine_version" {
  description = "PostgreSQL major version; RDS chooses the minor and keeps it current."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^[0-9]+$", var.engine_version))
    error_message = "engine_version must be a major version only (\"16\"): pinned minors stop being creatable when RDS retires them."
  }
}

variable "database_name" {
  description = "Database created on the instance."
  type        = string
  default     = "marketplace"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must be a valid PostgreSQL identifier."
  }
}

variable "subnet_ids" {
  description = "Private data subnets (at least two AZs)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two AZs."
  }
}

variable "security_group_id" {
  description = "Security group admitting PostgreSQL from the app only."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for storage, Performance Insights and the master secret."
  type        = string
}

variable "multi_az" {
  description = "Synchronous standby in another AZ (production)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance (production)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (and so of point-in-time recovery)."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "cross_region_backup_copy" {
  description = "Replicate automated backups to the DR region (provider alias aws.dr) for cross-region recovery."
  type        = bool
  default     = false
}

variable "dr_kms_key_arn" {
  description = "KMS key in the DR region for the replicated backups (required when cross_region_backup_copy is true)."
  type        = string
  default     = null
}

variable "warning_topic_arn" {
  description = "SNS topic for the database warning alarms."
  type        = string
}

variable "critical_topic_arn" {
  description = "SNS topic for database connection failures."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "Logs key for the exported PostgreSQL log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL logs, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "master_password_rotation" {
  description = "Rotation schedule of the RDS-managed master password (administration only)."
  type        = string
  default     = "rate(30 days)"
}

variable "app_user" {
  description = "The app's PostgreSQL role; it signs in with IAM tokens (GRANT rds_iam)."
  type        = string
  default     = "marketplace_app"
}

variable "connections_alarm_threshold" {
  description = "Connections above which to warn (the spec: 50)."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
