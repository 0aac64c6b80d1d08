"""The real components across ssh hosts: the default platform (stacks/onprem-gpu.yaml, placed by `on:`)
on three hosts with the golden path, and the minimal stack on two hosts placed by the rule.

The hosts are sshd servers in network namespaces with no route out (tests/sshhosts.py), and Debian's
python3 (3.11.2, older than this machine's): every component's environment is built there offline from
the wheelhouse stackctl shipped. gpu1's `nvidia-smi` is a stand-in (no GPU exists here): serving's
`gpus: 1` must reach its process as CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import REPO, run_cli
from tests.e2e.test_ssh_target import _listening, _working_in
from tests.sshhosts import HostSpec

pytestmark = pytest.mark.e2e

A100 = "0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03"
SSH_HOSTS = {"gpu1": HostSpec(gpus=[A100]), "cpu1": HostSpec(), "cpu2": HostSpec()}


def hosts_section(cluster, names: list[str]) -> tuple[str, dict[str, Path]]:
    dirs = {n: cluster.dir / n / "stackctl" for n in names}
    lines = "".join(f"    {n}: {{address: {cluster.hosts[n].address}, user: root, identity_file: {cluster.key}, "
                    f"directory: {dirs[n]}}}\n" for n in names)
    return f"target:\n  kind: ssh\n  known_hosts: {cluster.known_hosts}\n  hosts:\n{lines}", dirs


def on_the_cluster(cluster, src: Path, dest: Path, name: str, hosts: list[str]) -> dict[str, Path]:
    """`src`'s stack with its target replaced by the test hosts (everything else as shipped)."""
    section, dirs = hosts_section(cluster, hosts)
    text = re.sub(r"(?ms)^target:\n.*?(?=^components:)", section, src.read_text(), count=1)
    dest.write_text(re.sub(r"(?m)^  name: .*$", f"  name: {name}", text, count=1))
    return dirs


def nothing_left(cluster, dirs: dict[str, Path], name: str, ports: list[int]) -> None:
    for host, d in dirs.items():
        stack_dir = d / "stacks" / name
        assert not stack_dir.exists(), f"{host}: {list(stack_dir.rglob('*'))[:5]}"
        assert not _working_in(stack_dir)
        assert not set(ports) & _listening(cluster.hosts[host])


def stack_ports(name: str) -> list[int]:
    from stackctl.workdir import Workdir

    return [p for named in Workdir(name).load_record().ports.values() for p in named.values()]


def test_default_platform_on_three_hosts_passes_the_golden_path(ssh_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "onprem.yaml"
    dirs = on_the_cluster(ssh_cluster, REPO / "stacks" / "onprem-gpu.yaml", path, "onprem", ["gpu1", "cpu1", "cpu2"])
    junit = tmp_path / "smoke.xml"
    ports: list[int] = []
    try:
        up = run_cli("up", str(path), "--yes", "--junit", str(junit))
        assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
        ports = stack_ports("onprem")
        suite = ET.parse(junit).getroot().find("testsuite")
        assert int(suite.get("tests")) >= 15 and suite.get("failures") == "0", ET.tostring(suite)[:3000]
        golden = [c for c in suite.iter("testcase") if c.get("classname") == "golden-path"]
        assert len(golden) == 1 and golden[0].find("failure") is None and golden[0].find("skipped") is None

        status = json.loads(run_cli("status", str(path), "--json").stdout)["components"]
        placed = {"storage": "cpu1", "db": "cpu1", "tracking": "cpu1", "kv": "cpu2", "features": "cpu2",
                  "monitoring": "cpu2", "serving": "gpu1"}
        assert {i: (c["host"], c["state"], c["health"]) for i, c in status.items()} == {
            i: (h, "running", "ok") for i, h in placed.items()}
        for inst, host in placed.items():  # each server runs on its host, under that host's directory
            assert _working_in(dirs[host] / "stacks" / "onprem" / "run" / inst), inst
        outputs = json.loads(run_cli("outputs", str(path), "--json").stdout)
        # wired across hosts: MLflow (cpu1) and the serving (gpu1) reach storage on cpu1 by its address
        assert ssh_cluster.hosts["cpu1"].address in outputs["storage"]["s3_endpoint"]
        assert ssh_cluster.hosts["cpu1"].address in outputs["tracking"]["tracking_url"]
        pid = _working_in(dirs["gpu1"] / "stacks" / "onprem" / "run" / "serving")[0]
        assert b"CUDA_VISIBLE_DEVICES=0\0" in Path(f"/proc/{pid}/environ").read_bytes()

        again = run_cli("up", str(path), "--yes", "--no-smoke")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "No changes: the stack already matches its manifest." in again.stdout
    finally:
        down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    nothing_left(ssh_cluster, dirs, "onprem", ports)


def test_minimal_stack_on_two_hosts_without_on(ssh_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "minimal.yaml"
    dirs = on_the_cluster(ssh_cluster, REPO / "stacks" / "minimal.yaml", path, "minimal2", ["cpu1", "cpu2"])
    ports: list[int] = []
    try:
        junit = tmp_path / "smoke.xml"
        up = run_cli("up", str(path), "--yes", "--junit", str(junit))
        assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
        ports = stack_ports("minimal2")
        suite = ET.parse(junit).getroot().find("testsuite")
        assert int(suite.get("tests")) >= 4 and suite.get("failures") == "0", ET.tostring(suite)[:3000]
        status = json.loads(run_cli("status", str(path), "--json").stdout)["components"]
        # the rule: each component to the host with the fewest so far, ties to the one listed first
        assert {i: (c["host"], c["state"]) for i, c in status.items()} == {"storage": ("cpu1", "running"),
                                                                          "tracking": ("cpu2", "running")}
        test = run_cli("test", str(path), "--json")
        assert test.returncode == 0 and json.loads(test.stdout)["passed"], test.stdout[-3000:]
    finally:
        down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    nothing_left(ssh_cluster, dirs, "minimal2", ports)
