terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
      # The media replica lives in the DR region.
      configuration_aliases = [aws.dr]
    }
  }
}
