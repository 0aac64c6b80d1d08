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

variable "bucket" {
  description = "Bucket created at start and shared by the stack."
  type        = string
  default     = "stack"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "bucket must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "region" {
  description = "Region name S3 clients sign for."
  type        = string
  default     = "us-east-1"
}

variable "access_key" {
  description = "S3 access key id."
  type        = string
  sensitive   = true
}

variable "secret_key" {
  description = "S3 secret access key."
  type        = string
  sensitive   = true
}

variable "s3_port" {
  description = "S3 API port."
  type        = number
}

variable "s3_grpc_port" {
  description = "S3 gateway gRPC port."
  type        = number
}

variable "master_port" {
  description = "Master HTTP port."
  type        = number
}

variable "master_grpc_port" {
  description = "Master gRPC port."
  type        = number
}

variable "volume_port" {
  description = "Volume server HTTP port."
  type        = number
}

variable "volume_grpc_port" {
  description = "Volume server gRPC port."
  type        = number
}

variable "filer_port" {
  description = "Filer HTTP port."
  type        = number
}

variable "filer_grpc_port" {
  description = "Filer gRPC port."
  type        = number
}
