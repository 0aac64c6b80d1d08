# PostgreSQL as RDS, private to the stack's network (the pool's security group), encrypted.
resource "aws_db_instance" "this" {
  identifier             = substr(replace("${var.stack}-${var.instance}", "_", "-"), 0, 63)
  engine                 = "postgres"
  engine_version         = var.engine_version
  instance_class         = var.instance_class
  allocated_storage      = var.allocated_storage
  storage_encrypted      = true
  db_name                = var.database
  username               = var.user
  password               = var.password
  db_subnet_group_name   = var.infra.db_subnet_group
  vpc_security_group_ids = [var.infra.security_group_id]
  publicly_accessible    = false
  skip_final_snapshot    = true # a trial stack: `down` leaves nothing behind
  apply_immediately      = true
  tags                   = { "stackctl:instance" = var.instance } # `stackctl status` finds it by this tag
}
