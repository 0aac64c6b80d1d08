output "tracking_url" {
  description = "Tracking server and model registry base URL."
  value       = "http://127.0.0.1:${var.port}"
  depends_on  = [module.process]
}
