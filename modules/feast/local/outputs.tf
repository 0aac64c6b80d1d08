output "feature_server_url" {
  description = "Feature server base URL (/get-online-features, /push, /health)."
  value       = "http://127.0.0.1:${var.port}"
  depends_on  = [module.process]
}
