output "tracking_url" {
  description = "Tracking server and model registry base URL (public address when target.allow_from is set)."
  value       = "http://${coalesce(aws_instance.this.public_ip, aws_instance.this.private_ip)}:${local.port}"
}
