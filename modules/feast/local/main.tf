# Feast feature server as one supervised process. launch.py writes feature_store.yaml (mode 0600:
# the Redis connection string holds the password), applies and materializes the demo feature
# view, then execs `feast serve`. Secrets (the Redis URL, S3 keys) reach it only through the
# provisioner's environment.
locals {
  s3       = var.object_store_bucket != null
  prefix   = trim(var.registry_prefix, "/") == "" ? "" : "${trim(var.registry_prefix, "/")}/"
  registry = local.s3 ? "s3://${var.object_store_bucket}/${local.prefix}${var.instance}/registry.db" : "{run_dir}/data/registry.db"
  endpoint = var.object_store_endpoint == null ? "" : var.object_store_endpoint
  # An empty endpoint (AWS) means the SDK's regional default: no override.
  s3_env = local.s3 ? merge({ AWS_DEFAULT_REGION = var.object_store_region },
  local.endpoint == "" ? {} : { FEAST_S3_ENDPOINT_URL = local.endpoint }) : {}
}

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = concat(
    ["{env}/bin/python", "{module}/launch.py", "--repo", "{run_dir}/repo", "--data", "{run_dir}/data",
    "--project", var.instance, "--registry", local.registry],
    var.demo ? [] : ["--no-demo"],
    ["--", "{env}/bin/feast", "-c", "{run_dir}/repo", "serve", "--host", var.runtime.address,
    "--port", tostring(var.port), "--workers", tostring(var.workers)],
  )
  env = merge({
    FEAST_USAGE = "False" # usage telemetry off (versions that still have it)
    # gunicorn's control socket: in the run directory, not one shared ~/.gunicorn/gunicorn.ctl
    XDG_RUNTIME_DIR = "{run_dir}"
  }, local.s3_env)
  health       = { http = "http://${var.runtime.address}:${var.port}/health" }
  ports        = [var.port]
  unprivileged = false
  timeout      = 180 # the first start applies and materializes the demo
  secret_env = {
    STACKCTL_KV_URL       = var.kv_store_url == null ? "" : var.kv_store_url
    AWS_ACCESS_KEY_ID     = var.object_store_access_key == null ? "" : var.object_store_access_key
    AWS_SECRET_ACCESS_KEY = var.object_store_secret_key == null ? "" : var.object_store_secret_key
  }
}
