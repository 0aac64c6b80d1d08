variable "name" {
  description = "Name tag of the instance."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
}

variable "placement" {
  description = "Where it runs: the stack base's subnet, security group, instance profile and image."
  type = object({
    subnet_id         = string
    security_group_id = string
    instance_profile  = string
    ami_id            = string
  })
}

variable "user_data" {
  description = "cloud-init user data (never a secret: ec2:DescribeInstanceAttribute reads it)."
  type        = string
}

variable "volume_size" {
  description = "Root volume in GiB."
  type        = number
}

variable "tags" {
  description = "Tags besides Name (the provider's default_tags add the stack's)."
  type        = map(string)
  default     = {}
}
