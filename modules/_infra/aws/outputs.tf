output "s3_endpoint" {
  description = "S3 endpoint override, empty on AWS (the SDK's regional default)."
  value       = var.s3_endpoint
}

output "bucket" {
  description = "The stack's bucket."
  value       = aws_s3_bucket.this.id
}

output "region" {
  description = "Region of the bucket."
  value       = var.region
}

output "access_key" {
  description = "Empty: instances use their role (the instance profile), never keys."
  value       = ""
  sensitive   = true
}

output "secret_key" {
  description = "Empty: instances use their role (the instance profile), never keys."
  value       = ""
  sensitive   = true
}

output "compute_kind" {
  description = "Where workloads run: EC2 instances."
  value       = "instances"
}

output "gpu_type" {
  description = "GPU name of the pool, empty when there is none."
  value       = var.gpu_type
}

output "gpu_instance_ids" {
  description = "Instances of the GPU pool."
  value       = module.gpu[*].id
}

output "placement" {
  description = "What a component module needs to run on the pool (network, role, image, DB subnets)."
  value = {
    vpc_id            = aws_vpc.this.id
    subnet_ids        = aws_subnet.public[*].id
    security_group_id = aws_security_group.pool.id
    instance_profile  = aws_iam_instance_profile.pool.name
    ami_id            = data.aws_ami.ubuntu.id
    db_subnet_group   = aws_db_subnet_group.this.name
    parameter_prefix  = "/stackctl/${var.stack}/"
    public_access     = length(local.allow_from) > 0
  }
}
