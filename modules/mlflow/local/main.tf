# MLflow server as one supervised process. Secrets (S3 keys, the database URL with its password)
# reach it only through the provisioner's environment; MLFLOW_BACKEND_STORE_URI is read by
# `mlflow server` itself, so the URL is never in argv, the spec or the state.
locals {
  # An empty endpoint (AWS) means the SDK's regional default: no override.
  s3_env = var.object_store_endpoint == "" ? {} : { MLFLOW_S3_ENDPOINT_URL = var.object_store_endpoint }
}

resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    # Restart when the credentials or the database change; only a hash is kept in state.
    secrets = nonsensitive(sha256(jsonencode([var.object_store_access_key, var.object_store_secret_key,
    coalesce(var.database_url, "sqlite")])))
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = [
        "{env}/bin/mlflow", "server", "--host", "127.0.0.1", "--port", tostring(var.port),
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
      health       = { http = "http://127.0.0.1:${var.port}/health" }
      ports        = [var.port]
      unprivileged = false
      timeout      = 300 # the first start creates the whole schema
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. These values only reach the process environment; nothing prints them.
    environment = {
      AWS_ACCESS_KEY_ID     = nonsensitive(var.object_store_access_key)
      AWS_SECRET_ACCESS_KEY = nonsensitive(var.object_store_secret_key)
      # sensitive() first: before Terraform 1.7, nonsensitive() of an unmarked value (SQLite) is an error
      MLFLOW_BACKEND_STORE_URI = nonsensitive(sensitive(coalesce(var.database_url, "sqlite:///${var.runtime.run_dir}/mlflow.db")))
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
