"""A changed component restarts on the next `up`: its old process stops, a new one runs the new spec.

Real Redis through stackctl; the change is its port, given in the manifest. Before the process module
replaced its resource on a changed launch, Terraform updated the spec in place and ran no provisioner:
the old server went on serving the old port while the state claimed the new one.
"""

from __future__ import annotations

import pytest
from tests.e2e.test_killed_runs import alive, server_pid, stackctl

from stackctl.workdir import Workdir, allocate_ports, port_is_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: changing}}
target: {{kind: local}}
components:
  kv: {{use: redis{port}}}
"""


def test_a_changed_port_restarts_the_server_on_it(write):
    path = write(STACK.format(port=""))
    stackctl("up", str(path), "--yes", "--no-smoke")
    wd = Workdir("changing")
    try:
        old_pid, old_port = server_pid(wd, "kv"), wd.load_record().ports["kv"]["port"]
        assert alive(old_pid) and port_is_open(old_port)

        (new_port,) = allocate_ports(1)
        write(STACK.format(port=f", with: {{port: {new_port}}}"))
        again = stackctl("up", str(path), "--yes", "--no-smoke")
        assert "1 to add, 0 to change, 1 to destroy" in again.stdout, again.stdout

        new_pid = server_pid(wd, "kv")
        assert new_pid != old_pid and alive(new_pid) and not alive(old_pid)
        assert port_is_open(new_port) and not port_is_open(old_port)
        assert "No changes" in stackctl("up", str(path), "--yes", "--no-smoke").stdout
    finally:
        stackctl("down", str(path), "--yes", check=False)
