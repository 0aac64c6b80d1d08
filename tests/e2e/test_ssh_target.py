"""The ssh target end to end: real Terraform, real sshd hosts in network namespaces, real servers.

Two fixture `web` servers (the shared supervised-process module, a secret each) on two hosts by
`on:`;
directory, so what `down` must remove is checked from outside stackctl: no process working in it,
no file left, and the ports closed inside each host's namespace (`ss` there).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.sshhosts import HostSpec

pytestmark = pytest.mark.e2e

SSH_HOSTS = {"h1": HostSpec(), "h2": HostSpec()}

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: sshpair}}
target:
  kind: ssh
  known_hosts: {known_hosts}
  hosts:
    h1: {{address: {a1}, user: root, identity_file: {key}, directory: {d1}}}
    h2: {{address: {a2}, user: root, identity_file: {key}, directory: {d2}}}
components:
  kv1: {{use: web, on: h1}}
  kv2: {{use: web, on: h2}}
smoke: {{enabled: false}}
"""


def _listening(host) -> set[int]:
    out = subprocess.run(["ip", "netns", "exec", host.netns, "ss", "-Hltn"], capture_output=True, text=True,
                         check=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def _working_in(directory: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(directory):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def manifest(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    hosts = ssh_cluster.hosts
    dirs = {n: ssh_cluster.dir / n / "stackctl" for n in hosts}
    path = tmp_path / "stack.yaml"
    path.write_text(STACK.format(known_hosts=ssh_cluster.known_hosts, key=ssh_cluster.key, a1=hosts["h1"].address,
                                 a2=hosts["h2"].address, d1=dirs["h1"], d2=dirs["h2"]))
    yield path, dirs
    run_cli("down", str(path), "--yes")  # a failed test leaves nothing running either


def test_up_twice_then_down_leaves_nothing_on_either_host(ssh_cluster, manifest):
    path, dirs = manifest
    up = run_cli("up", str(path), "--yes", "--no-smoke")
    assert up.returncode == 0, up.stdout + up.stderr
    ports = {inst: int(p) for inst, p in _ports(path).items()}
    h1, h2 = _listening(ssh_cluster.hosts["h1"]), _listening(ssh_cluster.hosts["h2"])
    assert ports["kv1"] in h1 and ports["kv1"] not in h2
    assert ports["kv2"] in h2
    assert _working_in(dirs["h1"] / "stacks" / "sshpair") and _working_in(dirs["h2"] / "stacks" / "sshpair")
    for d in dirs.values():  # the secret reached the server (over ssh stdin), and no file on the host
        pid = _working_in(d / "stacks" / "sshpair" / "run")[0]
        env = dict(kv.split(b"=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in kv)
        token = env[b"WEB_TOKEN"]
        assert len(token) >= 16
        assert not [f for f in d.rglob("*") if f.is_file() and token in f.read_bytes()]

    again = run_cli("up", str(path), "--yes", "--no-smoke")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes: the stack already matches its manifest." in again.stdout

    down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    for name, host in ssh_cluster.hosts.items():
        stack_dir = dirs[name] / "stacks" / "sshpair"
        assert not stack_dir.exists(), f"{name}: {list(stack_dir.rglob('*'))[:5]}"
        assert not _working_in(stack_dir)
        assert not set(ports.values()) & _listening(host)


def _ports(path: Path) -> dict[str, int]:
    from stackctl.workdir import Workdir

    return {inst: named["port"] for inst, named in Workdir("sshpair").load_record().ports.items()}
