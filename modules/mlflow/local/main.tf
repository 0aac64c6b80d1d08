# MLflow server as one supervised process. Secrets (S3 keys, the database URL with its password)
# reach it only through the provisioner's environment; MLFLOW_BACKEND_STORE_URI is read by
# `mlflow server` itself, so the URL is never in argv, the spec or the state.
locals {
  # An empty endpoint (AWS) means the SDK's regional default: no override.
  s3_env = var.object_store_endpoint == "" ? {} : { MLFLOW_S3_ENDPOINT_URL = var.object_store_endpoint }
}

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/mlflow", "server", "--host", var.runtime.address, "--port", tostring(var.port),
    "--workers", tostring(var.workers),
    "--serve-artifacts", "--artifacts-destination", "s3://${var.object_store_bucket}/${var.artifacts_prefix}",
  ]
  env = merge({
    AWS_DEFAULT_REGION       = var.object_store_region
    MLFLOW_DISABLE_TELEMETRY = "true"
    DO_NOT_TRACK             = "true" # MLflow compares it with "true", so not "1"
    # job workers (huey consumers) serve GenAI features only; tracking and registry don't need them
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION = tostring(var.jobs)
  }, local.s3_env)
  health       = { http = "http://${var.runtime.address}:${var.port}/health" }
  ports        = [var.port]
  unprivileged = false
  timeout      = 300 # the first start creates the whole schema
  # safe: its state is in the backend and object stores; SIGTERM took ~1.8s (the CLI wrapper's teardown)
  stop_signal = "SIGKILL"
  secret_env = {
    AWS_ACCESS_KEY_ID        = var.object_store_access_key
    AWS_SECRET_ACCESS_KEY    = var.object_store_secret_key
    MLFLOW_BACKEND_STORE_URI = coalesce(var.database_url, "sqlite:///${var.runtime.run_dir}/mlflow.db")
  }
}
