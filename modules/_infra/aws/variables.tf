variable "stack" {
  description = "Stack name."
  type        = string
}

variable "instance" {
  description = "Instance name of the base in the stack (infra)."
  type        = string
}

variable "region" {
  description = "AWS region (target.region)."
  type        = string
}

variable "s3_endpoint" {
  description = "S3 endpoint override (an emulator); empty: AWS's own."
  type        = string
  default     = ""
}

variable "gpu_type" {
  description = "GPU name (target.gpu.type); empty: no GPU pool."
  type        = string
  default     = ""
}

variable "gpu_instance_type" {
  description = "EC2 instance type the GPU name maps to."
  type        = string
  default     = ""
}

variable "gpu_instances" {
  description = "Instances in the GPU pool."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_instances >= 0
    error_message = "gpu_instances must not be negative."
  }
}

variable "allow_from" {
  description = "Comma-separated CIDRs allowed to the service ports (target.allow_from)."
  type        = string
  default     = ""
}

variable "vpc_cidr" {
  description = "Address range of the stack's VPC."
  type        = string
  default     = "10.42.0.0/16"
}
