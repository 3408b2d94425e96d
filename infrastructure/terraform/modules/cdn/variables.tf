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

variable "alb_dns_name" {
  description = "The load balancer's DNS name: the origin for pages and the API."
  type        = string
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
