terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
      # us-east-1 for CloudFront's WAF, certificate alarms and logs; the DR region for replicas.
      configuration_aliases = [aws.global, aws.dr]
    }
  }
}
