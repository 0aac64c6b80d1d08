# Rendered by stackctl for stack "golden". Plain Terraform: `terraform plan` works here too.
terraform {
  required_version = ">= 1.5"
}
