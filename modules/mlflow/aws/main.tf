# MLflow server on one EC2 instance of the stack's pool, installed by cloud-init. The database URL
# (it may hold a password) goes to an SSM SecureString that only the pool's role may read; user data,
# which anyone with ec2:Describe* can read, holds no secret.
locals {
  port      = 5000
  parameter = "${var.infra.parameter_prefix}${var.instance}/backend-store-uri"
  s3_env    = var.object_store_endpoint == "" ? "" : "MLFLOW_S3_ENDPOINT_URL=${var.object_store_endpoint}"
}

resource "aws_ssm_parameter" "backend_store_uri" {
  name        = local.parameter
  description = "stackctl ${var.stack}/${var.instance}: MLflow backend store URI"
  type        = "SecureString"
  value       = coalesce(var.database_url, "sqlite:////var/lib/mlflow/mlflow.db")
  tags        = { "stackctl:instance" = var.instance }
}

module "server" {
  source = "../../_lib/terraform/ec2_instance" # the pool instance shape every aws module shares

  name          = "${var.stack}-${var.instance}"
  instance_type = var.instance_type
  placement = {
    subnet_id         = var.infra.subnet_ids[0]
    security_group_id = var.infra.security_group_id
    instance_profile  = var.infra.instance_profile
    ami_id            = var.infra.ami_id
  }
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    requirements = var.requirements
    port         = local.port
    workers      = var.workers
    jobs         = var.jobs
    region       = var.object_store_region
    artifacts    = "s3://${var.object_store_bucket}/${var.artifacts_prefix}"
    s3_env       = local.s3_env
    parameter    = local.parameter
  })
  volume_size = 30
  tags        = { "stackctl:instance" = var.instance } # `stackctl status` finds it by this tag

  depends_on = [aws_ssm_parameter.backend_store_uri]
}
