# PostgreSQL as one supervised process. launch.py runs initdb on first start, creates the role
# and database through a private unix socket, then execs postgres on 127.0.0.1 only (no socket):
# when the TCP port answers, the database exists.
resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    # A new password needs a restart (launch.py sets it at start); only a hash is kept.
    password = nonsensitive(sha256(var.password))
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = [
        "{env}/bin/python", "{module}/launch.py", "--data", "{run_dir}/data",
        "--port", tostring(var.port), "--user", var.user, "--database", var.database,
      ]
      env          = {}
      health       = { tcp = "127.0.0.1:${var.port}" }
      ports        = [var.port]
      unprivileged = true # PostgreSQL refuses to run as root
      timeout      = 120
      stop_signal  = "SIGINT" # fast shutdown: SIGTERM would wait for every client to disconnect
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. The value only reaches the process environment; nothing prints it.
    environment = {
      STACKCTL_PG_PASSWORD = nonsensitive(var.password)
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
