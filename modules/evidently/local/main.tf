# The Evidently UI service as one supervised process; projects and report snapshots are files in
# the workspace directory inside the run directory.
resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = [
        "{env}/bin/evidently", "ui", "--host", "127.0.0.1", "--port", tostring(var.port),
        "--workspace", "{run_dir}/workspace",
      ]
      env = {
        # evidently and iterative-telemetry only check that these are set
        DO_NOT_TRACK           = "true"
        ITERATIVE_DO_NOT_TRACK = "true"
      }
      health       = { http = "http://127.0.0.1:${var.port}/api/version" }
      ports        = [var.port]
      unprivileged = false
      timeout      = 180 # imports pandas, scipy, sklearn and statsmodels before it listens
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
