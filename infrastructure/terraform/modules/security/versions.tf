terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
      # CloudFront's web ACL must live in us-east-1; backup copies are encrypted in the DR region.
      configuration_aliases = [aws.global, aws.dr]
    }
  }
}
