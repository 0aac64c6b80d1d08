# SeaweedFS as one supervised `weed mini` (master + volume + filer + S3 gateway, and the admin server
# and maintenance worker mini always runs). Not `weed server`: its filer's gRPC graceful stop waits up
# to 15s for the metadata subscriptions of its own meta aggregator and S3 gateway, with no flag to
# shorten it; mini caps that at 1s, then closes the volumes and the filer store the same way.
# launch.py writes the S3 identities file from the secrets in its environment, picks the admin ports,
# runs weed and creates the bucket; the health probe passes only after that.
locals {
  s3_endpoint = "http://${var.runtime.address}:${var.s3_port}"
  ready_url   = "http://${var.runtime.address}:${var.filer_port}/.stackctl/ready" # launch.py writes it, the health probe reads it
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
    "--s3-endpoint", local.s3_endpoint, "--ready", local.ready_url, "--",
    "{env}/bin/weed", "-logtostderr", "mini", # -logtostderr: glog to the component's log, not files in /tmp
    "-dir={run_dir}/data",
    "-ip=${var.runtime.address}", "-ip.bind=${var.runtime.address}",
    # Explicit HTTP ports make mini fail when one is taken instead of moving it; a taken gRPC port it
    # still moves (weed 4.48), but the supervisor has checked all of them free just before.
    "-master.port=${var.master_port}", "-master.port.grpc=${var.master_grpc_port}",
    "-volume.port=${var.volume_port}", "-volume.port.grpc=${var.volume_grpc_port}",
    "-filer.port=${var.filer_port}", "-filer.port.grpc=${var.filer_grpc_port}",
    "-s3.port=${var.s3_port}", "-s3.port.grpc=${var.s3_grpc_port}",
    "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", # on by default, with fixed ports
    # the admin server itself cannot be turned off: launch.py adds its ports
    "-admin.ui=false",
    "-s3.config={run_dir}/s3.json",
    "-master.telemetry=false",
    "-master.volumeSizeLimitMB=1024", "-volume.max=0",
    "-volume.preStopSeconds=0",
    # The volume server's graceful stop waits for every open connection, even one the filer dialed
    # and never used (after concurrent uploads), until this per-read/write timeout: default 30s.
    "-idleTimeout=3",
  ]
  # The ready file exists once launch.py created the bucket through S3, and reads back only while the
  # master knows the volume server; on a restart it is there before S3 listens, so S3 is probed too.
  health       = { http = local.ready_url, tcp = "${var.runtime.address}:${var.s3_port}" }
  env          = {}
  ports        = local.ports
  unprivileged = false
  private_tmp  = true # weed puts its gRPC unix sockets under a hard-coded /tmp
  timeout      = 120
  # mini exits 1-3s after SIGTERM (3: -idleTimeout). Its worst case is a 10s drain of S3 and admin,
  # then the filer's 1s and the volume and store closes: leave time for those rather than SIGKILL.
  stop_timeout = 15
  secret_env = {
    STACKCTL_S3_ACCESS_KEY = var.access_key
    STACKCTL_S3_SECRET_KEY = var.secret_key
  }
}
