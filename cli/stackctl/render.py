"""Render a stack into a self-contained Terraform root: templates for structure, tfvars for values.

User values never enter a template: they go to terraform.tfvars.json (literals only), secrets to
TF_VAR_* in the runner's environment. Module code is copied in, so the root works on its own.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from . import hcl, paths, resources
from .backends import backend_block
from .datatypes import RootVariable
from .stack import Stack

HCL_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "bool",
             "port": "number", "secret": "string"}
RENDERED_FILES = ("versions.tf", "variables.tf", "main.tf", "outputs.tf")


@dataclass
class Rendered:
    root: Path
    tfvars: dict[str, Any]
    secret_env: dict[str, str] = field(default_factory=dict)  # TF_VAR_* for the runner only


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.templates_dir())),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, not silently broken HCL
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["hcl_string"] = hcl.string
    return env


def input_variable(instance: str, name: str) -> str:
    return f"{instance}__{name}"


def secret_environment(stack: Stack) -> dict[str, str]:
    """TF_VAR_* for every secret input: how secrets reach Terraform (never a file)."""
    return {f"TF_VAR_{input_variable(inst, name)}": value
            for inst, comp in stack.components.items() for name, value in comp.secret_values.items()}


def build(stack: Stack) -> tuple[dict[str, Any], Rendered]:
    """The template context plus the values; nothing is written yet."""
    target = stack.target
    variables = [RootVariable("stack_name", "string", "Name of the stack (metadata.name)")]
    tfvars: dict[str, Any] = {"stack_name": stack.name}
    modules, outputs = [], []

    for inst in stack.wiring.order:
        comp = stack.components[inst]
        contract = comp.contract
        args: list[tuple[str, str]] = [("stack", "var.stack_name"), ("instance", json.dumps(inst))]
        for extra_arg, expr in target.module_arguments(stack, inst):
            args.append((extra_arg, expr))
        for name, spec in contract.inputs_for(target.module_kind).items():
            var = input_variable(inst, name)
            variables.append(RootVariable(var, HCL_TYPES[spec.type], f"{inst}: {spec.description}", spec.sensitive))
            args.append((name, f"var.{var}"))
            if not spec.sensitive:
                tfvars[var] = comp.values[name]
        wire_args = []
        for wire in stack.wiring.wires_into(inst):
            for variable, output in wire.variables().items():
                wire_args.append((variable, f"module.{wire.provider}.{output}"))
        modules.append({
            "instance": inst,
            "component": contract.name,
            "title": contract.title,
            "arguments": hcl.aligned(args) + ([""] + hcl.aligned(wire_args) if wire_args else []),
            "depends_on": [f"module.{d}" for d in stack.wiring.depends_on.get(inst, [])],
        })
        exposed = contract.outputs()
        if exposed:
            outputs.append({
                "instance": inst,
                "component": contract.name,
                "fields": hcl.aligned([(o, f"module.{inst}.{o}") for o in sorted(exposed)]),
                "sensitive": any(exposed.values()),
            })

    for var in target.root_variables():
        variables.append(var)
    tfvars.update(target.root_values(stack))
    context = {
        "stack_name": stack.name,
        "backend": backend_block(stack),
        "providers": [{"name": n, "source": src, "version": ver}
                      for n, (src, ver) in target.required_providers().items()],
        "provider_config": target.provider_config(),
        "variables": variables,
        "modules": modules,
        "outputs": outputs,
    }
    return context, Rendered(root=stack.workdir.tf_dir, tfvars=tfvars, secret_env=secret_environment(stack))


def render(stack: Stack, out: Path | None = None) -> Rendered:
    context, rendered = build(stack)
    root = (out or stack.workdir.tf_dir).resolve()
    rendered.root = root
    root.mkdir(parents=True, exist_ok=True)
    env = _environment()
    for name in RENDERED_FILES:
        text = env.get_template(f"{name}.j2").render(**context)
        (root / name).write_text(text)
    (root / "terraform.tfvars.json").write_text(json.dumps(rendered.tfvars, indent=2, sort_keys=True) + "\n")
    _copy_modules(stack, root / "modules")
    if out is None:  # the stack's own root: private like the rest of its workdir (copies keep 0644)
        paths.private_dir(root)
        paths.tighten(root)
    return rendered


def _copy_modules(stack: Stack, dest: Path) -> None:
    """Copy each used component's target module; stale copies of removed components go away.

    Shared Terraform modules (modules/_lib/terraform, e.g. the supervised process) go to
    <root>/_lib/terraform, where the components' `../../_lib/terraform/...` sources find them.
    """
    shared = resources.modules_lib() / "terraform"
    if shared.is_dir():
        target = dest.parent / "_lib" / "terraform"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(shared, target, ignore=shutil.ignore_patterns("__pycache__", ".terraform*"))
    wanted = {c.contract.name: c.contract.module_dir(stack.target.module_kind) for c in stack.components.values()}
    if dest.is_dir():
        for old in dest.iterdir():
            if old.name not in wanted:
                shutil.rmtree(old)
    for name, src in wanted.items():
        target = dest / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", ".terraform*", "*.tfstate*"))
