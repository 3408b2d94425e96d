output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT)."
  value       = [for s in aws_subnet.public : s.id]
}

output "app_subnet_ids" {
  description = "Private subnets for the app containers."
  value       = [for s in aws_subnet.app : s.id]
}

output "data_subnet_ids" {
  description = "Private subnets for the database, with no route out."
  value       = [for s in aws_subnet.data : s.id]
}

output "availability_zones" {
  description = "The AZs in use."
  value       = local.azs
}

output "nat_gateway_count" {
  description = "How many NAT gateways exist (1 outside production, one per AZ in production)."
  value       = length(aws_nat_gateway.this)
}
