"""The ssh target's manifest: hosts, `on:` and `gpus:`, placement, and the render of its example stack."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.conftest import REPO, run_cli

from stackctl.targets.ssh.placement import Ask, gpus_asked, needs_gpu_facts, place

SSH = """\
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: demo
target:
  kind: ssh
  hosts:
    gpu1: {address: 10.0.0.11, user: root}
    cpu1: {address: 10.0.0.12, port: 2222}
components:
  storage:
    use: store
    on: cpu1
  tracking:
    use: tracker
"""


def _fails(path, *expected: str):
    result = run_cli("validate", str(path))
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    for line in expected:
        assert line in result.stderr, f"{line!r} not in:\n{result.stderr}"
    return result.stderr


def test_an_ssh_stack_is_valid(write, fixture_catalog):
    result = run_cli("validate", str(write(SSH)))
    assert result.returncode == 0, result.stderr
    assert "stack demo, 2 components" in result.stdout


def test_on_naming_no_host_suggests_one(write, fixture_catalog):
    _fails(write(SSH.replace("on: cpu1", "on: cpu2")),
           "stack.yaml:13 components.storage.on: no host named 'cpu2' under target.hosts",
           "fix: did you mean cpu1?")


def test_on_under_local_says_it_is_for_ssh(write, fixture_catalog):
    text = SSH.replace("  kind: ssh\n  hosts:\n    gpu1: {address: 10.0.0.11, user: root}\n"
                       "    cpu1: {address: 10.0.0.12, port: 2222}\n", "  kind: local\n")
    _fails(write(text), "stack.yaml:10 components.storage.on: kind local has no hosts to place storage on "
           "(on: is for the ssh target)", "fix: remove `on: cpu1`, or set target.kind: ssh with hosts")


def test_a_field_of_another_target_is_named(write, fixture_catalog):
    _fails(write(SSH.replace("  hosts:\n", "  region: us-east-1\n  hosts:\n", 1)),
           "stack.yaml:7 target.region: kind ssh takes no field region (it is an aws field)",
           "fix: remove it or set kind: aws")


def test_host_fields_are_strict_and_typed(write, fixture_catalog):
    err = _fails(write(SSH.replace("port: 2222", "prot: 2222").replace("user: root", "user: root, port: 0")),
                 "stack.yaml:8 target.hosts.gpu1.port:", "stack.yaml:9 target.hosts.cpu1.prot:")
    assert "did you mean port?" in err


def test_ssh_needs_hosts(write, fixture_catalog):
    _fails(write(SSH.replace("  hosts:\n    gpu1: {address: 10.0.0.11, user: root}\n"
                             "    cpu1: {address: 10.0.0.12, port: 2222}\n", "")
                 .replace("    on: cpu1\n", "")), "target.hosts")


def test_gpus_must_not_be_negative(write, fixture_catalog):
    _fails(write(SSH.replace("    on: cpu1\n", "    on: cpu1\n    gpus: -1\n")),
           "stack.yaml:14 components.storage.gpus:")


# ---- placement (the rule in placement.py's docstring) ----

def test_on_wins_and_the_rest_balance_in_host_order():
    asks = {"a": Ask(on="h2"), "b": Ask(), "c": Ask(), "d": Ask()}
    assert place(asks, ["h1", "h2", "h3"]) == {"a": "h2", "b": "h1", "c": "h3", "d": "h1"}


def test_gpu_askers_go_where_gpus_are_free():
    asks = {"web": Ask(), "train": Ask(gpus=2), "serve": Ask(gpus=1), "pinned": Ask(on="big", gpus=3)}
    assert needs_gpu_facts(asks)
    got = place(asks, ["cpu", "small", "big"], {"cpu": 0, "small": 2, "big": 4})
    # big has 1 free after `pinned`: train (2) only fits on small; serve then fits only on big
    assert got == {"web": "cpu", "train": "small", "serve": "big", "pinned": "big"}
    assert gpus_asked(asks, got) == {"small": 2, "big": 4}


def test_a_gpu_ask_no_host_can_give_lands_where_most_are_free():
    got = place({"x": Ask(gpus=8)}, ["a", "b"], {"a": 1, "b": 2})
    assert got == {"x": "b"}  # the GPU check then says: b asked 8, has 2


def test_placement_without_gpu_askers_needs_no_facts():
    asks = {"a": Ask(), "b": Ask(on="h1", gpus=1)}
    assert not needs_gpu_facts(asks)
    assert place(asks, ["h1", "h2"]) == {"a": "h2", "b": "h1"}


# ---- render of the example stack ----

@pytest.fixture
def onprem(tmp_path, stackctl_home):
    out = tmp_path / "root"
    result = run_cli("render", str(REPO / "stacks" / "onprem-gpu.yaml"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_onprem_renders_the_local_modules_per_host(onprem):
    runtime = json.loads((onprem / "terraform.tfvars.json").read_text())["runtime"]
    assert {i: (r["host"], r["address"]) for i, r in runtime.items()} == {
        "storage": ("cpu1", "10.0.0.12"), "db": ("cpu1", "10.0.0.12"), "tracking": ("cpu1", "10.0.0.12"),
        "kv": ("cpu2", "10.0.0.13"), "features": ("cpu2", "10.0.0.13"), "monitoring": ("cpu2", "10.0.0.13"),
        "serving": ("gpu1", "10.0.0.11")}
    assert runtime["serving"]["run_dir"] == "stacks/onprem-gpu/run/serving"  # under the host's directory
    assert runtime["serving"]["launcher"][1:3] == ["-m", "stackctl.targets.ssh"]
    assert (onprem / "modules" / "mlserver" / "main.tf").exists()  # the local module, the same one
    assert 'source = "./modules/mlserver"' in (onprem / "main.tf").read_text()


def test_onprem_root_validates(onprem):
    init = subprocess.run(["terraform", f"-chdir={onprem}", "init", "-backend=false", "-input=false", "-no-color"],
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    check = subprocess.run(["terraform", f"-chdir={onprem}", "validate", "-no-color"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout


def test_init_writes_an_ssh_starter_that_validates(tmp_path, monkeypatch, stackctl_home):
    monkeypatch.chdir(tmp_path)
    made = run_cli("init", "--target", "ssh")
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "stack.yaml").read_text()
    assert "  kind: ssh " in text and "    on: cpu1\n" in text
    valid = run_cli("validate", "stack.yaml")
    assert valid.returncode == 0, valid.stderr
    assert "2 components" in valid.stdout
