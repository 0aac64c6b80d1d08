"""The whole pipeline on the local target, for real: up, smoke tests, outputs, status, idempotent
second up, the stack lock, two stacks side by side, drift repair, and a down that leaves nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import REPO

from stackctl.workdir import Workdir, port_is_open

pytestmark = pytest.mark.e2e


def stackctl(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        pytest.fail(f"stackctl {' '.join(args)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
                    f"{result.stderr[-4000:]}")
    return result


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for PID 1 (which reaps orphans slowly in containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _healthy(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status


def _assert_gone(pids: list[int], ports: list[int]) -> None:
    assert [p for p in pids if _alive(p)] == []
    assert [p for p in ports if port_is_open(p)] == []


def _ports(name: str) -> list[int]:
    record = Workdir(name).load_record()
    return [p for ports in record.ports.values() for p in ports.values()]


@pytest.fixture
def renamed(tmp_path):
    def _renamed(src: str, name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        text = (REPO / "stacks" / src).read_text()
        path.write_text(re.sub(r"(?m)^  name: .*$", f"  name: {name}", text, count=1))
        return path

    return _renamed


def test_default_stack_lifecycle(tmp_path, stackctl_home):
    junit = tmp_path / "smoke.xml"
    up = stackctl("up", "--yes", "--junit", str(junit))
    assert "smoke" in up.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 15 and suite.get("failures") == "0", ET.tostring(suite)[:2000]
    golden = [c for c in suite.iter("testcase") if c.get("classname") == "golden-path"]
    assert len(golden) == 1 and golden[0].find("failure") is None and golden[0].find("skipped") is None

    outputs = json.loads(stackctl("outputs", "--json").stdout)
    url = outputs["tracking"]["tracking_url"]
    assert _healthy(f"{url}/health") == 200
    assert outputs["storage"]["secret_key"] == "***"
    shown = json.loads(stackctl("outputs", "--json", "--show-secrets").stdout)
    assert shown["storage"]["secret_key"] not in ("***", "")

    status = json.loads(stackctl("status", "--json").stdout)
    assert status["state"] == "up"
    comps = status["components"]
    assert set(comps) == {"storage", "db", "kv", "features", "tracking", "serving", "monitoring"}
    assert all(c["state"] == "running" and c["pid"] and c["health"] == "ok" for c in comps.values()), comps
    assert comps["tracking"]["url"] == url
    pids = [c["pid"] for c in comps.values()]

    # secrets never appear in logs or the rendered root
    secret = shown["storage"]["secret_key"]
    workdir = Workdir("local").root
    for f in list((workdir / "logs").glob("*.log")) + [p for p in (workdir / "tf").rglob("*.tf*") if p.is_file()]:
        if f.name.endswith(".tfstate") or f.name.endswith(".tfstate.backup"):
            continue  # Terraform's state holds what Terraform holds
        assert secret not in f.read_text(errors="ignore"), f

    # a second up changes nothing and passes the smoke tests again
    again = stackctl("up", "--yes")
    assert "no changes" in again.stdout.lower(), again.stdout
    assert json.loads(stackctl("status", "--json").stdout)["components"]["tracking"]["pid"] == comps["tracking"]["pid"]

    # a stack being changed is locked: a concurrent up fails fast with a clear message
    with Workdir("local").lock("test"):
        started = time.monotonic()
        locked = stackctl("up", "--yes", check=False)
        assert locked.returncode == 1
        assert "stack 'local' is being changed right now by pid" in locked.stderr
        assert time.monotonic() - started < 30

    logs = stackctl("logs", "local", "tracking", "-n", "5", "--json")
    assert len(json.loads(logs.stdout)["lines"]) == 5
    typo = stackctl("logs", "local", "trackin", check=False)
    assert typo.returncode == 2 and "did you mean tracking?" in typo.stderr

    ports = _ports("local")
    down = stackctl("down", "--yes")
    assert "no process left, every port closed" in down.stdout
    _assert_gone(pids, ports)
    assert not workdir.exists()
    assert json.loads(stackctl("ls", "--json").stdout) == []


def test_drift_is_detected_and_repaired(renamed, stackctl_home):
    path = renamed("minimal.yaml", "drift")
    stackctl("up", str(path), "--yes", "--no-smoke")
    status = json.loads(stackctl("status", str(path), "--json").stdout)
    victim = status["components"]["tracking"]["pid"]
    os.killpg(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _alive(victim) and time.monotonic() < deadline:
        time.sleep(0.2)

    failed = stackctl("test", str(path), check=False)
    assert failed.returncode == 1
    assert "tracking" in failed.stdout + failed.stderr

    repaired = stackctl("up", str(path), "--yes")
    assert "drift: tracking stopped outside stackctl; restarting" in repaired.stdout
    after = json.loads(stackctl("status", str(path), "--json").stdout)["components"]
    assert after["tracking"]["state"] == "running" and after["tracking"]["pid"] != victim
    assert after["storage"]["pid"] == status["components"]["storage"]["pid"]  # untouched
    stackctl("down", str(path), "--yes")


def test_a_component_is_judged_and_replaced_as_one(renamed, stackctl_home):
    """kill -9 of MLflow's main process leaves its uvicorn worker serving the port: that is not running."""
    path = renamed("minimal.yaml", "asone")
    stackctl("up", str(path), "--yes", "--no-smoke")
    tracking = json.loads(stackctl("status", str(path), "--json").stdout)["components"]["tracking"]
    port = int(tracking["url"].rsplit(":", 1)[1])
    os.kill(tracking["pid"], signal.SIGKILL)  # the main process alone, not its group
    deadline = time.monotonic() + 15
    while _alive(tracking["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert port_is_open(port), "the premise: a worker of the group still holds the port"

    broken = json.loads(stackctl("status", str(path), "--json").stdout)["components"]["tracking"]
    assert broken["state"] == "broken" and broken["left"], broken
    assert f"its main process {tracking['pid']} is gone" in broken["health"]
    failed = stackctl("test", str(path), check=False)
    assert failed.returncode == 1
    assert "not running: its main process" in failed.stdout

    repaired = stackctl("up", str(path), "--yes")
    assert "drift: tracking stopped outside stackctl; restarting" in repaired.stdout
    after = json.loads(stackctl("status", str(path), "--json").stdout)["components"]["tracking"]
    assert after["state"] == "running" and after["health"] == "ok" and after["pid"] != tracking["pid"]
    assert [p for p in broken["left"] if _alive(p)] == []
    stackctl("down", str(path), "--yes")
    assert not port_is_open(port)


def test_two_stacks_side_by_side(renamed, stackctl_home):
    a, b = renamed("minimal.yaml", "side-a"), renamed("minimal.yaml", "side-b")
    procs = [subprocess.Popen([sys.executable, "-m", "stackctl.app", "up", str(p), "--yes"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL) for p in (a, b)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    urls = [json.loads(stackctl("outputs", str(p), "--json").stdout)["tracking"]["tracking_url"] for p in (a, b)]
    assert urls[0] != urls[1]
    assert [_healthy(f"{u}/health") for u in urls] == [200, 200]
    assert {r["name"] for r in json.loads(stackctl("ls", "--json").stdout)} == {"side-a", "side-b"}

    ports_b = _ports("side-b")
    stackctl("down", str(a), "--yes")
    assert _healthy(f"{urls[1]}/health") == 200  # b is untouched by a's down
    assert all(port_is_open(p) for p in ports_b)
    stackctl("down", str(b), "--yes")
    _assert_gone([], ports_b)


def test_local_postgres_stack(tmp_path, stackctl_home):
    up = stackctl("up", "local-postgres", "--yes", "--json")
    assert json.loads(up.stdout)["state"] == "up"
    smoke = json.loads(up.stdout)["smoke"]
    assert smoke and all(r["status"] == "passed" for r in smoke), smoke
    status = json.loads(stackctl("status", "local-postgres", "--json").stdout)["components"]
    assert set(status) == {"storage", "db", "tracking"}
    pids = [c["pid"] for c in status.values()]
    ports = _ports("local-postgres")
    stackctl("down", "local-postgres", "--yes")
    _assert_gone(pids, ports)


def test_interrupted_up_tells_how_to_finish_and_down_cleans_up(renamed, stackctl_home):
    """Ctrl-C during apply: exit 130, state consistent, the message says how to finish or roll back."""
    path = renamed("minimal.yaml", "interrupted")
    proc = subprocess.Popen([sys.executable, "-m", "stackctl.app", "up", str(path), "--yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    seen = []
    for line in proc.stdout:  # wait until Terraform is starting the first server
        seen.append(line)
        if "storage" in line and ("creating" in line or "starting" in line):
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends to stackctl
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen) + out + err
    assert "stackctl up" in err and "stackctl down" in err, err

    # the lock is free and the state is usable: finishing works, and so does rolling back
    status = json.loads(stackctl("status", str(path), "--json").stdout)
    assert status["state"] == "interrupted"  # never left `applying`
    assert status["note"].startswith("`stackctl up` was interrupted while applying; run `stackctl up ")
    ports = _ports("interrupted")
    stackctl("down", str(path), "--yes")
    assert not Workdir("interrupted").root.exists()
    _assert_gone([], ports)
