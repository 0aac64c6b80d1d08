# PostgreSQL as one supervised process. launch.py runs initdb on first start, creates the role
# and database through a private unix socket, then execs postgres on var.runtime.address only (no socket):
# when the TCP port answers, the database exists.

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/python", "{module}/launch.py", "--data", "{run_dir}/data", "--listen", var.runtime.address,
    "--port", tostring(var.port), "--user", var.user, "--database", var.database,
  ]
  env          = {}
  health       = { tcp = "${var.runtime.address}:${var.port}" }
  ports        = [var.port]
  unprivileged = true # PostgreSQL refuses to run as root
  timeout      = 120
  stop_signal  = "SIGINT" # fast shutdown: SIGTERM would wait for every client to disconnect
  secret_env = {
    STACKCTL_PG_PASSWORD = var.password
  }
}
