output "id" {
  description = "Changes whenever the process is (re)started: depend on it to wait for a healthy server."
  value       = terraform_data.this.id
}
