# Redis as one supervised process. launch.py writes redis.conf (with the password, mode 0600, only
# while the server runs), starts redis-server on a private unix socket and opens address:port (var.runtime.address)
# once the server answers PING there: when the TCP port accepts connections, Redis is ready.

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/python", "{module}/launch.py",
    "--conf", "{run_dir}/redis.conf", "--data", "{run_dir}/data", "--bind", var.runtime.address,
    "--port", tostring(var.port),
  ]
  env          = {}
  health       = { tcp = "${var.runtime.address}:${var.port}" }
  ports        = [var.port]
  unprivileged = false
  timeout      = 60
  secret_env = {
    STACKCTL_REDIS_PASSWORD = var.password
  }
}
