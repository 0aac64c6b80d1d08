"""An error of stackctl's runtime (here: a component environment that cannot be built) is one clear
screen with the component and the fix, exits with the runtime family's code, shows no traceback, and
leaves a record that says how to finish or roll back; in-process (`stackctl up`) and from
`python -m stackctl.runtime`, as Terraform's provisioners run it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from tests.conftest import run_cli

from stackctl.errors import RuntimeFailure
from stackctl.workdir import Workdir

pytestmark = pytest.mark.e2e

MISSING = "stackctl-test-no-such-package-4b1e==0.0.1"  # tests/fixtures/catalog/unbuildable
STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: unbuilt}
target: {kind: local}
components:
  tool: {use: unbuildable}
"""


@pytest.mark.timeout(300)
def test_an_environment_that_cannot_be_built_fails_up_with_one_clear_error(write, fixture_catalog):
    manifest = str(write(STACK))
    try:
        up = run_cli("up", manifest, "--yes")
        out = up.stdout + up.stderr
        assert up.returncode == RuntimeFailure.exit_code == 3, out
        assert "Traceback" not in out and "  File " not in out
        error = up.stderr[up.stderr.index("error: "):]
        assert error.startswith("error: the environment of tool (unbuildable) could not be built: ")
        assert "pip install failed" in error and MISSING.split("==")[0] in error  # uv's (or pip's) own reason
        assert (f"fix: check runtime.requirements in {fixture_catalog / 'unbuildable' / 'component.yaml'}" in error
                and f"then run `stackctl up {manifest}` to finish, or `stackctl down {manifest}` to roll back" in error)
        assert len(error.splitlines()) <= 20  # one screen
        record = Workdir("unbuilt").load_record()
        assert record.state == "failed" and "while building component environments" in record.note
        assert f"`stackctl up {manifest}` to finish, or `stackctl down {manifest}` to roll back" in record.note
        status = run_cli("status", manifest, "--json")
        assert json.loads(status.stdout)["state"] == "failed" and "to roll back" in json.loads(status.stdout)["note"]
    finally:
        down = run_cli("down", manifest, "--yes")
    assert down.returncode == 0, down.stdout + down.stderr  # the roll back the record names works
    assert not Workdir("unbuilt").root.exists()


@pytest.mark.timeout(300)
def test_the_runtime_command_prints_one_message_with_its_fix_and_no_traceback():
    env = subprocess.run([sys.executable, "-m", "stackctl.runtime", "env", json.dumps([MISSING])],
                         capture_output=True, text=True, timeout=240)
    assert env.returncode == 1 and "Traceback" not in env.stderr, env.stderr
    assert "stackctl.runtime env: " in env.stderr and "pip install failed" in env.stderr
    assert "\n  fix: check the component's runtime.requirements" in env.stderr
    bad = subprocess.run([sys.executable, "-m", "stackctl.runtime", "start", "{not json"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("stackctl.runtime start: bad argument: the spec is not valid JSON")
    assert "\n  fix: the spec comes from the component's Terraform module" in bad.stderr


@pytest.mark.timeout(300)
def test_a_runtime_error_inside_a_provisioner_is_shown_as_the_runtime_said_it(write, fixture_catalog):
    """The supervisor, run by Terraform's local-exec, cannot start: stackctl shows its message and fix,
    not the JSON spec Terraform quotes as the command."""
    holder = socket.create_server(("127.0.0.1", 0))  # another process's port, as far as the stack knows
    port = holder.getsockname()[1]
    manifest = str(write(f"{STACK.replace('unbuilt', 'busy').split('components:')[0]}components:\n"
                         f"  web: {{use: sleeper, with: {{port: {port}}}}}\n"))
    try:
        up = run_cli("up", manifest, "--yes")
        assert up.returncode == 1 and "Traceback" not in up.stdout + up.stderr, up.stderr
        error = up.stderr[up.stderr.index("error: "):]
        assert error.splitlines()[:4] == [
            "error: terraform apply failed (exit 1):",
            "  local-exec provisioner error [module.web.terraform_data.this] (modules/sleeper/main.tf:18):",
            f"    stackctl.runtime start: web: port(s) {port} already in use by another process",
            f"      fix: stop it (`ss -ltnp 'sport = :{port}'` names it), or give the component other ports in the "
            "manifest"], error
        assert "Error running command" not in error and '"argv"' not in error
        assert Workdir("busy").load_record().state == "failed"
    finally:
        holder.close()
        down = run_cli("down", manifest, "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
