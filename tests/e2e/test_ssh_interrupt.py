"""Ctrl-C of `up` and `down` of an ssh stack, for real: sshd hosts in network namespaces, the fixture `web`
server, held back on h1 by its `delay` so the interrupt lands while its supervisor is starting it there.

Checked from outside stackctl: its exit and its advice, the processes in each host's namespace (none
that `down` cannot find), the shared ssh connections (at most one per host, and reused), the stack's lock
here; then the advice works, and `down` leaves no process, port or file of the stack on any host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.e2e.test_killed_runs import start, wait_until
from tests.e2e.test_ssh_target import _listening, write_stack
from tests.sshhosts import HostSpec

from stackctl.targets.ssh.transport import SshHost, Transport
from stackctl.workdir import Workdir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

SSH_HOSTS = {"h1": HostSpec(), "h2": HostSpec()}


def on_host(host) -> dict[int, str]:
    """pid -> command line of every process in the host's namespace but its sshd (the host's own)."""
    pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True,
                          check=True).stdout.split()
    found = {}
    for pid in map(int, pids):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if argv and not argv.startswith("sshd"):
            found[pid] = argv
    return found


def recorded(stack_dir: Path) -> set[int]:
    """The process groups the stack's run dirs on a host record: what `down` stops."""
    groups = set()
    for pid_file in stack_dir.glob("run/*/pid"):
        try:
            groups.add(int(pid_file.read_text().split()[0]))
        except (OSError, IndexError, ValueError):
            continue
    return groups


def unrecorded(host, stack_dir: Path) -> dict[int, str]:
    """Processes in the host's namespace that no run dir of the stack owns (by process group)."""
    groups = recorded(stack_dir)
    out = {}
    for pid, argv in on_host(host).items():
        try:
            if os.getpgid(pid) not in groups:
                out[pid] = argv
        except ProcessLookupError:
            continue
    return out


def masters(cluster) -> dict[str, list[int]]:
    """Host address -> the pids of ssh ControlMaster processes ("ssh: <socket> [mux]") stackctl keeps to it."""
    control = Transport(SshHost("x", "x", identity_file=str(cluster.key)), known_hosts=str(cluster.known_hosts))
    seen: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and argv.startswith(f"ssh: {control.control_dir}/") and "[mux]" in argv:
            seen.setdefault(argv.split()[1], []).append(int(entry.name))
    return seen


def interrupted(*args: str, when, what: str) -> str:
    """stackctl ARGS, Ctrl-C'd a second after `when()` holds; its stderr."""
    proc, _lines = start(*args, env={})
    try:
        wait_until(when, 180, what, proc)
        time.sleep(1.0)
    except BaseException:
        proc.kill()
        raise
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    try:
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stderr.read()


@pytest.fixture
def stack(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "stack.yaml"
    dirs = write_stack(ssh_cluster, path, extra=", with: {delay: 300}", name="sshint")
    yield path, {n: d / "stacks" / "sshint" for n, d in dirs.items()}
    run_cli("down", str(path), "--yes")


def test_ctrl_c_of_up_and_down_on_ssh_leaves_what_the_next_run_finishes(ssh_cluster, stack):
    path, dirs = stack
    h1 = ssh_cluster.hosts["h1"]
    wd = Workdir("sshint")
    # when kv1's supervisor on h1 has launched the server, which sleeps before it listens
    stderr = interrupted("up", str(path), "--yes", "--no-smoke", when=lambda: recorded(dirs["h1"]),
                         what="kv1's start on h1")
    assert f"fix: run `stackctl up {path}` to finish, or `stackctl down {path}` to roll back" in stderr, stderr
    assert "Traceback" not in stderr
    # nothing the interrupted start left runs unrecorded on h1: the supervisor there is gone too
    wait_until(lambda: not unrecorded(h1, dirs["h1"]), 30, "h1 to hold only recorded processes")
    assert all(len(pids) == 1 for pids in masters(ssh_cluster).values()), masters(ssh_cluster)
    kept = masters(ssh_cluster)
    assert not wd.busy()  # the stack's lock here is released

    path.write_text(path.read_text().replace("delay: 300", "delay: 0"))
    again = run_cli("up", str(path), "--yes", "--no-smoke")
    assert again.returncode == 0, again.stdout + again.stderr
    now = masters(ssh_cluster)
    assert all(len(pids) == 1 for pids in now.values()), now
    assert all(now.get(sock, pids) == pids for sock, pids in kept.items()), (kept, now)  # reused, not doubled
    ports = {n: _listening(h) for n, h in ssh_cluster.hosts.items()}
    record = wd.load_record()
    assert record.state == "up"
    assert record.ports["kv1"]["port"] in ports["h1"] and record.ports["kv2"]["port"] in ports["h2"]

    stderr = interrupted("down", str(path), "--yes", when=lambda: wd.load_record().state == "destroying",
                         what="the destroy")
    assert f"fix: run `stackctl down {path}` again to finish destroying" in stderr, stderr
    assert not wd.busy()  # the stack's lock here is released
    for name, host in ssh_cluster.hosts.items():
        wait_until(lambda h=host, d=dirs[name]: not unrecorded(h, d), 30, f"{name} to hold only recorded processes")

    down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stack sshint destroyed" in down.stdout
    for name, host in ssh_cluster.hosts.items():
        assert not on_host(host), f"{name}: {on_host(host)}"
        assert not {p["port"] for p in record.ports.values()} & _listening(host)
        assert not dirs[name].exists(), f"{name}: {list(dirs[name].rglob('*'))[:5]}"
