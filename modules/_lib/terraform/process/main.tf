# One supervised process: the shape every local component module shares. Its provisioners call
# stackctl's supervisor with the spec as one JSON argument (no shell quoting to break).
locals {
  launch = {
    # local: this machine's supervisor; ssh: a shim that runs the same supervisor on the component's host
    launcher = coalesce(var.runtime.launcher, [var.runtime.python, "-m", "stackctl.runtime"])
    python   = var.runtime.python
    run_dir  = var.runtime.run_dir
    # New secrets need a restart (they are read at start); only a hash is kept in state.
    secrets = nonsensitive(sha256(jsonencode(var.secret_env)))
    spec = merge({
      name         = var.name
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = var.module_dir
      argv         = var.argv
      env          = var.env
      health       = var.health
      ports        = var.ports
      unprivileged = var.unprivileged
      timeout      = var.timeout
      stop_signal  = var.stop_signal
      private_tmp  = var.private_tmp
      secret_names = sort(nonsensitive(keys(var.secret_env))) # what a launcher may forward (ssh: over stdin)
    }, var.stop_timeout == null ? {} : { stop_timeout = var.stop_timeout })
  }
}

resource "terraform_data" "this" {
  input = local.launch
  # A changed launch (argv, ports, env, secrets) is a stop with the old spec and a start with the new
  # one: a change of `input` alone is an in-place update, which runs no provisioner.
  triggers_replace = local.launch

  provisioner "local-exec" {
    interpreter = concat(self.input.launcher, ["start"])
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. These values only reach the process environment; nothing prints them.
    environment = nonsensitive(var.secret_env)
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = concat(self.input.launcher, ["stop"])
    command     = jsonencode(self.input.spec)
  }
}
