"""Ship a bundle to one host and build its component envs there, offline; a second ship sends nothing.

Written against a tiny host interface (the ssh transport implements it; tests use a network
namespace with no network at all), so what runs on the host is the same either way:
1. `inventory`: the host says which files it has (hostside.py keeps a record of verified files);
2. only the missing files go over `put_tree`, into an incoming dir, and `install` checks each one's
   sha256 before moving it into place;
3. `envs`: the shipped runtime builds each component env from the shipped wheelhouse with the
   shipped uv (`ensure_env` with STACKCTL_WHEELHOUSE set: --offline --no-index), once.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ...runtime.envs import UV_VAR, WHEELHOUSE_VAR
from .bundle import Bundle, HostFacts, ShipError, ship_cache

HOSTSIDE = Path(__file__).with_name("hostside.py")
NO_PYTHON = 3  # the wrapper's exit code when the host has no usable python3
# every host command runs under this: one clear line instead of "python3: not found"
NEEDS_PYTHON = f"""command -v python3 >/dev/null 2>&1 || {{
  echo "stackctl: no python3 on this host (it needs python3 >= 3.10)" >&2
  exit {NO_PYTHON}
}}
"""


class Host(Protocol):
    """How stackctl reaches a host: the ssh transport, or a test's network namespace. A `name`
    attribute, when there is one, names the host in errors."""

    def run(self, script: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run a POSIX sh script on the host with these bytes on stdin: (exit code, stdout, stderr)."""

    def put_tree(self, local_dir: Path, remote_dir: str) -> None:
        """Copy a local directory tree to remote_dir on the host (created if missing)."""


@dataclass
class ShipReport:
    files_sent: int = 0
    bytes_sent: int = 0
    envs_built: list[str] = field(default_factory=list)  # env keys built on the host this time
    envs_ready: list[str] = field(default_factory=list)  # already there


def host_command(command: str, *args: str) -> str:
    """The sh script that runs hostside.py's `command` on a host."""
    argv = " ".join(shlex.quote(a) for a in (HOSTSIDE.read_text(), command, *args))
    return f"set -eu\n{NEEDS_PYTHON}exec python3 -I -c {argv}\n"


def call(host: Host, command: str, *args: str, stdin: dict | None = None) -> dict:
    """Run hostside.py's `command` on the host; its JSON result."""
    name = getattr(host, "name", "the host")
    rc, out, err = host.run(host_command(command, *args), None if stdin is None else json.dumps(stdin).encode())
    if rc == NO_PYTHON:
        raise ShipError(f"{name}: {err.strip()}", "install python3 (>= 3.10) on the host")
    if rc != 0:
        raise ShipError(f"{name}: {command} failed (exit {rc}): {err.strip()[-2000:]}")
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise ShipError(f"{name}: {command} printed no result: {(out + err).strip()[-500:]!r}") from None


def host_facts(host: Host) -> HostFacts:
    return HostFacts.parse(call(host, "facts"), getattr(host, "name", "the host"))


def host_env(bundle: Bundle, root: str) -> dict[str, str]:
    """The environment of every runtime command on the host (`python3 -m stackctl.runtime ...`)."""
    return {"PYTHONPATH": f"{root}/{bundle.runtime}", **{k: f"{root}/{v}" for k, v in _environ(bundle).items()}}


def _environ(bundle: Bundle) -> dict[str, str]:
    """The variables pointing the runtime at the shipped parts, relative to the host's directory."""
    return {"STACKCTL_HOME": ".", "STACKCTL_ENVS_DIR": "envs", WHEELHOUSE_VAR: bundle.wheelhouse,
            UV_VAR: bundle.uv, "UV_CACHE_DIR": "cache/uv"}


def ship(host: Host, bundle: Bundle, root: str) -> ShipReport:
    """Make `root` on the host hold `bundle` and every component env built from it."""
    report = ShipReport()
    have = call(host, "inventory", root)
    missing = {rel: f for rel, f in bundle.files.items() if have.get(rel, [None])[0] != f.sha256}
    if missing:
        incoming = f"{root}/.ship/incoming-{secrets.token_hex(6)}"
        with _staged(missing) as stage:
            host.put_tree(stage, incoming)
        call(host, "install", root, incoming,
             stdin={rel: {"sha256": f.sha256, "mode": f.mode} for rel, f in missing.items()})
        report.files_sent, report.bytes_sent = len(missing), sum(f.size for f in missing.values())
    built = call(host, "envs", root, stdin={"runtime": bundle.runtime, "environ": _environ(bundle),
                                            "requirements": bundle.requirement_sets})
    report.envs_built, report.envs_ready = built["built"], built["ready"]
    return report


@contextmanager
def _staged(files: dict) -> Iterator[Path]:
    """A temp tree of just the missing files: hard links into the cache (copies across file systems)."""
    ship_cache().mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=ship_cache()))
    try:
        for rel, f in files.items():
            dest = stage / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f.local, dest)
            except OSError:
                shutil.copyfile(f.local, dest)
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
