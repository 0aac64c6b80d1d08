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
  description = "Redis TCP port."
  type        = number
}

variable "password" {
  description = "Password clients authenticate with (AUTH)."
  type        = string
  sensitive   = true
}
