"""SeaweedFS keeps what it acknowledged across the stop stackctl gives it, and that stop is quick.

A one-component stack comes up through stackctl; objects of several sizes go in (one multipart, one
written just before the stop); the store is stopped as Terraform's destroy or replace stops it (the
process module's destroy provisioner: `python -m stackctl.runtime stop SPEC`), started again as its
create provisioner starts it, on the same data directory, and every object must read back byte for
byte. The stop must take well under the ~15s `weed server` needed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest

from stackctl.runtime.supervisor import log_tail, port_open
from stackctl.workdir import Workdir

pytestmark = pytest.mark.e2e

MANIFEST = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: durable}
target: {kind: local}
components:
  store: {use: seaweedfs}
"""
STOP_LIMIT = 5.0  # seconds; `weed server` took ~15
# weed 4.48: now and then mini's admin server, stopping, waits to release its lock on the master through
# a master client that the same stop has just closed, until mini gives up on it after 10s (then the
# filer, volume and store closes still run). The stop takes ~11s then; no flag avoids it.
ADMIN_STUCK = "timed out waiting for admin/s3/webdav to shut down"


def run(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=900,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, f"{' '.join(args[:2])} exited {result.returncode}\n" \
                                       f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def s3_client(out: dict):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=out["s3_endpoint"], region_name=out["region"],
                        aws_access_key_id=out["access_key"], aws_secret_access_key=out["secret_key"],
                        config=Config(retries={"max_attempts": 1}))


def test_objects_survive_a_supervisor_stop_and_start(tmp_path, stackctl_home):
    from boto3.s3.transfer import TransferConfig

    manifest = tmp_path / "durable.yaml"
    manifest.write_text(MANIFEST)
    try:
        run("stackctl.app", "up", str(manifest), "--yes", "--no-smoke")
        out = json.loads(run("stackctl.app", "outputs", str(manifest), "--json", "--show-secrets").stdout)["store"]
        s3, bucket = s3_client(out), out["bucket"]
        objects = {"one-byte": os.urandom(1), "few-kb": os.urandom(3 * 1024 + 7), "chunked": os.urandom(6 << 20)}
        for key, body in objects.items():  # "chunked": one PUT, split by the filer (4 MB chunks)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        objects["multipart"] = os.urandom(11 << 20)
        five_mb = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
        s3.upload_fileobj(io.BytesIO(objects["multipart"]), bucket, "multipart", Config=five_mb)
        assert s3.head_object(Bucket=bucket, Key="multipart")["ETag"].endswith('-3"')  # 3 parts
        objects["last"] = os.urandom(256 * 1024)
        s3.put_object(Bucket=bucket, Key="last", Body=objects["last"])  # acknowledged, then stopped at once

        run_dir = Workdir("durable").run_dir("store")
        spec = (run_dir / "spec.json").read_text()  # what the provisioners are given
        log = Workdir("durable").root / "logs" / "store.log"
        offset = log.stat().st_size
        started = time.monotonic()
        stopped = run("stackctl.runtime", "stop", spec)
        took = time.monotonic() - started
        assert "SIGKILL" not in stopped.stdout, stopped.stdout  # a clean stop, not a kill
        assert [p for p in json.loads(spec)["ports"] if port_open(p)] == []
        stuck = ADMIN_STUCK in log_tail(log, offset, lines=1000)
        assert took < STOP_LIMIT + 10 * stuck, f"the stop took {took:.1f}s"

        secrets = {"STACKCTL_S3_ACCESS_KEY": out["access_key"], "STACKCTL_S3_SECRET_KEY": out["secret_key"]}
        run("stackctl.runtime", "start", spec, env=secrets)  # the same spec: the same data directory
        s3 = s3_client(out)
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(objects)
        for key, body in objects.items():
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, f"{key}: {len(got)} bytes back of {len(body)}, or different ones"
    except BaseException:  # shown with the failure: down removes the log
        log = Workdir("durable").root / "logs" / "store.log"
        print(f"--- last lines of {log}:\n{log_tail(log, lines=80)}")
        raise
    finally:
        down = run("stackctl.app", "down", str(manifest), "--yes", check=False)
    assert down.returncode == 0, down.stdout[-4000:] + down.stderr[-4000:]
    assert "no process left, every port closed" in down.stdout
