# SeaweedFS as one supervised `weed server` (master + volume + filer + S3 gateway).
# launch.py writes the S3 identities file from the secrets in its environment, runs weed and
# creates the bucket; the health probe (the bucket's filer directory) passes only after that.
locals {
  s3_endpoint = "http://127.0.0.1:${var.s3_port}"
  ports = [var.master_port, var.master_grpc_port, var.volume_port, var.volume_grpc_port,
  var.filer_port, var.filer_grpc_port, var.s3_port, var.s3_grpc_port]
}

module "process" {
  source = "../../_lib/terraform/process" # the supervised-process shape every local component shares

  runtime    = var.runtime
  name       = var.instance
  module_dir = abspath(path.module)
  argv = [
    "{env}/bin/python", "{module}/launch.py",
    "--s3-config", "{run_dir}/s3.json", "--bucket", var.bucket, "--region", var.region,
    "--s3-endpoint", local.s3_endpoint, "--",
    "{env}/bin/weed", "-logtostderr", "server", # -logtostderr: glog to the component's log, not files in /tmp
    "-dir={run_dir}/data",
    "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
    "-master.port=${var.master_port}", "-master.port.grpc=${var.master_grpc_port}",
    "-volume.port=${var.volume_port}", "-volume.port.grpc=${var.volume_grpc_port}",
    "-filer", "-filer.port=${var.filer_port}", "-filer.port.grpc=${var.filer_grpc_port}",
    "-s3", "-s3.port=${var.s3_port}", "-s3.port.grpc=${var.s3_grpc_port}",
    "-s3.port.iceberg=0", "-s3.port.lance=0", # on by default, with fixed ports
    "-s3.config={run_dir}/s3.json",
    "-master.telemetry=false",
    "-master.electionTimeout=1s", # a restarted single master leads in ~3s instead of ~15s
    "-master.volumeSizeLimitMB=1024", "-volume.max=0",
    "-volume.preStopSeconds=0",
  ]
  env          = {}
  health       = { http = "http://127.0.0.1:${var.filer_port}/buckets/${var.bucket}/" }
  ports        = local.ports
  unprivileged = false
  private_tmp  = true # weed puts its gRPC unix sockets under a hard-coded /tmp
  timeout      = 120
  # The filer's gRPC graceful stop waits up to 15s for its own metadata subscription: let it.
  stop_timeout = 25
  secret_env = {
    STACKCTL_S3_ACCESS_KEY = var.access_key
    STACKCTL_S3_SECRET_KEY = var.secret_key
  }
}
