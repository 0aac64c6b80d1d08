output "url" {
  description = "SQLAlchemy URL, postgresql://user:password@address:port/database."
  value       = "postgresql://${var.user}:${urlencode(var.password)}@${var.runtime.address}:${var.port}/${var.database}"
  sensitive   = true
  depends_on  = [module.process]
}
