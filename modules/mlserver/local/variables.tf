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
  description = "HTTP port: V2 inference protocol, model repository API, health."
  type        = number
}

variable "grpc_port" {
  description = "gRPC port (V2 inference protocol)."
  type        = number
}

variable "model_name" {
  description = "Registered model to serve (its name in MLServer too)."
  type        = string
  default     = "stackctl-demo"

  validation {
    # it is a URL path segment for MLServer and goes into a registry search filter
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", var.model_name))
    error_message = "model_name must be 1-128 letters, digits, dots, underscores and hyphens, starting with a letter or digit."
  }
}

variable "model_version" {
  description = "Registry version to serve: a number, or latest (the highest version when loaded)."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^([1-9][0-9]*|latest)$", var.model_version))
    error_message = "model_version must be a version number (1, 2, ...) or \"latest\"."
  }
}

variable "model_registry_url" {
  description = "Registry base URL (MLflow REST API)."
  type        = string
}

variable "object_store_endpoint" {
  description = "S3 endpoint URL (empty on AWS: the regional default); null when no object store is wired."
  type        = string
  default     = null
}

variable "object_store_bucket" {
  description = "Bucket the stack's components share; null when no object store is wired."
  type        = string
  default     = null
}

variable "object_store_region" {
  description = "Region name the S3 client signs for; null when no object store is wired."
  type        = string
  default     = null
}

variable "object_store_access_key" {
  description = "Access key id; null when no object store is wired."
  type        = string
  sensitive   = true
  default     = null
}

variable "object_store_secret_key" {
  description = "Secret access key; null when no object store is wired."
  type        = string
  sensitive   = true
  default     = null
}
