output "tracking_url" {
  description = "Tracking server and model registry base URL (public address when target.allow_from is set)."
  value       = "http://${coalesce(module.server.public_ip, module.server.private_ip)}:${local.port}"
}
