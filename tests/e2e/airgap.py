"""A host with no network at all, for shipping tests: this machine inside a fresh network namespace
that has only `lo`, reached through the same two calls the ssh transport offers (run, put_tree)."""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_serial = itertools.count()


def host_python() -> str:
    """This machine's python3 (not this repo's venv): what the namespace host runs."""
    return subprocess.run(["python3", "-c", "import sys; print(sys.executable)"], capture_output=True, text=True,
                          check=True, env={**os.environ, "PATH": os.environ["PATH"].replace(sys.prefix + "/bin", "")},
                          ).stdout.strip()


class NetnsHost:
    def __init__(self, name: str, home: Path):
        self.name = name
        self.home = home
        self.puts = 0  # put_tree calls
        self.bytes_sent = 0  # tar bytes that went to the host
        # a clean environment: nothing of this test process (its venv, STACKCTL_* or pip config) leaks in
        self.env = {"PATH": f"{Path(host_python()).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}

    def run(self, script: str, stdin: bytes | None = None, timeout: float = 600) -> tuple[int, str, str]:
        proc = subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", script], input=stdin or b"",
                              capture_output=True, env=self.env, cwd=self.home, timeout=timeout)
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")

    def put_tree(self, local_dir: Path, remote_dir: str) -> None:
        data = subprocess.run(["tar", "-C", str(local_dir), "-cf", "-", "."], capture_output=True, check=True).stdout
        self.puts += 1
        self.bytes_sent += len(data)
        q = shlex.quote(remote_dir)
        rc, _out, err = self.run(f"mkdir -p {q} && tar -C {q} -xf -", data)
        if rc != 0:
            raise RuntimeError(f"put_tree to {remote_dir} failed: {err}")

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


@contextmanager
def netns_host(home: Path) -> Iterator[NetnsHost]:
    """A namespace of our own (stkship-<pid>-<n>), removed with every process in it, also on failure."""
    name = f"stkship-{os.getpid()}-{next(_serial)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        home.mkdir(parents=True, exist_ok=True)
        yield NetnsHost(name, home)
    finally:
        host = NetnsHost.__new__(NetnsHost)
        host.name = name
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in host.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while host.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
