# The stack's base on AWS. Components sit on it through `placement` (network, role, image), and
# the S3 bucket is the stack's object_store. Tags come from the provider's default_tags.
locals {
  prefix     = substr(var.stack, 0, 32)
  iam_path   = "/stackctl/${var.stack}/" # teardown verification lists IAM by this path
  allow_from = compact([for cidr in split(",", var.allow_from) : trimspace(cidr)])
  gpu_zones  = var.gpu_instances > 0 ? sort(data.aws_ec2_instance_type_offerings.gpu[0].locations) : []
  # two zones (RDS subnet groups need two), zones offering the GPU type first
  zones = slice(distinct(concat(local.gpu_zones, sort(data.aws_availability_zones.available.names))), 0, 2)
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ec2_instance_type_offerings" "gpu" {
  count         = var.gpu_instances > 0 ? 1 : 0
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.gpu_instance_type]
  }
}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd*/ubuntu-*-amd64-server-*"]
  }
}

# ---- network ----

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  enable_dns_support   = true

  tags = { Name = local.prefix }
}

resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  availability_zone       = local.zones[count.index]
  map_public_ip_on_launch = true

  tags = { Name = "${local.prefix}-${local.zones[count.index]}" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "pool" {
  name        = "${local.prefix}-pool"
  description = "stackctl ${var.stack}: components talk to each other; service ports from allow_from"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "within the stack"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    self        = true
  }

  dynamic "ingress" {
    for_each = length(local.allow_from) > 0 ? [1] : []
    content {
      description = "service ports from target.allow_from"
      from_port   = 5000
      to_port     = 9000
      protocol    = "tcp"
      cidr_blocks = local.allow_from
    }
  }

  egress {
    description = "package registries and AWS APIs"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_db_subnet_group" "this" {
  name       = "${local.prefix}-db"
  subnet_ids = aws_subnet.public[*].id
}

# ---- object store ----

resource "aws_s3_bucket" "this" {
  bucket_prefix = "${substr(var.stack, 0, 36)}-"
  force_destroy = true # `stackctl down` means the trial's data goes too
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# ---- identity of the pool's instances: the bucket and the stack's own parameters, nothing else ----

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "aws_iam_role" "pool" {
  name = "${local.prefix}-pool"
  path = local.iam_path
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "pool" {
  name = "stack-bucket-and-parameters"
  role = aws_iam_role.pool.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["s3:ListBucket"], Resource = [aws_s3_bucket.this.arn] },
      { Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource = ["${aws_s3_bucket.this.arn}/*"] },
      {
        Effect   = "Allow", Action = ["ssm:GetParameter"],
        Resource = ["arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter/stackctl/${var.stack}/*"]
      },
    ]
  })
}

resource "aws_iam_instance_profile" "pool" {
  name = "${local.prefix}-pool"
  path = local.iam_path
  role = aws_iam_role.pool.name
}

# ---- GPU pool ----

module "gpu" {
  source = "../../_lib/terraform/ec2_instance" # the pool instance shape every aws module shares
  count  = var.gpu_instances

  name          = "${local.prefix}-gpu-${count.index}"
  instance_type = var.gpu_instance_type
  placement = {
    subnet_id         = aws_subnet.public[0].id # a zone that offers the type (see local.zones)
    security_group_id = aws_security_group.pool.id
    instance_profile  = aws_iam_instance_profile.pool.name
    ami_id            = data.aws_ami.ubuntu.id
  }
  user_data   = file("${path.module}/gpu-node.cloud-init.yaml")
  volume_size = 100
  tags        = { "stackctl:gpu" = var.gpu_type }
}
