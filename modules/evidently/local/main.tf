# The Evidently UI service as one supervised process; projects and report snapshots are files in
# the workspace directory inside the run directory.

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/evidently", "ui", "--host", var.runtime.address, "--port", tostring(var.port),
    "--workspace", "{run_dir}/workspace",
  ]
  env = {
    # evidently and iterative-telemetry only check that these are set
    DO_NOT_TRACK           = "true"
    ITERATIVE_DO_NOT_TRACK = "true"
  }
  health       = { http = "http://${var.runtime.address}:${var.port}/api/version" }
  ports        = [var.port]
  unprivileged = false
  timeout      = 180 # imports pandas, scipy, sklearn and statsmodels before it listens
}
