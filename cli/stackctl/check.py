"""A manifest against the catalog: every component exists, has a module for the target, takes the
inputs given, and each smoke scenario finds what it needs. Every problem at once, each with file:line.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .catalog import Catalog, InputSpec
from .errors import Problem, quote
from .manifest import LoadedManifest, SecretRef
from .pydantic_errors import suggest
from .targets import registry
from .wiring import base_contract
from .yamlsrc import field_path


def catalog_problems(loaded: LoadedManifest, catalog: Catalog) -> list[Problem]:
    m, problems = loaded.manifest, []
    target, modules = m.target.kind, registry.modules_of(m.target.kind)
    for inst, spec in m.components.items():
        at = ("components", inst)
        if spec.use not in catalog:
            hint = suggest(spec.use, catalog.names()) or f"available: {', '.join(catalog.names())}"
            problems.append(loaded.problem((*at, "use"), f"unknown component {quote(spec.use)}", hint))
            continue
        contract = catalog[spec.use]
        if modules not in contract.targets:
            infra = catalog.infra(target)
            if infra is not None and contract.provides and set(contract.provides) <= set(infra.provides):
                hint = (f"remove {inst}: on {target} the target's base provides {', '.join(contract.provides)} "
                        f"(`stackctl catalog`)")
            else:
                hint = f"{spec.use} supports: {', '.join(contract.targets)}; pick another component or target"
            problems.append(loaded.problem((*at, "use"), f"{spec.use} has no module for target {target!r}", hint))
        problems += _check_inputs(loaded, inst, spec, contract, modules)
        for cap in spec.connect:
            if cap not in contract.requires:
                hint = suggest(cap, contract.requires) or (
                    f"{spec.use} requires: {', '.join(contract.requires) or 'nothing'}")
                problems.append(loaded.problem((*at, "connect", cap), f"{spec.use} does not require {quote(cap)}",
                                               hint))
    return problems + _scenario_problems(loaded, catalog)


def _scenario_problems(loaded: LoadedManifest, catalog: Catalog) -> list[Problem]:
    m, problems = loaded.manifest, []
    provided = {cap for spec in m.components.values() if spec.use in catalog
                for cap in catalog[spec.use].provides}
    base = base_contract(loaded, catalog)
    provided |= set(base.provides) if base is not None else set()
    for i, name in enumerate(m.smoke.scenarios):
        loc = ("smoke", "scenarios", i)
        if name not in catalog.scenarios:
            problems.append(loaded.problem(loc, f"unknown scenario {quote(name)}",
                                           suggest(name, catalog.scenarios) or
                                           f"available: {', '.join(sorted(catalog.scenarios)) or 'none'}"))
            continue
        missing = [c for c in catalog.scenarios[name].requires if c not in provided]
        if missing:
            offered = sorted({p for c in missing for p in catalog.providers_of(c)})
            problems.append(loaded.problem(loc, f"{name} needs {', '.join(missing)}, which nothing in the stack "
                                           "provides", f"add components that provide them: {', '.join(offered)}"))
    return problems


_PY_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "port": (int,)}


def _check_inputs(loaded, inst, spec, contract, target: str) -> list[Problem]:
    problems = []
    inputs: dict[str, InputSpec] = contract.inputs_for(target)
    for key, value in spec.with_.items():
        loc = ("components", inst, "with", key)
        fld = field_path(loc)
        if key in contract.inputs and key not in inputs:  # kept for the other target, so manifests move
            only = ", ".join(contract.inputs[key].targets)
            loaded.notes.append(f"{loaded.where(*loc)} {fld}: applies to target {only} only; ignored on {target}")
            continue
        if key not in inputs:
            hint = suggest(key, inputs) or (f"remove it; {spec.use} takes: {', '.join(inputs)}" if inputs
                                            else f"remove it; {spec.use} takes no inputs")
            problems.append(Problem(loaded.where(*loc), fld, "unknown input", hint))
            continue
        problems += [Problem(loaded.where(*loc), fld, msg, hint) for msg, hint in _check_value(value, inputs[key])]
    for key, ispec in inputs.items():
        if ispec.required and key not in spec.with_:
            problems.append(Problem(loaded.where("components", inst), field_path(("components", inst, "with", key)),
                                    "is required", f"add `{key}:` under with ({ispec.description})"))
    return problems


_TYPE_FIX = {"integer": "write a whole number without quotes", "number": "write a number without quotes",
             "boolean": "write true or false", "string": "put the value in quotes",
             "port": "write a port number, or remove it to get a free port allocated"}


def _check_value(value: Any, ispec: InputSpec) -> list[tuple[str, str | None]]:
    secret_fix = "write {secret: env:VARIABLE_NAME} and export the value in that variable"
    if ispec.type == "secret":
        if isinstance(value, dict) and set(value) == {"secret"}:
            try:
                SecretRef.model_validate(value)
            except ValidationError:
                return [(f"got {quote(value['secret'])}; secret references look like env:VARIABLE_NAME", secret_fix)]
            return []
        return [("secrets are references, never literals", secret_fix)]
    if isinstance(value, dict) and "secret" in value:
        return [("only secret inputs take secret references", "give a literal value")]
    allowed = _PY_TYPES[ispec.type]
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        return [(f"must be {'an' if ispec.type[0] in 'aeiou' else 'a'} {ispec.type}, got {quote(value)}",
                 _TYPE_FIX[ispec.type])]
    out = []
    if ispec.type == "port" and not 1 <= value <= 65535:
        out.append((f"must be a port between 1 and 65535, got {quote(value)}",
                    "remove it to get a free port allocated"))
    if ispec.minimum is not None and value < ispec.minimum:
        out.append((f"must be >= {ispec.minimum:g}, got {quote(value)}", f"use {ispec.minimum:g} or more"))
    if ispec.maximum is not None and value > ispec.maximum:
        out.append((f"must be <= {ispec.maximum:g}, got {quote(value)}", f"use {ispec.maximum:g} or less"))
    if ispec.choices is not None and value not in ispec.choices:
        choices = ", ".join(map(str, ispec.choices))
        out.append((f"got {quote(value)}; must be one of {choices}",
                    suggest(str(value), map(str, ispec.choices)) or f"use one of: {choices}"))
    return out
