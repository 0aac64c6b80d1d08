output "ui_url" {
  description = "Evidently UI and API base URL (RemoteWorkspace(ui_url))."
  value       = "http://127.0.0.1:${var.port}"
  depends_on  = [module.process]
}
