"""Component contracts: modules/<name>/component.yaml, checked against the capability types.

A contract says what a component provides and requires (typed capabilities), which inputs it
takes, which targets it has a Terraform module for, and how to smoke-test it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import resources, yamlsrc
from .errors import CatalogError, ManifestError, Problem
from .pydantic_errors import problems_from
from .targets import registry

InputType = Literal["string", "integer", "number", "boolean", "port", "secret"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


TargetName = Literal[registry.kinds()]  # a component may claim only the registered targets


class _TargetScoped(_Strict):
    """An input or probe that exists on some of the component's targets only."""

    targets: list[TargetName] | None = Field(None, description="the targets it applies to; all when unset")

    def applies_to(self, target: str) -> bool:
        return self.targets is None or target in self.targets


class CapabilityField(_Strict):
    type: Literal["string", "number", "boolean"] = "string"
    sensitive: bool = False
    description: str


class Capability(_Strict):
    description: str
    fields: dict[str, CapabilityField]


class InputSpec(_TargetScoped):
    type: InputType = Field(description="port: allocated free at first render unless set; secret: never written")
    description: str
    default: Any = None
    generate: bool = Field(False, description="secret only: stackctl generates and keeps a random value")
    minimum: float | None = None
    maximum: float | None = None
    choices: list[Any] | None = None

    @property
    def sensitive(self) -> bool:
        return self.type == "secret"

    @property
    def required(self) -> bool:
        return self.default is None and self.type not in ("port",) and not self.generate


class Requirement(_Strict):
    optional: bool = False
    description: str = ""


class Runtime(_Strict):
    """Local target: the component's own cached virtual environment."""

    requirements: list[str] = Field(description="pinned requirements; the env is keyed by their hash")


class SmokeProbe(_TargetScoped):
    """Exactly one of http / tcp / command / python."""

    name: str | None = None
    http: dict[str, Any] | None = None
    tcp: dict[str, Any] | None = None
    command: list[str] | None = None
    python: str | None = None
    timeout: float = 60.0

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("http", "tcp", "command", "python") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a smoke probe needs exactly one of http, tcp, command, python")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "tcp", "command", "python") if getattr(self, k) is not None)


class Contract(_Strict):
    kind: Literal["component", "infra"] = Field(
        "component", description="infra: a target's base (modules/_infra/<target>), never named in a manifest")
    name: str
    title: str
    category: str
    description: str = ""
    version: str = Field(description="the version deployed unless the manifest pins another")
    provides: dict[str, dict[str, str]] = Field(default_factory=dict)
    requires: dict[str, Requirement] = Field(default_factory=dict)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    targets: list[TargetName]
    runtime: Runtime | None = None
    smoke: list[SmokeProbe] = Field(default_factory=list)

    # set by the loader
    root: Path = Field(default=Path("."), exclude=True)

    def module_dir(self, target: str) -> Path:
        return self.root if self.kind == "infra" else self.root / target

    def inputs_for(self, target: str) -> dict[str, InputSpec]:
        return {name: spec for name, spec in self.inputs.items() if spec.applies_to(target)}

    def smoke_for(self, target: str) -> list[SmokeProbe]:
        return [probe for probe in self.smoke if probe.applies_to(target)]

    def outputs(self) -> dict[str, bool]:
        """Module outputs the contract exposes, mapped to whether each is sensitive."""
        caps = capabilities()
        out: dict[str, bool] = {}
        for cap, mapping in self.provides.items():
            for fld, output in mapping.items():
                out[output] = out.get(output, False) or caps[cap].fields[fld].sensitive
        return out


@cache
def capabilities() -> dict[str, Capability]:
    path = resources.capabilities_file()
    doc = yamlsrc.load(path, what="capabilities file")
    try:
        return {name: Capability.model_validate(spec) for name, spec in doc.data.items()}
    except ValidationError as err:
        raise ManifestError(problems_from(err, doc), source=doc.display) from None


def load_contract(path: Path) -> Contract:
    doc = yamlsrc.load(path, what="component contract")
    try:
        contract = Contract.model_validate(doc.data)
    except ValidationError as err:
        raise ManifestError(problems_from(err, doc), source=doc.display) from None
    contract.root = path.parent
    problems = _check_against_capabilities(contract, doc)
    expected = path.parent.name if contract.kind == "component" else f"{path.parent.name}-infra"
    if contract.name != expected:
        problems.append(Problem(doc.where(("name",)), "name", f"must be {expected!r} (from its directory)"))
    if problems:
        raise ManifestError(problems, source=doc.display)
    return contract


