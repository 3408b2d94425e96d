terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.21: ECS native blue/green (6.4) and canary/linear configurations.
      version = ">= 6.21.0, < 7.0.0"
    }
    # The secret origin header CloudFront sends and the ALB checks.
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6.0, < 4.0.0"
    }
  }
}
