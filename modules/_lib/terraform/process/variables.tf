variable "runtime" {
  description = "Local target context from stackctl: the supervisor's interpreter, run dir, log file, requirements."
  type = object({
    python       = string
    run_dir      = string
    log_file     = string
    requirements = list(string)
    launcher     = optional(list(string)) # the supervisor command; null: python -m stackctl.runtime
  })
}

variable "name" {
  description = "The component instance's name (the supervisor's process name)."
  type        = string
}

variable "module_dir" {
  description = "Absolute path of the calling component module: {module} in argv and env."
  type        = string
}

variable "argv" {
  description = "The command; {env}, {run_dir} and {module} are replaced by the supervisor."
  type        = list(string)
}

variable "env" {
  description = "Non-secret environment of the process (kept in state)."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Secret environment: reaches the process only through the provisioner, never the spec or state (a hash restarts the process when it changes)."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "health" {
  description = "Health probe: { http = URL }, { tcp = \"HOST:PORT\" }, or both (healthy when both pass)."
  type        = map(string)
}

variable "ports" {
  description = "Ports the process listens on: free before start, closed again after stop."
  type        = list(number)
}

variable "unprivileged" {
  description = "Never run as root (in a user namespace when stackctl runs as root)."
  type        = bool
  default     = false
}

variable "timeout" {
  description = "Seconds to wait for the health probe at start."
  type        = number
  default     = 120
}

variable "stop_signal" {
  description = "Signal that asks the process group to stop."
  type        = string
  default     = "SIGTERM"
}

variable "stop_timeout" {
  description = "Seconds between stop_signal and SIGKILL (null: the supervisor's default)."
  type        = number
  default     = null
}

variable "private_tmp" {
  description = "Give the process a /tmp of its own (its run dir's tmp/), for servers that hard-code /tmp paths."
  type        = bool
  default     = false
}
