output "s3_endpoint" {
  description = "S3 endpoint URL."
  value       = "http://${var.runtime.address}:${var.s3_port}"
  depends_on  = [module.process]
}

output "bucket" {
  description = "Bucket the stack's components share."
  value       = var.bucket
  depends_on  = [module.process]
}

output "region" {
  description = "Region name S3 clients sign for."
  value       = var.region
  depends_on  = [module.process]
}

output "access_key" {
  description = "S3 access key id."
  value       = var.access_key
  sensitive   = true
  depends_on  = [module.process]
}

output "secret_key" {
  description = "S3 secret access key."
  value       = var.secret_key
  sensitive   = true
  depends_on  = [module.process]
}
