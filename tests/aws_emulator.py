"""A real AWS emulator for the tests: moto's server mode on 127.0.0.1, one per test session.

stackctl reaches it exactly as a user reaches LocalStack or moto: through AWS_ENDPOINT_URL. The
hashicorp/aws provider comes from the machine's filesystem mirror (STACKCTL_PROVIDER_MIRROR);
tests that apply skip, saying so, where there is none.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRROR_CANDIDATES = ("/opt/tf-plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")


def provider_mirror() -> str | None:
    """A filesystem mirror that holds hashicorp/aws: STACKCTL_PROVIDER_MIRROR, else a usual place."""
    for candidate in (os.environ.get("STACKCTL_PROVIDER_MIRROR"), *MIRROR_CANDIDATES):
        if candidate and (Path(candidate).expanduser() / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return str(Path(candidate).expanduser())
    return None


@dataclass
class Emulator:
    url: str
    process: subprocess.Popen
    log: Path

    def reset(self) -> None:
        """Forget every resource (POST /moto-api/reset): each test starts from an empty account."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)

    def env(self, tmp: Path) -> dict[str, str]:
        """What a user pointing stackctl at an emulator sets, isolated from any real AWS config."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def start(log: Path) -> Emulator:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handle = log.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            return Emulator(url, process, log)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
