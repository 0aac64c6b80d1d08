"""The ssh target end to end: real Terraform, real sshd hosts in network namespaces, real servers.

Two fixture `web` servers (the shared supervised-process module, a secret each) on two hosts by
`on:`. Each host's directory is inside the cluster's own, so what `down` must remove is checked from
outside stackctl: no process working in it, no file left, the ports closed in each host's namespace.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.sshhosts import HostSpec

pytestmark = pytest.mark.e2e

A100 = "0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03"
SSH_HOSTS = {"h1": HostSpec(), "h2": HostSpec(), "nopy": HostSpec(python="missing"),
             "oldpy": HostSpec(python="3.8.10"), "gpu1": HostSpec(gpus=[A100])}

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: {name}}}
target:
  kind: ssh
  known_hosts: {known_hosts}
  hosts:
{hosts}
components:
  kv1: {{use: web, on: {on1}{extra}}}
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


def write_stack(cluster, path: Path, *, on1="h1", extra="", known_hosts=None, name="sshpair") -> dict[str, Path]:
    """The stack's manifest at `path`; each host's directory (where nothing may be before `up`)."""
    dirs = {n: cluster.dir / n / "stackctl" for n in cluster.hosts}
    hosts = "".join(f"    {n}: {{address: {h.address}, user: root, identity_file: {cluster.key}, "
                    f"directory: {dirs[n]}}}\n" for n, h in cluster.hosts.items())
    path.write_text(STACK.format(known_hosts=known_hosts or cluster.known_hosts, hosts=hosts.rstrip("\n"),
                                 on1=on1, extra=extra, name=name))
    return dirs


@pytest.fixture
def manifest(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "stack.yaml"
    dirs = write_stack(ssh_cluster, path)
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
    for d in (dirs["h1"], dirs["h2"]):  # the secret reached the server (over ssh stdin), and no file there
        pid = _working_in(d / "stacks" / "sshpair" / "run")[0]
        env = dict(kv.split(b"=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in kv)
        token = env[b"WEB_TOKEN"]
        assert len(token) >= 16
        assert not [f for f in d.rglob("*") if f.is_file() and token in f.read_bytes()]

    again = run_cli("up", str(path), "--yes", "--no-smoke")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes: the stack already matches its manifest." in again.stdout

    status = run_cli("status", str(path), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    shown = json.loads(status.stdout)["components"]
    pids = {i: _working_in(dirs[h] / "stacks" / "sshpair" / "run" / i) for i, h in (("kv1", "h1"), ("kv2", "h2"))}
    assert {i: (c["host"], c["state"], c["pid"] in pids[i], c["url"]) for i, c in shown.items()} == {
        "kv1": ("h1", "running", True, f"http://{ssh_cluster.hosts['h1'].address}:{ports['kv1']}"),
        "kv2": ("h2", "running", True, f"http://{ssh_cluster.hosts['h2'].address}:{ports['kv2']}")}
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for c in shown.values():  # each server is bound to its host's address: reachable from here
        with no_proxy.open(c["url"] + "/", timeout=10) as resp:
            assert resp.status == 200

    logs = run_cli("logs", str(path), "kv1", "-n", "50")  # over ssh: the supervisor's log on h1
    assert logs.returncode == 0, logs.stderr
    assert '"GET / HTTP/1.1" 200' in logs.stdout  # the health probe, as the server logged it
    _follow_sees_a_new_request(path, ssh_cluster.hosts["h1"], ports["kv1"])

    os.killpg(shown["kv1"]["pid"], signal.SIGKILL)  # drift: a process killed on its host
    for _ in range(50):
        if not _working_in(dirs["h1"] / "stacks" / "sshpair" / "run" / "kv1"):
            break
        time.sleep(0.1)
    fixed = run_cli("up", str(path), "--yes", "--no-smoke")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "drift: kv1 stopped outside stackctl; restarting" in fixed.stdout
    assert ports["kv1"] in _listening(ssh_cluster.hosts["h1"])
    assert _working_in(dirs["h2"] / "stacks" / "sshpair" / "run" / "kv2") == pids["kv2"]  # restarted alone

    down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    for name, host in ssh_cluster.hosts.items():  # the others too: nothing of the stack anywhere
        stack_dir = dirs[name] / "stacks" / "sshpair"
        assert not stack_dir.exists(), f"{name}: {list(stack_dir.rglob('*'))[:5]}"
        assert not _working_in(stack_dir)
        assert not set(ports.values()) & _listening(host)


def _follow_sees_a_new_request(path: Path, host, port: int) -> None:
    """`logs -f` prints a line the server writes after it started following."""
    follow = subprocess.Popen([sys.executable, "-m", "stackctl.app", "logs", str(path), "kv1", "-n", "0", "-f"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2)
        subprocess.run(["ip", "netns", "exec", host.netns, "python3", "-c",
                        f"import urllib.request; urllib.request.urlopen('http://{host.address}:{port}/followed')"],
                       check=False, capture_output=True, timeout=30)
        seen, deadline = b"", time.monotonic() + 20
        while b"GET /followed" not in seen and time.monotonic() < deadline:  # select: never block past it
            if select.select([follow.stdout], [], [], 0.5)[0]:
                seen += os.read(follow.stdout.fileno(), 65536) or b""
        assert b"GET /followed" in seen, seen
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(timeout=10)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait()


def _ports(path: Path) -> dict[str, int]:
    from stackctl.workdir import Workdir

    return {inst: named["port"] for inst, named in Workdir("sshpair").load_record().ports.items()}


@pytest.mark.parametrize("case", ["unreachable", "wrong key", "host key unknown", "host key changed", "no python3",
                                  "python3 too old", "port in use", "too many gpus"])
def test_a_failed_preflight_stops_up_before_anything_changes(ssh_cluster, tmp_path, monkeypatch, fixture_catalog,
                                                              case):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path, port = tmp_path / "stack.yaml", 0
    h1 = ssh_cluster.hosts["h1"]
    if case == "unreachable":
        dirs = write_stack(ssh_cluster, path)
        nowhere = ssh_cluster.unused_address()
        path.write_text(path.read_text().replace(f"address: {h1.address},", f"address: {nowhere},"))
        want = [f"NO h1 reachable: ssh h1: cannot connect to {nowhere} port 22: No route to host (fix: ",
                f"try `ssh -p 22 root@{nowhere}` from here)"]
    elif case == "wrong key":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
        dirs = write_stack(ssh_cluster, path)
        text = path.read_text()
        line = next(x for x in text.splitlines() if x.startswith("    h1:"))
        path.write_text(text.replace(line, line.replace(str(ssh_cluster.key), str(tmp_path / "other"))))
        want = ["NO h1 authenticated:", "(fix: "]
    elif case == "host key changed":
        kh = ssh_cluster.known_hosts.read_text()
        (tmp_path / "known_hosts").write_text(kh.replace(h1.host_key, ssh_cluster.hosts["h2"].host_key))
        dirs = write_stack(ssh_cluster, path, known_hosts=tmp_path / "known_hosts")
        want = ["NO h1 host key:", "(fix: "]
    elif case == "python3 too old":
        dirs = write_stack(ssh_cluster, path, on1="oldpy")
        want = ["NO oldpy python3:", "is Python 3.8.10; components need >= 3.10 (fix: install Python >= 3.10 on oldpy"]
    elif case == "host key unknown":
        (tmp_path / "known_hosts").write_text(ssh_cluster.hosts["h2"].known_hosts_line())  # h1's key missing
        dirs = write_stack(ssh_cluster, path, known_hosts=tmp_path / "known_hosts")
        want = ["NO h1 host key:", "ssh-keyscan"]
    elif case == "no python3":
        dirs = write_stack(ssh_cluster, path, on1="nopy")
        want = ["NO nopy python3: no python3 on the PATH of ssh sessions (fix: install Python >= 3.10 on nopy"]
    elif case == "port in use":
        port = 47000 + os.getpid() % 1000
        ssh_cluster.hosts["h1"].listen(port)
        dirs = write_stack(ssh_cluster, path, extra=f", with: {{port: {port}}}")
        want = [f"NO h1 port {port}: something already listens on port {port} (fix: see what, on h1: ss -ltnp"]
    else:
        dirs = write_stack(ssh_cluster, path, on1="gpu1", extra=", gpus: 2")
        want = ["NO gpus: not enough GPUs: gpu1 asked 2, has 1 (1 x NVIDIA A100-SXM4-80GB 80 GiB) "
                "(fix: ask for fewer (gpus: N), or place those components on hosts with free GPUs (on: HOST))"]
    before = _tree(ssh_cluster.dir)
    up = run_cli("up", str(path), "--yes", "--no-smoke")
    assert up.returncode == 2, up.stdout + up.stderr
    assert "Traceback" not in up.stderr
    assert "error: preflight failed:" in up.stderr
    for line in want:
        assert line in up.stdout, f"{line!r} not in:\n{up.stdout}"
    assert "Plan:" not in up.stdout
    # nothing shipped, nothing started, on any host (a host's directory is all a stack ever writes there)
    assert {p: m for p, m in _tree(ssh_cluster.dir).items() if "stackctl" in p.parts} == {
        p: m for p, m in before.items() if "stackctl" in p.parts}
    assert not any(_working_in(d) for d in dirs.values())


def _tree(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in root.rglob("*") if not p.is_socket()}


def test_gpus_are_given_to_one_component_of_any_stack_on_the_host(ssh_cluster, tmp_path, monkeypatch,
                                                                  fixture_catalog):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    dirs = write_stack(ssh_cluster, first, on1="gpu1", extra=", gpus: 1", name="gpuone")
    write_stack(ssh_cluster, second, on1="gpu1", extra=", gpus: 1", name="gputwo")
    try:
        up = run_cli("up", str(first), "--yes", "--no-smoke")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "OK gpus: gpu1 asked 1, has 1" in up.stdout
        pid = _working_in(dirs["gpu1"] / "stacks" / "gpuone" / "run" / "kv1")[0]
        assert b"CUDA_VISIBLE_DEVICES=0\0" in Path(f"/proc/{pid}/environ").read_bytes()

        taken = run_cli("up", str(second), "--yes", "--no-smoke")  # its own check passes: 1 of 1
        assert taken.returncode != 0
        assert "gpu1: 1 GPU(s) asked, 0 free of 1; held by: " in taken.stdout + taken.stderr
        assert not _working_in(dirs["gpu1"] / "stacks" / "gputwo" / "run" / "kv1")
    finally:
        run_cli("down", str(second), "--yes")
        run_cli("down", str(first), "--yes")
    assert not list((dirs["gpu1"] / "gpus").glob("[0-9]*"))  # down gave the GPU back


def test_without_on_components_spread_over_the_hosts_in_order(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "stack.yaml"
    dirs = write_stack(ssh_cluster, path, name="spread")
    path.write_text(path.read_text().replace(", on: h1}", "}").replace(", on: h2}", "}"))
    try:
        up = run_cli("up", str(path), "--yes", "--no-smoke")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "nopy" not in up.stdout  # only the hosts that got a component are checked
        shown = json.loads(run_cli("status", str(path), "--json").stdout)["components"]
        assert {i: (c["host"], c["state"]) for i, c in shown.items()} == {"kv1": ("h1", "running"),
                                                                          "kv2": ("h2", "running")}
        lines = run_cli("status", str(path)).stdout.splitlines()
        assert any(" host " in line for line in lines[:4])  # the table names each component's host
        assert any(" kv1 " in line and " h1 " in line for line in lines)
    finally:
        down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any((d / "stacks" / "spread").exists() for d in dirs.values())



def test_smoke_probes_from_here_reach_each_hosts_address(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    """Smoke tests on: web's http probe runs on this machine against the URL each module advertises,
    the address of its own host (the server binds there, not to the host's loopback)."""
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "stack.yaml"
    write_stack(ssh_cluster, path, name="sshsmoke")
    path.write_text(path.read_text().replace("smoke: {enabled: false}", "smoke: {enabled: true}"))
    try:
        up = run_cli("up", str(path), "--yes")
        assert up.returncode == 0, up.stdout + up.stderr
        test = run_cli("test", str(path), "--json")
        assert test.returncode == 0, test.stdout + test.stderr
        report = json.loads(test.stdout)
        urls = json.loads(run_cli("status", str(path), "--json").stdout)["components"]
        assert report["passed"]
        assert {r["instance"]: (r["name"], r["status"]) for r in report["results"]} == {
            inst: (f"http GET {urls[inst]['url']}/", "passed") for inst in ("kv1", "kv2")}
        for inst, host in (("kv1", "h1"), ("kv2", "h2")):
            assert urls[inst]["url"].startswith(f"http://{ssh_cluster.hosts[host].address}:")
    finally:
        run_cli("down", str(path), "--yes")


def test_up_shows_the_step_a_start_is_at_on_its_host(ssh_cluster, tmp_path, monkeypatch, fixture_catalog):
    """The supervisor on h1 writes its step there; `up` reads it over ssh while Terraform waits on the start."""
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "stack.yaml"
    write_stack(ssh_cluster, path, extra=", with: {delay: 12}")  # past Terraform's 10s event
    try:
        up = run_cli("up", str(path), "--yes", "--no-smoke")
        assert up.returncode == 0, up.stdout + up.stderr
        address, port = ssh_cluster.hosts["h1"].address, _ports(path)["kv1"]
        assert f"kv1  waiting for http http://{address}:{port}/: " in up.stdout, up.stdout
    finally:
        run_cli("down", str(path), "--yes")
