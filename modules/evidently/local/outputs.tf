output "ui_url" {
  description = "Evidently UI and API base URL (RemoteWorkspace(ui_url))."
  value       = "http://${var.runtime.address}:${var.port}"
  depends_on  = [module.process]
}
