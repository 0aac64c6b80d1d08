"""The wheel carries modules, templates and stacks: installed in a fresh venv, stackctl works anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from tests.conftest import REPO


@pytest.mark.e2e
def test_wheel_installs_and_runs_from_any_directory(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(dist.glob("stackctl_ml-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run([str(env_dir / "bin" / "pip"), "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stackctl = str(env_dir / "bin" / "stackctl")
    catalog = subprocess.run([stackctl, "catalog", "--json"], cwd=elsewhere, capture_output=True, text=True)
    assert catalog.returncode == 0, catalog.stderr
    names = {c["name"] for c in json.loads(catalog.stdout)}
    assert {"seaweedfs", "postgres", "mlflow"} <= names

    # the bundled default stack validates and renders from the installed package, not the checkout
    validate = subprocess.run([stackctl, "validate"], cwd=elsewhere, capture_output=True, text=True)
    assert validate.returncode == 0, validate.stderr
    assert "/_bundle/stacks/local.yaml" in subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "from stackctl import resources; print(resources.default_stack())"],
        cwd=elsewhere, capture_output=True, text=True).stdout
    render = subprocess.run([stackctl, "render", "--out", str(tmp_path / "root")], cwd=elsewhere,
                            capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                                                 "STACKCTL_HOME": str(tmp_path / "home")})
    assert render.returncode == 0, render.stderr
    assert (tmp_path / "root" / "modules" / "mlflow" / "main.tf").is_file()


    # the ssh target ships its runtime from the installed package too, not only from a checkout
    code = ("from stackctl.targets.ssh import bundle; part, _ = bundle.runtime_part(); "
            "print(part); print(bundle.runtime_sources()['stackctl/runtime/envs.py'])")
    shipped = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=elsewhere, capture_output=True,
                             text=True, env={"HOME": str(tmp_path), "STACKCTL_HOME": str(tmp_path / "home")})
    assert shipped.returncode == 0, shipped.stderr
    part, envs_source = shipped.stdout.split()
    assert envs_source.startswith(str(env_dir)) and "/site-packages/stackctl/runtime/envs.py" in envs_source
    assert (Path(part) / "stackctl" / "runtime" / "supervisor.py").is_file()
    assert (Path(part) / "platformdirs" / "__init__.py").is_file()
