variable "stack" {
  description = "Stack name."
  type        = string
}

variable "instance" {
  description = "Instance name of this component in the manifest."
  type        = string
}

variable "infra" {
  description = "AWS target context from the stack's base (module.infra.placement): network and DB subnets."
  type = object({
    security_group_id = string
    db_subnet_group   = string
  })
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
}

variable "user" {
  description = "Role that owns the database."
  type        = string
  default     = "stack"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "engine_version" {
  description = "PostgreSQL major version on RDS."
  type        = string
  default     = "16"
}

variable "allocated_storage" {
  description = "Storage in GiB."
  type        = number
  default     = 20
}

variable "requirements" {
  description = "Pinned Python requirements of the component (every aws module takes them; RDS installs nothing)."
  type        = list(string)
}
