variable "stack" {
  description = "Stack name."
  type        = string
}

variable "instance" {
  description = "Instance name of this component in the manifest."
  type        = string
}

variable "runtime" {
  description = "Local target context from stackctl: where the supervisor and the component's files live."
  type = object({
    python       = string
    run_dir      = string
    log_file     = string
    requirements = list(string)
    address      = string                 # bound and in URLs: local 127.0.0.1, ssh the host's
    launcher     = optional(list(string)) # the supervisor command; null: python -m stackctl.runtime
  })
}

variable "port" {
  description = "HTTP port."
  type        = number
}

variable "workers" {
  description = "Uvicorn worker processes."
  type        = number
  default     = 1

  validation {
    condition     = var.workers >= 1
    error_message = "workers must be at least 1."
  }
}

variable "artifacts_prefix" {
  description = "Key prefix of the artifacts in the bucket."
  type        = string
  default     = "mlflow"
}

variable "jobs" {
  description = "Run MLflow's background job workers (GenAI features; ~8 extra processes, ~800 MB)."
  type        = bool
  default     = false
}

variable "object_store_endpoint" {
  description = "S3 endpoint URL (empty on AWS: the regional default)."
  type        = string
}

variable "object_store_bucket" {
  description = "Bucket the stack's components share."
  type        = string
}

variable "object_store_region" {
  description = "Region name the S3 client signs for."
  type        = string
}

variable "object_store_access_key" {
  description = "Access key id."
  type        = string
  sensitive   = true
}

variable "object_store_secret_key" {
  description = "Secret access key."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "SQLAlchemy URL of the backend store; null: SQLite in the run directory."
  type        = string
  sensitive   = true
  default     = null
}
