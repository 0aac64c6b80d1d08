# Values live in terraform.tfvars.json; secrets arrive as TF_VAR_* and are never written here.

variable "stack_name" {
  description = "Name of the stack (metadata.name)"
  type        = string
}

variable "storage__port" {
  description = "storage: S3 port"
  type        = number
}

variable "storage__access_key" {
  description = "storage: key id"
  type        = string
  sensitive   = true
}

variable "storage__secret_key" {
  description = "storage: secret"
  type        = string
  sensitive   = true
}

variable "tracking__port" {
  description = "tracking: HTTP port"
  type        = number
}

variable "tracking__workers" {
  description = "tracking: workers"
  type        = number
}

variable "tracking__api_key" {
  description = "tracking: optional API key"
  type        = string
  sensitive   = true
}

variable "tracking__greeting" {
  description = "tracking: free text"
  type        = string
}

variable "serving__port" {
  description = "serving: port"
  type        = number
}

variable "serving__replicas" {
  description = "serving: replicas"
  type        = number
}

variable "serving__mode" {
  description = "serving: mode"
  type        = string
}

variable "runtime" {
  description = "Local target: per component, the supervisor's interpreter, run dir, log file, requirements and address"
  type = map(object({
    python       = string
    run_dir      = string
    log_file     = string
    requirements = list(string)
    address      = string
  }))
}
