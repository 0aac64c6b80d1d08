"""`down` stops every local server at once, alongside Terraform's destroy, not in its order.

The fixture `sleeper` sleeps $SLEEPER_DOWN_DELAY seconds in a destroy-time provisioner before its own
stop provisioner runs. Stopping only when Terraform's destroy reaches each server would keep both
servers up for that long; stopping them all at once has them gone in a second or two, while
Terraform is still destroying. Both servers are real (python -m http.server under the supervisor).
"""

from __future__ import annotations

import time

import pytest
from tests.e2e.test_killed_runs import alive, server_pid, stackctl, start, wait_until

from stackctl.workdir import Workdir, port_is_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: twoservers}
target: {kind: local}
components:
  first: {use: sleeper}
  second: {use: sleeper}
"""
DOWN_DELAY = 10  # seconds Terraform spends in each destroy before it would reach the stop


def test_down_stops_every_server_while_terraform_is_still_destroying(write, fixture_catalog):
    path = write(STACK)
    stackctl("up", str(path), "--yes", "--no-smoke")
    wd = Workdir("twoservers")
    pids = [server_pid(wd, inst) for inst in ("first", "second")]
    ports = [p for inst in ("first", "second") for p in wd.load_record().ports[inst].values()]
    assert all(pids) and all(alive(p) for p in pids) and all(port_is_open(p) for p in ports)

    proc, _lines = start("down", str(path), "--yes", env={"SLEEPER_DOWN_DELAY": str(DOWN_DELAY)})
    try:
        began = time.monotonic()
        wait_until(lambda: not any(alive(p) for p in pids), DOWN_DELAY / 2, "both servers to stop")
        took = time.monotonic() - began
        assert proc.poll() is None, "down finished before its destroy provisioners' sleep: the test proves nothing"
        assert not any(port_is_open(p) for p in ports)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            stackctl("down", str(path), "--yes", check=False)
    assert took < DOWN_DELAY / 2 and not wd.root.exists()
