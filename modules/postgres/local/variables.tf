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
  description = "PostgreSQL TCP port."
  type        = number
}

variable "password" {
  description = "Password of the database role."
  type        = string
  sensitive   = true
}

variable "database" {
  description = "Database created at start."
  type        = string
  default     = "stack"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database))
    error_message = "database must be a lowercase SQL identifier: letters, digits and _, at most 63."
  }
}

variable "user" {
  description = "Role that owns the database."
  type        = string
  default     = "stack"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.user)) && var.user != "postgres"
    error_message = "user must be a lowercase SQL identifier (letters, digits and _, at most 63), not postgres."
  }
}
