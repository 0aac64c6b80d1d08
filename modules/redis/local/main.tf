# Redis as one supervised process. launch.py writes redis.conf (with the password, mode 0600, only
# while the server runs), starts redis-server on a private unix socket and opens 127.0.0.1:port
# once the server answers PING there: when the TCP port accepts connections, Redis is ready.
resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    # A new password needs a restart (launch.py writes it at start); only a hash is kept.
    password = nonsensitive(sha256(var.password))
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = [
        "{env}/bin/python", "{module}/launch.py",
        "--conf", "{run_dir}/redis.conf", "--data", "{run_dir}/data", "--port", tostring(var.port),
      ]
      env          = {}
      health       = { tcp = "127.0.0.1:${var.port}" }
      ports        = [var.port]
      unprivileged = false
      timeout      = 60
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. The value only reaches the process environment; nothing prints it.
    environment = {
      STACKCTL_REDIS_PASSWORD = nonsensitive(var.password)
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
