"""A broken stack record, or a folder named like a stack, must not break stackctl for every stack."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.unit.test_lifecycle import STACK

from stackctl.workdir import Workdir


def _up(write, name: str):
    path = write(STACK.replace("name: life}", f"name: {name}, ttl: 8h}}"), f"{name}.yaml")
    up = run_cli("up", str(path), "--yes", "--no-smoke")
    assert up.returncode == 0, up.stderr
    return path


def test_truncated_record_is_named_and_the_other_stacks_are_unaffected(write, fixture_catalog):
    good, bad = _up(write, "good"), _up(write, "bad")
    record = Workdir("bad").record_path
    ports = json.loads(record.read_text())["ports"]
    record.write_text(record.read_text()[:40])  # truncated, as a full disk or a kill mid-write leaves it

    listed = run_cli("ls")
    assert listed.returncode == 0, listed.stderr
    assert "good" in listed.stdout and "unreadable" in listed.stdout
    assert "the record of stack bad" in listed.stdout and "Traceback" not in listed.stdout + listed.stderr
    as_json = {r["name"]: r for r in json.loads(run_cli("ls", "--json").stdout)}
    assert as_json["good"]["state"] == "up" and as_json["bad"]["state"] == "unreadable"
    assert "stackctl up MANIFEST" in as_json["bad"]["fix"]

    status = run_cli("status", "bad")
    assert status.returncode == 2 and "Traceback" not in status.stderr
    assert "the record of stack bad" in status.stderr and "is unreadable" in status.stderr
    assert "fix: run `stackctl up MANIFEST`" in status.stderr

    reap = run_cli("reap", "--dry-run", "--json")  # cron must see the others, and be told about this one
    assert reap.returncode == 1 and "Traceback" not in reap.stderr
    assert json.loads(reap.stdout)["bad"].startswith("failed: the record of stack bad")
    assert run_cli("status", "good").returncode == 0

    down = run_cli("down", str(bad), "--yes")  # rebuilt from the manifest and the state, then destroyed
    assert down.returncode == 0, down.stderr
    assert "rebuilt it from the manifest and the Terraform state" in down.stdout
    assert "stack bad destroyed" in down.stdout
    assert not Workdir("bad").root.exists()
    assert ports  # what the rebuilt record took from the rendered root, below
    assert run_cli("down", str(good), "--yes").returncode == 0


def test_rebuilt_record_keeps_the_rendered_ports(write, fixture_catalog):
    path = _up(write, "ports")
    wd = Workdir("ports")
    before = json.loads(wd.record_path.read_text())
    wd.record_path.write_bytes(b"\x00\xff not json")
    again = run_cli("up", str(path), "--yes", "--no-smoke")
    assert again.returncode == 0, again.stderr
    assert "warning: the record of stack ports" in again.stdout
    assert "No changes: the stack already matches its manifest." in again.stdout  # same ports, same root
    after = wd.load_record()
    assert after.ports == before["ports"] and after.state == "up"
    assert set(after.components) == {"storage", "tracking", "serving"}
    assert (wd.root / "stack.json.bad").read_bytes() == b"\x00\xff not json"
    assert run_cli("down", str(path), "--yes").returncode == 0


def test_a_folder_named_like_the_stack_is_not_taken_for_a_manifest(write, fixture_catalog, tmp_path):
    path = _up(write, "named")
    (tmp_path / "named").mkdir()  # the test's cwd: `stackctl status named` must find the stack, not the folder
    status = run_cli("status", "named", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "up"
    assert run_cli("down", str(path), "--yes").returncode == 0
