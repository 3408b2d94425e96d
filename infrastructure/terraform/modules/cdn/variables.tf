variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "domain_names" {
  description = "Public host names served by the distribution."
  type        = list(string)

  validation {
    condition     = length(var.domain_names) > 0
    error_message = "At least one domain name is required."
  }
}

variable "certificate_arn" {
  description = "ACM certificate in us-east-1 covering domain_names."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.certificate_arn))
    error_message = "CloudFront certificates must be in us-east-1."
  }
}

variable "origin_domain_name" {
  description = "The ALB's name on its own certificate (origin.<domain>): the origin for pages and the API."
  type        = string
}

variable "origin_verify_header" {
  description = "Secret header (name, value) CloudFront sends to the origin; the ALB forwards nothing without it."
  type = object({
    name  = string
    value = string
  })
  sensitive = true
}

variable "web_acl_arn" {
  description = "CloudFront-scoped WAF web ACL."
  type        = string
}

variable "kms_key_arn" {
  description = "Data key encrypting the media bucket."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "log_retention_days" {
  description = "Days to keep CloudFront access logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "replicate_media" {
  description = "Replicate the media bucket (portfolio images, reference photos) to the DR region (provider aws.dr)."
  type        = bool
  default     = false
}

variable "dr_kms_key_arn" {
  description = "Key in the DR region encrypting the media replica."
  type        = string
  default     = null

  validation {
    condition     = !var.replicate_media || var.dr_kms_key_arn != null
    error_message = "dr_kms_key_arn is required when replicate_media is true."
  }
}
