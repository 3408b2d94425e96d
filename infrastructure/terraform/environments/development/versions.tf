terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
    }
  }

  # State lives in the bucket the bootstrap stack creates: versioned, encrypted, and locked with
  # S3's native lock file so two applies can never interleave.
  backend "s3" {
    bucket       = "tattoo-marketplace-terraform-state"
    key          = "development/terraform.tfstate"
    region       = "us-west-2"
    encrypt      = true
    use_lockfile = true
  }
}
