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

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/python", "{module}/launch.py",
    "--dir", local.mlserver_dir, "--registry", var.model_registry_url,
    "--model-name", var.model_name, "--model-version", var.model_version,
    "--host", var.runtime.address, "--http-port", tostring(var.port), "--grpc-port", tostring(var.grpc_port), "--",
    "{env}/bin/mlserver", "start", local.mlserver_dir,
  ]
  env = merge({
    MLFLOW_TRACKING_URI      = var.model_registry_url # how the runtime resolves models:/ URIs
    MLFLOW_DISABLE_TELEMETRY = "true"
    DO_NOT_TRACK             = "true"          # MLflow compares it with "true", so not "1"
    TMPDIR                   = "{run_dir}/tmp" # model downloads; emptied by launch.py at start
  }, local.s3_env)
  health       = { http = "http://${var.runtime.address}:${var.port}/v2/health/ready" }
  ports        = [var.port, var.grpc_port]
  unprivileged = false
  timeout      = 300 # a registered model is downloaded and loaded before MLServer is ready
  # safe: it keeps no state (the model comes from the registry); SIGTERM took ~0.8s
  stop_signal = "SIGKILL"
  secret_env = local.store_wired ? {
    AWS_ACCESS_KEY_ID     = var.object_store_access_key
    AWS_SECRET_ACCESS_KEY = var.object_store_secret_key
  } : {}
}
