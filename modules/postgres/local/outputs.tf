output "url" {
  description = "SQLAlchemy URL, postgresql://user:password@127.0.0.1:port/database."
  value       = "postgresql://${var.user}:${urlencode(var.password)}@127.0.0.1:${var.port}/${var.database}"
  sensitive   = true
  depends_on  = [module.process]
}
