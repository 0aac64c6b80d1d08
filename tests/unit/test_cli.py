"""The CLI surface: help with examples, exit codes, init, catalog, --json."""

from __future__ import annotations

import json

import pytest
from tests.conftest import run_cli

COMMANDS = ["init", "catalog", "validate", "graph", "render", "check", "plan", "up", "status", "outputs", "test",
            "down", "reap", "ls", "logs", "version", "schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout, result.stdout


def test_no_arguments_shows_help():
    result = run_cli()
    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_usage_error():
    result = run_cli("upp")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_init_scaffolds_a_valid_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "demo", "-o", "demo.yaml")
    assert result.returncode == 0, result.stderr
    assert "name: demo" in (tmp_path / "demo.yaml").read_text()
    assert run_cli("validate", "demo.yaml").returncode == 0
    again = run_cli("init", "demo", "-o", "demo.yaml")
    assert again.returncode == 2
    assert "demo.yaml already exists" in again.stderr
    assert "--force" in again.stderr


def test_init_for_aws_scaffolds_a_valid_aws_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "demo", "-o", "aws.yaml", "--target", "aws").returncode == 0
    result = run_cli("validate", "aws.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert '"target": "aws"' in result.stdout and '"order": [\n    "infra",\n    "tracking"\n  ]' in result.stdout
    unknown = run_cli("init", "demo", "-o", "gcp.yaml", "--target", "gcp")
    assert unknown.returncode == 2 and "use one of: local, aws" in unknown.stderr


def test_init_rejects_bad_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "Bad_Name")
    assert result.returncode == 2
    assert "'Bad_Name' is not a valid stack name" in result.stderr


def test_catalog_json_lists_components_and_targets():
    result = run_cli("catalog", "--json")
    assert result.returncode == 0, result.stderr
    rows = {c["name"]: c for c in json.loads(result.stdout)}
    assert rows["mlflow"]["provides"] == ["experiment_tracking", "model_registry"]
    assert rows["mlflow"]["requires"] == {"object_store": {"optional": False}, "database": {"optional": True}}
    assert "local" in rows["seaweedfs"]["targets"]


def test_catalog_table():
    result = run_cli("catalog")
    assert result.returncode == 0
    assert "mlflow" in result.stdout and "seaweedfs" in result.stdout


def test_bundled_stacks_validate():
    for name in ("local", "minimal", "local-postgres"):
        result = run_cli("validate", name)
        assert result.returncode == 0, result.stderr


def test_default_stack_is_local():
    result = run_cli("validate", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stack"] == "local"


def test_unknown_stack_reference():
    result = run_cli("status", "no-such-stack")
    assert result.returncode == 2
    assert "no such manifest file, and no stack of that name is up" in result.stderr


def test_outputs_of_a_stack_never_up(write, fixture_catalog):
    path = write("apiVersion: stackctl/v1\nkind: Stack\nmetadata: {name: x}\ntarget: {kind: local}\n"
                 "components:\n  s: {use: store}\n")
    result = run_cli("outputs", str(path))
    assert result.returncode == 2
    assert "stack x has not been brought up" in result.stderr


def test_down_of_absent_stack_is_a_no_op(write, fixture_catalog):
    path = write("apiVersion: stackctl/v1\nkind: Stack\nmetadata: {name: x}\ntarget: {kind: local}\n"
                 "components:\n  s: {use: store}\n")
    result = run_cli("down", str(path), "--yes")
    assert result.returncode == 0, result.stderr
    assert "stack x is not up" in result.stdout


def test_ls_empty():
    result = run_cli("ls", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def test_version_says_which_terraform_commands_would_use(tmp_path):
    import shutil

    from stackctl import __version__

    bare = {"PATH": str(tmp_path), "STACKCTL_TF_BINARY": "", "STACKCTL_NO_EMBEDDED_TF": "1"}
    missing = run_cli("version", env=bare)
    assert missing.returncode == 2 and missing.stdout.splitlines()[0] == f"stackctl {__version__}"
    assert "terraform: neither terraform nor tofu was found on PATH" in missing.stdout
    assert json.loads(run_cli("version", "--json", env=bare).stdout)["terraform"] is None

    binary = shutil.which("terraform") or shutil.which("tofu")
    if binary:
        found = run_cli("version", "--json", "--tf-binary", binary)
        assert found.returncode == 0, found.stderr
        info = json.loads(found.stdout)
        assert info["stackctl"] == __version__ and info["terraform_error"] is None
        assert info["terraform"]["kind"] == "binary" and info["terraform"]["path"] == binary
        assert f" at {binary}" in run_cli("version", "--tf-binary", binary).stdout
