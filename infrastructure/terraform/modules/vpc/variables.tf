variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr_block" {
  description = "VPC CIDR (the spec: 10.0.0.0/16 development, 10.1.0.0/16 staging, 10.2.0.0/16 production)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid CIDR of /20 or larger, to fit nine /24-or-larger subnets."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread subnets across, named explicitly so the set never shifts: at least 2, 3 in production."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must list 2 or 3 distinct zones."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (production: survives an AZ loss) instead of one shared gateway."
  type        = bool
  default     = false
}

variable "flow_log_kms_key_arn" {
  description = "KMS key for the flow log group."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of VPC flow logs, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "endpoint_security_group_id" {
  description = "Security group for the interface endpoints (HTTPS from the VPC)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
