output "tracking_url" {
  description = "Tracking server and model registry base URL."
  value       = "http://${var.runtime.address}:${var.port}"
  depends_on  = [module.process]
}
