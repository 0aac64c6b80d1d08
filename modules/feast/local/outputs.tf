output "feature_server_url" {
  description = "Feature server base URL (/get-online-features, /push, /health)."
  value       = "http://${var.runtime.address}:${var.port}"
  depends_on  = [module.process]
}