def _check_against_capabilities(contract: Contract, doc: yamlsrc.SourceDoc) -> list[Problem]:
    caps = capabilities()
    problems = []
    for cap, mapping in contract.provides.items():
        if cap not in caps:
            problems.append(Problem(doc.where(("provides", cap)), f"provides.{cap}", "unknown capability",
                                    f"define it in modules/capabilities.yaml; known: {', '.join(caps)}"))
            continue
        for fld in mapping:
            if fld not in caps[cap].fields:
                problems.append(Problem(doc.where(("provides", cap, fld)), f"provides.{cap}.{fld}",
                                        f"{cap} has no field {fld!r}", f"fields: {', '.join(caps[cap].fields)}"))
        missing = [f for f in caps[cap].fields if f not in mapping]
        if missing:  # consumers rely on every field of a capability being wired
            problems.append(Problem(doc.where(("provides", cap)), f"provides.{cap}",
                                    f"does not map {', '.join(missing)}", "map every field to a module output"))
    for cap in contract.requires:
        if cap not in caps:
            problems.append(Problem(doc.where(("requires", cap)), f"requires.{cap}", "unknown capability",
                                    f"known: {', '.join(caps)}"))
    for name, spec in contract.inputs.items():
        if spec.generate and spec.type != "secret":
            problems.append(Problem(doc.where(("inputs", name)), f"inputs.{name}.generate",
                                    "only secret inputs can be generated"))
    for kind in contract.targets:
        if registry.target_class(kind).needs_runtime and contract.runtime is None:
            problems.append(Problem(doc.where(("targets",)), "runtime", f"a {kind} module needs a runtime",
                                    "add runtime.requirements"))
    return problems


class Scenario(_Strict):
    """A stack-level smoke test that crosses components: modules/_scenarios/<name>/scenario.yaml."""

    name: str
    title: str
    description: str = ""
    requires: list[str] = Field(description="capabilities the stack must provide")
    script: str = "run.py"
    requirements: list[str] = Field(default_factory=list, description="pinned; the scenario's own env")
    timeout: float = 600.0

    root: Path = Field(default=Path("."), exclude=True)


def load_scenario(path: Path) -> Scenario:
    doc = yamlsrc.load(path, what="scenario")
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as err:
        raise ManifestError(problems_from(err, doc), source=doc.display) from None
    scenario.root = path.parent
    pins = scenario.root / "requirements.txt"
    if not scenario.requirements and pins.is_file():
        scenario.requirements = [line.split("#")[0].strip() for line in pins.read_text().splitlines()
                                 if line.split("#")[0].strip()]
    unknown = [c for c in scenario.requires if c not in capabilities()]
    if unknown or not (scenario.root / scenario.script).is_file():
        raise ManifestError([Problem(doc.where(("requires",)), "requires",
                                     f"unknown capabilities {unknown} or missing script {scenario.script}")],
                            source=doc.display)
    return scenario


class Catalog:
    def __init__(self, contracts: dict[str, Contract], scenarios: dict[str, Scenario] | None = None,
                 infras: dict[str, Contract] | None = None):
        self.contracts = contracts
        self.scenarios = scenarios or {}
        self.infras = infras or {}

    def __contains__(self, name: str) -> bool:
        return name in self.contracts

    def __getitem__(self, name: str) -> Contract:
        return self.contracts[name]

    def names(self) -> list[str]:
        return sorted(self.contracts)

    def providers_of(self, capability: str) -> list[str]:
        return [n for n, c in sorted(self.contracts.items()) if capability in c.provides]

    def infra(self, target: str) -> Contract | None:
        """The target's base module (network, object store, compute pool), if it has one."""
        return self.infras.get(target)


def load_catalog(modules_dir: Path | None = None) -> Catalog:
    return _load_catalog(modules_dir or resources.modules_dir())


@cache
def _load_catalog(root: Path) -> Catalog:
    if not root.is_dir():
        raise CatalogError(f"no component modules at {root}", "reinstall stackctl: its wheel ships modules/")
    contracts = {}
    for path in sorted(root.glob("*/component.yaml")):
        contract = load_contract(path)
        contracts[contract.name] = contract
    scenarios = {}
    for path in sorted((root / "_scenarios").glob("*/scenario.yaml")):
        scenario = load_scenario(path)
        scenarios[scenario.name] = scenario
    infras = {}
    for path in sorted((root / "_infra").glob("*/component.yaml")):
        contract = load_contract(path)
        infras[path.parent.name] = contract
    return Catalog(contracts, scenarios, infras)
