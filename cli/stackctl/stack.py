"""A loaded stack: manifest + catalog + wiring + target + workdir, and its resolved input values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import secrets
from .catalog import Catalog, Contract, load_catalog
from .check import catalog_problems
from .errors import ManifestError, Problem
from .manifest import INFRA_INSTANCE, ComponentSpec, LoadedManifest, document_problems, load_manifest
from .targets.base import Target
from .targets.registry import get_target
from .wiring import Wiring, base_contract, resolve
from .workdir import RecordError, StackRecord, Workdir, allocate_ports


@dataclass
class ComponentInstance:
    instance: str
    spec: ComponentSpec
    contract: Contract
    values: dict[str, Any] = field(default_factory=dict)  # literal inputs (tfvars)
    secret_values: dict[str, str] = field(default_factory=dict)  # secret inputs (TF_VAR_* only)

    @property
    def version(self) -> str:
        return self.spec.version or self.contract.version

    def requirements(self) -> list[str]:
        if self.contract.runtime is None:
            return []
        return [r.replace("{version}", self.version) for r in self.contract.runtime.requirements]


@dataclass
class Stack:
    loaded: LoadedManifest
    catalog: Catalog
    wiring: Wiring
    target: Target
    workdir: Workdir
    components: dict[str, ComponentInstance]
    recovered: str | None = None  # why the record was rebuilt (it was unreadable), to be said once
    outputs_read: dict[str, dict[str, Any]] | None = None  # Terraform's outputs, once read (lifecycle.outputs)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def secrets(self) -> list[str]:
        return [v for c in self.components.values() for v in c.secret_values.values()]

    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.loaded.path.read_bytes()).hexdigest()

    def record(self) -> StackRecord:
        try:
            existing = self.workdir.load_record()
        except RecordError as err:
            return self._rebuilt_record(err)
        if existing is not None:
            existing.manifest_path = str(self.loaded.path.resolve())
            existing.manifest_sha256 = self.manifest_sha256()
            # components keeps what was last applied until the next apply: `up` retires the rest
            existing.ttl = self.loaded.manifest.metadata.ttl
            return existing
        return StackRecord(
            name=self.name,
            manifest_path=str(self.loaded.path.resolve()),
            manifest_sha256=self.manifest_sha256(),
            target=self.target.kind,
            backend=self.loaded.manifest.backend.kind,
            identity="",  # recorded by `up` once preflight has confirmed the credentials
            ttl=self.loaded.manifest.metadata.ttl,
            components={i: c.contract.name for i, c in self.components.items()},
        )

    def _rebuilt_record(self, err: RecordError) -> StackRecord:
        """A new record from the manifest, with what the rendered root still knows: the ports it was
        rendered with (so destroy and the leftover check look at the right ones) and the deployed instances."""
        aside = self.workdir.set_aside_record()
        record = self.record()
        tf = self.workdir.tf_dir
        tfvars = _read_json(tf / "terraform.tfvars.json")
        for inst, comp in self.components.items():
            for name, spec in comp.contract.inputs_for(self.target.module_kind).items():
                if spec.type == "port" and isinstance(tfvars.get(f"{inst}__{name}"), int):
                    record.ports.setdefault(inst, {})[name] = tfvars[f"{inst}__{name}"]
        deployed = {r["module"].split(".")[1] for r in _read_json(tf / "terraform.tfstate").get("resources", [])
                    if str(r.get("module", "")).startswith("module.")}
        if deployed:
            record.state = "up"
            record.components = {i: (self.components[i].contract.name if i in self.components else "unknown")
                                 for i in sorted(deployed)}
        self.workdir.save_record(record)
        self.recovered = f"{err.message}; rebuilt it from the manifest and the Terraform state (old one: {aside})"
        return record

    def applied(self, record: StackRecord) -> None:
        """Remember what is deployed now (after a successful apply)."""
        record.components = {i: c.contract.name for i, c in self.components.items()}

    def resolve_values(self) -> StackRecord:
        """Fill every input: manifest value, kept or newly allocated port, generated secret, default.

        Ports are remembered in the record so a second `up` renders the same root (no changes).
        """
        record = self.record()
        kind = self.target.module_kind
        wanted = [(i, n) for i, c in self.components.items() for n, s in c.contract.inputs_for(kind).items()
                  if s.type == "port" and n not in c.spec.with_ and n not in record.ports.get(i, {})]
        for (inst, name), port in zip(wanted, allocate_ports(len(wanted)), strict=True):
            record.ports.setdefault(inst, {})[name] = port
        made = secrets.generated_all(self.name, [
            f"{i}.{n}" for i, c in self.components.items() for n, s in c.contract.inputs_for(kind).items()
            if s.type == "secret" and s.generate and c.spec.with_.get(n) is None])
        for inst, comp in self.components.items():
            for name, spec in comp.contract.inputs_for(kind).items():
                given = comp.spec.with_.get(name)
                if spec.type == "secret":
                    if given is not None:
                        where = self.loaded.where("components", inst, "with", name)
                        comp.secret_values[name] = secrets.resolve_ref(given["secret"], where)
                    elif spec.generate:
                        comp.secret_values[name] = made[f"{inst}.{name}"]
                    else:
                        comp.secret_values[name] = spec.default
                elif given is not None:
                    comp.values[name] = given
                elif spec.type == "port":
                    comp.values[name] = record.ports[inst][name]
                else:
                    comp.values[name] = spec.default
        for inst, values in self.target.late_inputs(self).items():
            self.components[inst].values.update(values)
        return record


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _line(problem: Problem) -> int:
    line = problem.location.rpartition(":")[2]
    return int(line) if line.isdigit() else 0


def load_stack(path: Path, catalog: Catalog | None = None) -> Stack:
    catalog = catalog or load_catalog()
    loaded = load_manifest(path)
    target = get_target(loaded.manifest.target.kind)
    problems = document_problems(loaded) + catalog_problems(loaded, catalog) + target.validate(loaded)
    if problems:  # every problem at once, top to bottom
        raise ManifestError(sorted(problems, key=_line), source=loaded.doc.display)
    wiring = resolve(loaded, catalog)
    components = {}
    base = base_contract(loaded, catalog)
    if base is not None:  # the target's base: its inputs come from the manifest's target section
        inputs = target.infra_inputs(loaded.manifest) if base.kind == "infra" else {}
        spec = ComponentSpec(use=base.name, **{"with": inputs})
        components[INFRA_INSTANCE] = ComponentInstance(INFRA_INSTANCE, spec, base)
    components.update({inst: ComponentInstance(inst, spec, catalog[spec.use])
                       for inst, spec in loaded.manifest.components.items()})
    workdir = Workdir(loaded.name)
    return Stack(loaded, catalog, wiring, target, workdir, components)
