variable "region" {
  description = "Region of the state bucket."
  type        = string
  default     = "us-west-2"
}

variable "dr_region" {
  description = "Disaster-recovery region: the state bucket's replica and the image repositories' replicas."
  type        = string
  default     = "us-east-2"

  validation {
    condition     = var.dr_region != var.region
    error_message = "dr_region must differ from region."
  }
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket the environments' backends point at."
  type        = string
  default     = "tattoo-marketplace-terraform-state"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{2,62}$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows may assume the deploy role."
  type        = string
  default     = "tattoo-marketplace/tattoo-marketplace"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "environments" {
  description = "Environments that get their own Terraform and release roles."
  type        = list(string)
  default     = ["development", "staging", "production"]
}

variable "tags" {
  description = "Tags for the bootstrap resources."
  type        = map(string)
  default = {
    Project    = "tattoo-marketplace"
    CostCenter = "marketplace-platform"
    Owner      = "platform-engineering"
    ManagedBy  = "terraform"
    Feature    = "bootstrap"
  }
}
