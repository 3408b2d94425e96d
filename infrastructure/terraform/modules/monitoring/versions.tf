terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
      # CloudFront's metrics and certificate are in us-east-1, and so must their alarms be.
      configuration_aliases = [aws.global]
    }
  }
}
