"""The contract linter: every module's variables.tf/outputs.tf agree with its component.yaml.

Checked for every component and every target it claims, against the capability types, so the
renderer can never pass an argument a module does not declare (or miss one it requires).
"""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest
from tests.conftest import FIXTURE_CATALOG, terraform_command

from stackctl import resources
from stackctl.catalog import capabilities, load_contract
from stackctl.render import HCL_TYPES
from stackctl.targets import registry

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")


def _blocks(path: Path, kind: str) -> dict[str, dict]:
    data = hcl2.loads(path.read_text())
    return {name.strip('"'): body for block in data.get(kind, []) for name, body in block.items()}


def _unquote(value) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text.strip('"')


def lint(contract_path: Path) -> list[str]:
    contract = load_contract(contract_path)
    caps = capabilities()
    problems = []
    for target in contract.targets:
        mod = contract.module_dir(target)
        where = f"{contract.name}/{target}"
        missing = [f for f in MODULE_FILES if not (mod / f).is_file()]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        variables = _blocks(mod / "variables.tf", "variable")
        outputs = _blocks(mod / "outputs.tf", "output")
        for name, body in variables.items():
            for attr in ("description", "type"):
                if attr not in body:
                    problems.append(f"{where}: variable {name} has no {attr}")
        expected: dict[str, tuple[str | None, bool, bool]] = {}  # name -> (type, sensitive, optional)
        # what the target passes every component module (its base takes only its own inputs)
        target_variables = registry.target_class(target).module_variables if contract.kind == "component" else ()
        for name in ("stack", "instance", *target_variables):
            expected[name] = (None, False, False)
        for name, spec in contract.inputs_for(target).items():
            expected[name] = (HCL_TYPES[spec.type], spec.sensitive, False)
        for cap, req in contract.requires.items():
            for fld, fspec in caps[cap].fields.items():
                expected[f"{cap}_{fld}"] = (fspec.type, fspec.sensitive, req.optional)
        for name, (typ, sensitive, optional) in expected.items():
            body = variables.get(name)
            if body is None:
                problems.append(f"{where}: variable {name} is not declared")
                continue
            if typ and _unquote(body.get("type")) != typ:
                problems.append(f"{where}: variable {name} has type {_unquote(body.get('type'))}, contract says {typ}")
            if bool(body.get("sensitive", False)) != sensitive:
                problems.append(f"{where}: variable {name} must {'' if sensitive else 'not '}be sensitive")
            if optional and "default" not in body:
                problems.append(f"{where}: variable {name} wires an optional capability and needs default = null")
        for name, body in variables.items():
            if name not in expected and "default" not in body:
                problems.append(f"{where}: variable {name} is not in the contract and has no default")
        for output, sensitive in contract.outputs().items():
            body = outputs.get(output)
            if body is None:
                problems.append(f"{where}: output {output} (named in provides) is not declared")
            elif sensitive and not body.get("sensitive"):
                problems.append(f"{where}: output {output} carries a secret and must be sensitive")
    if contract.runtime:
        for req in contract.runtime.requirements:
            if "==" not in req:
                problems.append(f"{contract.name}: requirement {req!r} is not pinned with ==")
    for probe in contract.smoke:
        if probe.python and not (contract.root / probe.python).is_file():
            problems.append(f"{contract.name}: smoke script {probe.python} does not exist")
    return problems


def _contracts(root: Path) -> list[Path]:
    """Components, and the targets' base modules (modules/_infra/<target>)."""
    return sorted(root.glob("*/component.yaml")) + sorted(root.glob("_infra/*/component.yaml"))


@pytest.mark.parametrize("path", _contracts(resources.modules_dir()) + _contracts(FIXTURE_CATALOG),
                         ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_module_matches_contract(path):
    assert lint(path) == []


def test_linter_catches_a_drifted_module(tmp_path):
    """The linter itself can fail: a module missing a wired variable and a non-sensitive secret output."""
    import shutil

    broken = tmp_path / "tracker"
    shutil.copytree(FIXTURE_CATALOG / "tracker", broken)
    text = (broken / "local" / "variables.tf").read_text()
    (broken / "local" / "variables.tf").write_text(text.replace('variable "object_store_bucket"', 'variable "bucket"'))
    problems = lint(broken / "component.yaml")
    assert "tracker/local: variable object_store_bucket is not declared" in problems
    assert "tracker/local: variable bucket is not in the contract and has no default" in problems


def test_every_component_has_a_module_for_each_target():
    for path in _contracts(resources.modules_dir()):
        contract = load_contract(path)
        assert contract.targets, contract.name
        for target in contract.targets:
            assert contract.module_dir(target).is_dir(), f"{contract.name} claims {target} but has no module"


def test_every_module_is_terraform_fmt_clean():
    import subprocess

    modules = str(resources.bundle_root() / "modules")
    result = subprocess.run([*terraform_command(), "fmt", "-check", "-recursive", modules],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"not `terraform fmt`-clean: {result.stdout}"
