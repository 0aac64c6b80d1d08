"""Run SeaweedFS for stackctl: S3 identities from the environment, the weed command, the bucket.

    launch.py --s3-config FILE --bucket NAME --region R --s3-endpoint URL --ready URL -- weed mini ...

The access key and secret arrive as STACKCTL_S3_ACCESS_KEY / STACKCTL_S3_SECRET_KEY (never in argv,
the spec or Terraform state). They are written to FILE with mode 0600 and removed from weed's
environment. `weed mini` always runs an admin server and a maintenance worker: this process picks
their ports and adds -admin.port / -admin.port.grpc to the command. It stays weed's parent: it
creates the bucket once S3 answers, then writes a few bytes to the filer at the --ready URL, which
the health probe reads back; after weed exits it removes FILE and the unix sockets weed leaves in
/tmp.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request

BUCKET_TIMEOUT = 300  # the supervisor's health timeout fails earlier; this only bounds the loop
ADMIN_GRPC_OFFSET = 10000  # mini's worker dials the admin's gRPC at its HTTP port + 10000, whatever the flag says
# Read by weed from its environment: AWS_* become an extra admin identity of the S3 gateway, S3_* make
# mini create buckets or advertise another URL. The stack's S3 is configured by argv and FILE only.
FOREIGN_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "S3_BUCKET",
               "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


def write_identities(path: str, access_key: str, secret_key: str) -> None:
    config = {"identities": [{
        "name": "stackctl",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh)
    os.replace(tmp, path)


def create_bucket(child: subprocess.Popen, args: argparse.Namespace, access: str, secret: str) -> bool:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", endpoint_url=args.s3_endpoint, region_name=args.region,
                      aws_access_key_id=access, aws_secret_access_key=secret,
                      config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
    extra = {} if args.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": args.region}}
    deadline, last = time.monotonic() + BUCKET_TIMEOUT, ""
    while child.poll() is None and time.monotonic() < deadline:
        try:
            s3.create_bucket(Bucket=args.bucket, **extra)
            print(f"launch.py: created bucket {args.bucket}", flush=True)
            return True
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return True
            last = f"{code}: {err}"
        except BotoCoreError as err:  # not listening yet
            last = str(err)
        time.sleep(0.5)
    if child.poll() is None:
        print(f"launch.py: could not create bucket {args.bucket}: {last}", file=sys.stderr, flush=True)
    return False


def write_ready(child: subprocess.Popen, url: str) -> bool:
    """Reading these bytes back goes through the filer, the master and the volume server: it works
    only once the master knows the volume server, which after a restart can take the volume
    server's next heartbeat (5s) when its first one came before the master led."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline, last = time.monotonic() + BUCKET_TIMEOUT, ""
    while child.poll() is None and time.monotonic() < deadline:
        try:
            with opener.open(urllib.request.Request(url, data=b"ok\n", method="PUT"), timeout=10):
                return True
        except OSError as err:  # urllib's errors included: not writable yet
            last = str(err)
            time.sleep(0.5)
    if child.poll() is None:
        print(f"launch.py: could not write {url}: {last}", file=sys.stderr, flush=True)
    return False


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("", port))  # every address: mini also refuses a port that is taken elsewhere
        except OSError:
            return False
    return True


def admin_ports() -> list[str]:
    """A free pair P, P+10000 for the admin server, below the kernel's ephemeral port range: stackctl
    allocates the stacks' ports by binding port 0, i.e. inside that range, so the pair never takes a
    port another stack was given. Random, so two stacks starting at once do not pick the same pair."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
        low = int(fh.read().split()[0])
    ports = list(range(10000, low - ADMIN_GRPC_OFFSET)) or list(range(1024, low - ADMIN_GRPC_OFFSET))
    for port in random.sample(ports, min(len(ports), 200)):
        if _free(port) and _free(port + ADMIN_GRPC_OFFSET):
            return [f"-admin.port={port}", f"-admin.port.grpc={port + ADMIN_GRPC_OFFSET}"]
    raise SystemExit(f"launch.py: no free pair of ports P, P+{ADMIN_GRPC_OFFSET} below {low} for weed's admin")


def remove_sockets(command: list[str]) -> None:
    """weed puts /tmp/seaweedfs-<service>-<port>.sock for its ports and leaves some behind."""
    for port in re.findall(r"^-[\w.]*port[\w.]*=(\d+)$", "\n".join(command), re.M):
        for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except OSError:
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3-config", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    access = os.environ.pop("STACKCTL_S3_ACCESS_KEY", "")
    secret = os.environ.pop("STACKCTL_S3_SECRET_KEY", "")
    if not command or not access or not secret:
        print("launch.py: needs a weed command after -- and STACKCTL_S3_ACCESS_KEY / STACKCTL_S3_SECRET_KEY "
              "in the environment", file=sys.stderr)
        return 2
    command += admin_ports()  # before FILE exists: a failure here leaves no secret behind
    for name in FOREIGN_ENV:
        os.environ.pop(name, None)
    write_identities(args.s3_config, access, secret)
    for arg in command:
        if arg.startswith("-dir="):
            os.makedirs(arg[len("-dir="):], exist_ok=True)
            # mini saves its flags there and at start applies each saved one whose flag is at its
            # default. argv sets every flag we use, so this matters only when a later module drops a
            # flag or sets it back to its default: the saved value would win. argv is the one source.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(arg[len("-dir="):], "mini.options"))

    child = subprocess.Popen(command)  # same process group: the supervisor's stop reaches it too

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ready = create_bucket(child, args, access, secret) and write_ready(child, args.ready)
    failed = not ready and child.poll() is None
    if failed:
        child.terminate()
    code = child.wait()
    remove_sockets(command)
    os.unlink(args.s3_config)  # secrets stay on disk only while the server runs
    return 1 if failed else code


if __name__ == "__main__":
    sys.exit(main())
