variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,28}$", var.name))
    error_message = "name must be 3-29 lower-case letters, digits or hyphens (target group names are limited to 32)."
  }
}

variable "environment" {
  description = "development, staging or production: becomes TM_ENV in the container."
  type        = string

  validation {
    condition     = contains(["development", "staging", "production"], var.environment)
    error_message = "environment must be development, staging or production."
  }
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the load balancer."
  type        = list(string)
}

variable "app_subnet_ids" {
  description = "Private subnets for the tasks."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "app_security_group_id" {
  description = "Security group of the tasks."
  type        = string
}


variable "web_acl_arn" {
  description = "Regional WAF web ACL attached to the load balancer."
  type        = string
}

variable "kms_key_arn" {
  description = "Data key: ECR, secrets."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "Logs key: the container log group."
  type        = string
}

variable "image_tag" {
  description = "Image tag in the module's ECR repository to run (marketctl changes it per deploy)."
  type        = string
  default     = "bootstrap"
}

variable "container_port" {
  description = "Port the marketplace listens on."
  type        = number
  default     = 8080
}

variable "task_cpu" {
  description = "Fargate CPU units per task (the spec: 256, 512, 1024)."
  type        = number

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.task_cpu)
    error_message = "task_cpu must be a Fargate CPU size."
  }
}

variable "task_memory" {
  description = "Fargate memory per task in MiB (the spec: 512, 1024, 2048)."
  type        = number

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 30720
    error_message = "task_memory must be between 512 and 30720 MiB."
  }
}

variable "desired_count" {
  description = "Tasks in the service (the spec: 1, 2, 3+)."
  type        = number

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

variable "autoscaling" {
  description = "Target-tracking autoscaling on CPU."
  type = object({
    enabled            = bool
    min                = number
    max                = number
    cpu_target_percent = optional(number, 60)
  })
  default = {
    enabled = false
    min     = 1
    max     = 1
  }

  validation {
    condition     = var.autoscaling.min >= 1 && var.autoscaling.max >= var.autoscaling.min
    error_message = "autoscaling needs 1 <= min <= max."
  }
}

variable "fargate_spot_weight" {
  description = "Share of tasks on Fargate Spot beyond the first on-demand one; 0 for critical environments. Spot needs cpu_architecture X86_64."
  type        = number
  default     = 0

  validation {
    condition     = var.fargate_spot_weight >= 0 && var.fargate_spot_weight <= 10
    error_message = "fargate_spot_weight must be between 0 and 10."
  }

  # Fargate Spot has no ARM64 capacity: such tasks would never be placed.
  validation {
    condition     = var.fargate_spot_weight == 0 || var.cpu_architecture == "X86_64"
    error_message = "Fargate Spot does not run ARM64 tasks: set cpu_architecture = \"X86_64\" or fargate_spot_weight = 0."
  }
}

variable "ec2_capacity" {
  description = "Optional EC2 capacity provider with the environment's instance type (the spec: t3.micro, t3.small, r6g.large)."
  type = object({
    enabled       = bool
    instance_type = string
    max_size      = optional(number, 2)
  })

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*\\.[a-z0-9]+$", var.ec2_capacity.instance_type))
    error_message = "ec2_capacity.instance_type must look like t3.micro."
  }
}


variable "log_retention_days" {
  description = "Retention of the container logs, in days. They carry the audit log's copy (target \"audit\"), which SOC 2 evidence needs for at least a year."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention of at least a year: the audit log is shipped in these logs."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion (production)."
  type        = bool
  default     = true
}

variable "access_log_retention_days" {
  description = "Days to keep ALB access logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "media_bucket" {
  type        = string
  description = "S3 bucket the app stores portfolio images in (the CDN serves it under /media/)."
}

variable "deployment_strategy" {
  description = "The service's default ECS deployment strategy: ROLLING (development, staging) or BLUE_GREEN (production); marketctl sets each deploy's own."
  type        = string
  default     = "ROLLING"

  validation {
    condition     = contains(["ROLLING", "BLUE_GREEN", "CANARY", "LINEAR"], var.deployment_strategy)
    error_message = "deployment_strategy must be ROLLING, BLUE_GREEN, CANARY or LINEAR."
  }
}

variable "bake_time_minutes" {
  description = "Minutes the old release stays up after production traffic moved (blue/green and canary)."
  type        = number
  default     = 5

  validation {
    condition     = var.bake_time_minutes >= 0 && var.bake_time_minutes <= 1440
    error_message = "bake_time_minutes must be between 0 and 1440."
  }
}

variable "test_listener_port" {
  description = "Port of the ALB's test listener (the new release before production traffic moves)."
  type        = number
  default     = 8443
}

variable "test_listener_cidrs" {
  description = "Who may reach the test listener: the VPC and the deploy runners, never the internet."
  type        = list(string)

  validation {
    condition     = length(var.test_listener_cidrs) > 0 && !contains(var.test_listener_cidrs, "0.0.0.0/0")
    error_message = "test_listener_cidrs must name the VPC and deploy runners, not 0.0.0.0/0."
  }
}

variable "test_security_group_id" {
  description = "Security group of the test listener's sources (also attached to the load balancer)."
  type        = string
}

variable "origin_domain_name" {
  description = "The name CloudFront reaches the load balancer by (origin.<domain>): an alias record and the certificate's first name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.origin_domain_name))
    error_message = "origin_domain_name must be a lower-case DNS name."
  }
}

variable "public_domain_names" {
  description = "Public names: on the origin certificate too, because CloudFront forwards the viewer's Host header."
  type        = list(string)
}

variable "dns_zone_id" {
  description = "Route 53 zone for the origin record and the certificate's validation records."
  type        = string
}

variable "cpu_architecture" {
  description = "ARM64 (Graviton, on demand) or X86_64 (required on Fargate Spot, which has no ARM64 capacity)."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "db_pool_per_task" {
  description = "Database connections each task's pool may open (sized by the stack so the fleet stays under the connections alarm)."
  type        = number
  default     = 10

  validation {
    condition     = var.db_pool_per_task >= 2 && var.db_pool_per_task <= 50
    error_message = "db_pool_per_task must be between 2 and 50."
  }
}

variable "database_resource_id" {
  description = "The RDS instance's resource id (db-...), for the task role's rds-db:connect permission."
  type        = string
}

variable "database_user" {
  description = "The app's PostgreSQL role, which signs in with IAM tokens."
  type        = string
  default     = "marketplace_app"
}

variable "dr_region" {
  description = "Region that holds replicas of the secrets; null for none."
  type        = string
  default     = null
}

variable "dr_kms_key_arn" {
  description = "Key in dr_region that encrypts the secret replicas."
  type        = string
  default     = null
}

variable "field_kms_key_arn" {
  description = "KMS key that wraps the app's field-encryption data keys (health answers, dates of birth, skin photos): TM_ENCRYPTION_KMS_KEY_ID."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.field_kms_key_arn))
    error_message = "field_kms_key_arn must be a KMS key ARN."
  }
}

variable "otel_collector_image" {
  description = "The AWS Distro for OpenTelemetry collector that runs beside each app container and sends its traces to X-Ray; pinned, so a task never changes under a deploy."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
  validation {
    condition     = can(regex(":v[0-9]+\\.[0-9]+\\.[0-9]+$", var.otel_collector_image)) || can(regex("@sha256:[0-9a-f]{64}$", var.otel_collector_image))
    error_message = "Pin the collector image to a version tag (:vX.Y.Z) or a digest."
  }
}
