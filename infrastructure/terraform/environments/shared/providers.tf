# Shared by the three environment roots (each links this file): the providers and the default
# tags every resource carries.

locals {
  tags = {
    Project     = "tattoo-marketplace"
    Environment = local.environment
    CostCenter  = var.cost_center
    Owner       = var.owner
    ManagedBy   = "terraform"
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

# CloudFront's WAF, its certificate and metrics live in us-east-1.
provider "aws" {
  alias  = "global"
  region = "us-east-1"
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "dr"
  region = var.dr_region
  default_tags {
    tags = local.tags
  }
}
