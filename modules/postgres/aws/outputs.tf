output "url" {
  description = "SQLAlchemy URL, postgresql://user:password@host:port/database."
  value       = "postgresql://${var.user}:${urlencode(var.password)}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.database}"
  sensitive   = true
}
