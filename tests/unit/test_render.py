"""Render: a self-contained root that passes terraform fmt/validate, golden files, values only in tfvars."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import REPO, run_cli, terraform_command

GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("STACKCTL_UPDATE_GOLDEN") == "1"  # STACKCTL_UPDATE_GOLDEN=1 pytest ... rewrites them

MANIFEST = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: golden}
target: {kind: local}
components:
  storage: {use: store, with: {port: 19000}}
  tracking:
    use: tracker
    with: {port: 19001, workers: 3, greeting: "${path.cwd} %{if true}x%{endif} \\"quoted\\""}
  serving:
    use: server
    with: {port: 19002}
    depends_on: [tracking]
"""


def _tf(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*terraform_command(), f"-chdir={root}", *args, "-no-color"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_IN_AUTOMATION": "1"})


@pytest.fixture
def rendered(write, fixture_catalog, tmp_path) -> Path:
    path = write(MANIFEST)
    out = tmp_path / "root"
    result = run_cli("render", str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_matches_golden_files(rendered):
    golden = GOLDEN / "local-three-components"
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        got = (rendered / name).read_text()
        if UPDATE:
            golden.mkdir(parents=True, exist_ok=True)
            (golden / name).write_text(got)
        assert got == (golden / name).read_text(), f"{name} differs from golden (STACKCTL_UPDATE_GOLDEN=1 updates)"


def test_tfvars_hold_literal_values_and_no_secrets(rendered, stackctl_home):
    tfvars = json.loads((rendered / "terraform.tfvars.json").read_text())
    assert tfvars["tracking__workers"] == 3
    assert tfvars["storage__port"] == 19000
    assert tfvars["serving__replicas"] == 1  # contract default, written out explicitly
    assert "storage__secret_key" not in tfvars
    generated = json.loads((stackctl_home / "secrets" / "golden.json").read_text())
    assert set(generated) == {"storage.access_key", "storage.secret_key"}
    assert oct((stackctl_home / "secrets" / "golden.json").stat().st_mode & 0o777) == "0o600"
    for secret in generated.values():
        for file in rendered.rglob("*"):
            if file.is_file():
                assert secret not in file.read_text(errors="ignore"), file


def test_modules_are_copied_in(rendered):
    assert (rendered / "modules" / "store" / "main.tf").is_file()
    assert (rendered / "modules" / "tracker" / "variables.tf").is_file()
    assert 'source = "./modules/tracker"' in (rendered / "main.tf").read_text()


def test_root_passes_fmt_and_validate(rendered):
    fmt = _tf(rendered, "fmt", "-check", "-recursive")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert _tf(rendered, "init", "-input=false").returncode == 0
    validate = _tf(rendered, "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_user_values_are_never_interpolated(rendered, stackctl_home):
    """A value containing ${...} and %{...} reaches the module verbatim: tfvars hold literals only."""
    secrets = json.loads((stackctl_home / "secrets" / "golden.json").read_text())
    env = {"TF_VAR_storage__access_key": secrets["storage.access_key"],
           "TF_VAR_storage__secret_key": secrets["storage.secret_key"], "TF_VAR_tracking__api_key": ""}
    assert _tf(rendered, "init", "-input=false").returncode == 0
    plan = subprocess.run([*terraform_command(), f"-chdir={rendered}", "plan", "-input=false", "-out=p", "-no-color"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert plan.returncode == 0, plan.stderr
    show = json.loads(_tf(rendered, "show", "-json", "p").stdout)
    tracker = next(r for r in show["resource_changes"] if r["address"] == "module.tracking.terraform_data.this")
    assert tracker["change"]["after"]["input"]["greeting"] == '${path.cwd} %{if true}x%{endif} "quoted"'


def test_render_into_workdir_by_default(write, fixture_catalog, stackctl_home):
    result = run_cli("render", str(write(MANIFEST)), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["root"] == str(stackctl_home / "stacks" / "golden" / "tf")
    assert data["secret_variables"] == ["TF_VAR_storage__access_key", "TF_VAR_storage__secret_key",
                                        "TF_VAR_tracking__api_key"]


def test_ports_are_allocated_once_and_kept(write, fixture_catalog, stackctl_home):
    path = write(MANIFEST.replace(", with: {port: 19000}", ""))
    assert run_cli("render", str(path)).returncode == 0
    tfvars_file = stackctl_home / "stacks" / "golden" / "tf" / "terraform.tfvars.json"
    first = json.loads(tfvars_file.read_text())["storage__port"]
    assert 1024 < first < 65536
    assert run_cli("render", str(path)).returncode == 0
    assert json.loads(tfvars_file.read_text())["storage__port"] == first


def test_removed_component_module_copy_goes_away(write, fixture_catalog, tmp_path):
    out = tmp_path / "root2"
    assert run_cli("render", str(write(MANIFEST)), "--out", str(out)).returncode == 0
    assert (out / "modules" / "server").is_dir()
    slim = MANIFEST.split("  serving:")[0]
    assert run_cli("render", str(write(slim)), "--out", str(out)).returncode == 0
    assert not (out / "modules" / "server").exists()
    shutil.rmtree(out)
