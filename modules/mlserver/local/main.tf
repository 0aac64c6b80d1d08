# MLServer as one supervised process. launch.py writes MLServer's settings.json and the model's
# model-settings.json (uri models:/NAME/VERSION, loaded by mlserver_mlflow.MLflowRuntime from the
# registry), asks the registry whether that version exists (load it at startup, or start with the
# model unloaded), then execs `mlserver start`.
locals {
  store_wired = var.object_store_bucket != null
  endpoint    = var.object_store_endpoint == null ? "" : var.object_store_endpoint
  # Only when an object store is wired: for s3:// artifact URIs (an empty endpoint means AWS).
  s3_env = local.store_wired ? merge(
    { AWS_DEFAULT_REGION = var.object_store_region },
    local.endpoint == "" ? {} : { MLFLOW_S3_ENDPOINT_URL = local.endpoint },
  ) : {}
  mlserver_dir = "{run_dir}/mlserver"
}

resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    # Restart when the S3 keys change; only a hash is kept in state.
    secrets = nonsensitive(sha256(jsonencode([var.object_store_access_key, var.object_store_secret_key])))
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = [
        "{env}/bin/python", "{module}/launch.py",
        "--dir", local.mlserver_dir, "--registry", var.model_registry_url,
        "--model-name", var.model_name, "--model-version", var.model_version,
        "--http-port", tostring(var.port), "--grpc-port", tostring(var.grpc_port), "--",
        "{env}/bin/mlserver", "start", local.mlserver_dir,
      ]
      env = merge({
        MLFLOW_TRACKING_URI      = var.model_registry_url # how the runtime resolves models:/ URIs
        MLFLOW_DISABLE_TELEMETRY = "true"
        DO_NOT_TRACK             = "true"          # MLflow compares it with "true", so not "1"
        TMPDIR                   = "{run_dir}/tmp" # model downloads; emptied by launch.py at start
      }, local.s3_env)
      health       = { http = "http://127.0.0.1:${var.port}/v2/health/ready" }
      ports        = [var.port, var.grpc_port]
      unprivileged = false
      timeout      = 300 # a registered model is downloaded and loaded before MLServer is ready
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. These values only reach the process environment; nothing prints them.
    # sensitive() first: before Terraform 1.7, nonsensitive() of an unmarked value is an error.
    environment = local.store_wired ? {
      AWS_ACCESS_KEY_ID     = nonsensitive(sensitive(var.object_store_access_key))
      AWS_SECRET_ACCESS_KEY = nonsensitive(sensitive(var.object_store_secret_key))
    } : {}
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
