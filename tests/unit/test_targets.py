"""Targets are plug-ins: the registry lists the kinds once, and a new target is its own folder.

A toy target is added to a copy of the package (its folder, its registry line and its base module
in the catalog) and `init`, `catalog`, `validate`, `render` and `plan` work for it, nothing else edited.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import REPO

from stackctl.targets import registry

PACKAGE = REPO / "cli" / "stackctl"

TOY_TARGET = '''\
"""A toy target: its components are terraform_data resources, its base says hello."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import Target
from ..config import TargetConfig

STARTER = """\\
target:
  kind: toy                    # {kinds}
components:
  hello:
    use: hello
"""


class ToyConfig(TargetConfig):
    kind: Literal["toy"] = Field(description="where the stack runs: toy is a toy")
    greeting: str = Field("hello from toy", description="what the base says")


class ToyTarget(Target):
    kind = "toy"
    config = ToyConfig
    starter = STARTER

    def infra_inputs(self, manifest):
        return {"greeting": manifest.target.greeting}


TARGET = ToyTarget
'''
TF_VERSIONS = 'terraform {\n  required_version = ">= 1.5"\n}\n'
TF_COMMON = ('variable "stack" {\n  type        = string\n  description = "stack"\n}\n\n'
             'variable "instance" {\n  type        = string\n  description = "instance"\n}\n')


def _toy_catalog(root: Path) -> Path:
    """A catalog with one component on the toy target, and the toy target's base (modules/_infra/toy)."""
    infra, hello = root / "_infra" / "toy", root / "hello" / "toy"
    infra.mkdir(parents=True)
    hello.mkdir(parents=True)
    (infra / "component.yaml").write_text(
        "kind: infra\nname: toy-infra\ntitle: Toy base\ncategory: infrastructure\nversion: '1'\n"
        "provides: {monitoring: {url: url}}\n"
        "inputs: {greeting: {type: string, description: what the base says}}\ntargets: [toy]\n")
    (infra / "main.tf").write_text('resource "terraform_data" "this" {\n  input = var.greeting\n}\n')
    (infra / "variables.tf").write_text(TF_COMMON + '\nvariable "greeting" {\n  type        = string\n'
                                        '  description = "what the base says"\n}\n')
    (infra / "outputs.tf").write_text('output "url" {\n  value = "toy://${terraform_data.this.output}"\n}\n')
    (root / "hello" / "component.yaml").write_text(
        "name: hello\ntitle: Hello\ncategory: test\nversion: '1'\nrequires: {monitoring: {}}\ntargets: [toy]\n")
    (hello / "main.tf").write_text('resource "terraform_data" "this" {\n  input = var.monitoring_url\n}\n')
    (hello / "variables.tf").write_text(TF_COMMON + '\nvariable "monitoring_url" {\n  type        = string\n'
                                        '  description = "the base"\n}\n')
    (hello / "outputs.tf").write_text("")
    for module in (infra, hello):
        (module / "versions.tf").write_text(TF_VERSIONS)
    return root


def _with_toy_target(tmp: Path) -> Path:
    """A copy of the source tree plus the toy target: its folder and one registry line, nothing else."""
    tree = tmp / "tree"
    for part in ("templates", "modules"):
        shutil.copytree(REPO / part, tree / part, ignore=shutil.ignore_patterns(".terraform*", "__pycache__"))
    package = tree / "cli" / "stackctl"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "targets" / "toy").mkdir()
    (package / "targets" / "toy" / "__init__.py").write_text(TOY_TARGET)
    registry_py = package / "targets" / "registry.py"
    text = registry_py.read_text()
    line = '    "aws": "stackctl.targets.aws",\n'
    assert line in text
    registry_py.write_text(text.replace(line, line + '    "toy": "stackctl.targets.toy",\n'))
    return tree


def test_a_new_target_is_its_folder_its_registry_line_and_its_base(tmp_path):
    tree = _with_toy_target(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tree / "cli"), "STACKCTL_HOME": str(tmp_path / "home"),
           "STACKCTL_MODULES_DIR": str(_toy_catalog(tmp_path / "catalog"))}

    def stackctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "stackctl.app", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    version = subprocess.run([sys.executable, "-c", "import stackctl; print(stackctl.__file__)"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip().startswith(str(tree)), version  # the copy runs, not the checkout
    init = stackctl("init", "toy-demo", "-o", "toy.yaml", "--target", "toy")
    assert init.returncode == 0, init.stderr
    assert "kind: toy                    # local | aws | toy" in (tmp_path / "toy.yaml").read_text()
    catalog = stackctl("catalog")
    assert catalog.returncode == 0, catalog.stderr
    assert "target toy: its base (toy-infra, instance `infra`) provides monitoring" in catalog.stdout
    validate = stackctl("validate", "toy.yaml")
    assert validate.returncode == 0, validate.stderr
    assert "valid — stack toy-demo, 2 components, 1 wires, order: infra → hello" in validate.stdout
    render = stackctl("render", "toy.yaml", "--out", "root")
    assert render.returncode == 0, render.stderr
    assert (tmp_path / "root" / "modules" / "hello" / "main.tf").is_file()
    assert '"infra__greeting": "hello from toy"' in (tmp_path / "root" / "terraform.tfvars.json").read_text()
    plan = stackctl("plan", "toy.yaml")
    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert "2 to add" in plan.stdout, plan.stdout
    unknown = stackctl("init", "x", "-o", "x.yaml", "--target", "gcp")
    assert unknown.returncode == 2 and "use one of: local, aws, toy" in unknown.stderr
    (tmp_path / "local.yaml").write_text((tmp_path / "toy.yaml").read_text().replace(
        "kind: toy", "kind: local\n  greeting: hi"))
    foreign = stackctl("validate", "local.yaml")
    assert foreign.returncode == 2
    assert "local.yaml:10 target.greeting: kind local takes no field greeting (it is a toy field)" in foreign.stderr
    assert "fix: remove it or set kind: toy" in foreign.stderr


def _target_packages() -> set[Path]:
    return {PACKAGE / "targets" / kind for kind in registry.kinds()}


def _literals(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are exactly a target kind; docstrings and comments excluded."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in registry.kinds() and id(node) not in docstrings]


# "local" is also the name of a state backend (backend: {kind: local}); backends.py owns that name
BACKEND_NAMES = {PACKAGE / "backends.py"}


def test_no_module_outside_a_target_folder_names_a_kind():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "targets" / "registry.py" or path in BACKEND_NAMES:
            continue
        if any(package in path.parents for package in _target_packages()):
            continue
        found += [f"{path.relative_to(PACKAGE)}:{line}: {value!r}" for line, value in _literals(path)]
    assert found == [], "target kinds belong in targets/<kind>/ and targets/registry.py:\n" + "\n".join(found)


def test_the_kind_checker_can_fail(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""local"""\nKIND = "aws"\nNOTE = "stacks/local.yaml"\n')
    assert _literals(module) == [(2, "aws")]


def test_every_registered_target_names_its_kind():
    for kind in registry.kinds():
        assert registry.target_class(kind).kind == kind


def test_an_unregistered_kind_says_which_are():
    from stackctl.errors import UnsupportedError

    with pytest.raises(UnsupportedError) as err:
        registry.target_class("gcp")
    assert "deploys to local, aws and ssh" in str(err.value)
