terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.21.0, < 7.0.0"
    }
  }
  # Bootstrap keeps its own small state locally: it creates the bucket the others use.
}
