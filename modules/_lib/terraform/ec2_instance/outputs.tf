output "id" {
  description = "Instance id."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Public address (subnets of the stack's base map one on launch)."
  value       = aws_instance.this.public_ip
}

output "private_ip" {
  description = "Address inside the stack's VPC."
  value       = aws_instance.this.private_ip
}
