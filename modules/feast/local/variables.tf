variable "stack" {
  description = "Stack name."
  type        = string
}

variable "instance" {
  description = "Instance name of this component in the manifest (also the Feast project)."
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
  description = "Feature server HTTP port."
  type        = number
}

variable "workers" {
  description = "Feature server (gunicorn) worker processes."
  type        = number
  default     = 1

  validation {
    condition     = var.workers >= 1
    error_message = "workers must be at least 1."
  }
}

variable "demo" {
  description = "Apply and materialize the built-in demo feature view at start."
  type        = bool
  default     = true
}

variable "registry_prefix" {
  description = "Key prefix of the registry in the object store (empty: <instance>/registry.db at the bucket's root)."
  type        = string
  default     = "feast"
}

variable "kv_store_url" {
  description = "Redis URL of the online store; null: SQLite in the run directory."
  type        = string
  sensitive   = true
  default     = null
}

variable "object_store_endpoint" {
  description = "S3 endpoint URL (empty on AWS: the regional default); null: the registry stays in the run directory."
  type        = string
  default     = null
}

variable "object_store_bucket" {
  description = "Bucket that holds the registry."
  type        = string
  default     = null
}

variable "object_store_region" {
  description = "Region name the S3 client signs for."
  type        = string
  default     = null
}

variable "object_store_access_key" {
  description = "Access key id."
  type        = string
  sensitive   = true
  default     = null
}

variable "object_store_secret_key" {
  description = "Secret access key."
  type        = string
  sensitive   = true
  default     = null
}
