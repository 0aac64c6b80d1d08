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

resource "terraform_data" "this" {
  input = {
    python  = var.runtime.python
    run_dir = var.runtime.run_dir
    # Restart when the online store or the S3 credentials change; only a hash is kept in state.
    secrets = nonsensitive(sensitive(sha256(jsonencode([var.kv_store_url, var.object_store_access_key, var.object_store_secret_key]))))
    spec = {
      name         = var.instance
      run_dir      = var.runtime.run_dir
      log_file     = var.runtime.log_file
      requirements = var.runtime.requirements
      module_dir   = abspath(path.module)
      argv = concat(
        ["{env}/bin/python", "{module}/launch.py", "--repo", "{run_dir}/repo", "--data", "{run_dir}/data",
        "--project", var.instance, "--registry", local.registry],
        var.demo ? [] : ["--no-demo"],
        ["--", "{env}/bin/feast", "-c", "{run_dir}/repo", "serve", "--host", "127.0.0.1",
        "--port", tostring(var.port), "--workers", tostring(var.workers)],
      )
      env = merge({
        FEAST_USAGE = "False" # usage telemetry off (versions that still have it)
        # gunicorn's control socket: in the run directory, not one shared ~/.gunicorn/gunicorn.ctl
        XDG_RUNTIME_DIR = "{run_dir}"
      }, local.s3_env)
      health       = { http = "http://127.0.0.1:${var.port}/health" }
      ports        = [var.port]
      unprivileged = false
      timeout      = 180 # the first start applies and materializes the demo
    }
  }

  provisioner "local-exec" {
    interpreter = [self.input.python, "-m", "stackctl.runtime", "start"]
    command     = jsonencode(self.input.spec)
    # nonsensitive: Terraform hides all provisioner output (errors too) when any argument is
    # sensitive. These values only reach the process environment; nothing prints them.
    # sensitive() first: before Terraform 1.7, nonsensitive() of an unmarked value is an error.
    environment = {
      STACKCTL_KV_URL       = nonsensitive(sensitive(var.kv_store_url == null ? "" : var.kv_store_url))
      AWS_ACCESS_KEY_ID     = nonsensitive(sensitive(var.object_store_access_key == null ? "" : var.object_store_access_key))
      AWS_SECRET_ACCESS_KEY = nonsensitive(sensitive(var.object_store_secret_key == null ? "" : var.object_store_secret_key))
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.python, "-m", "stackctl.runtime", "stop"]
    command     = jsonencode(self.input.spec)
  }
}
