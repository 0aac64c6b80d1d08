# One EC2 instance of a stack's pool, hardened the same way wherever it is used: IMDSv2 only, an
# encrypted gp3 root volume, the pool's role, and a new instance when its user data changes.
resource "aws_instance" "this" {
  ami                         = var.placement.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.placement.subnet_id
  vpc_security_group_ids      = [var.placement.security_group_id]
  iam_instance_profile        = var.placement.instance_profile
  user_data                   = var.user_data
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required" # IMDSv2 only
  }

  root_block_device {
    volume_size = var.volume_size
    volume_type = "gp3"
    encrypted   = true
  }

  tags = merge(var.tags, { Name = var.name })
}
