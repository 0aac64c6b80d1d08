variable "stack" {
  description = "Stack name."
  type        = string
}

variable "instance" {
  description = "Instance name of this component in the manifest."
  type        = string
}

variable "infra" {
  description = "AWS target context from the stack's base (module.infra.placement): network, role, image."
  type = object({
    subnet_ids        = list(string)
    security_group_id = string
    instance_profile  = string
    ami_id            = string
    parameter_prefix  = string
  })
}

variable "requirements" {
  description = "Pinned Python requirements the instance installs (MLflow and its drivers)."
  type        = list(string)
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

variable "instance_type" {
  description = "EC2 instance type of the server."
  type        = string
  default     = "t3.medium"
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
  description = "Access key id (empty on AWS: the instance role is used)."
  type        = string
  sensitive   = true
}

variable "object_store_secret_key" {
  description = "Secret access key (empty on AWS: the instance role is used)."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "SQLAlchemy URL of the backend store; null: SQLite on the instance."
  type        = string
  sensitive   = true
  default     = null
}
