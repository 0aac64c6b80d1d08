"""Stack manifests (apiVersion stackctl/v1): pydantic models plus the checks against the catalog.

Every problem is reported at once, as `file:line field: message` with a fix, never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import yamlsrc
from .catalog import TARGETS, Catalog, InputSpec
from .errors import ManifestError, Problem
from .pydantic_errors import problems_from, suggest

DNS_LABEL = r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
INSTANCE_NAME = r"^[a-z][a-z0-9_]{0,62}$"  # becomes a Terraform module name and variable prefix
SECRET_REF = re.compile(r"^(env):([A-Za-z_][A-Za-z0-9_]*)$")
DURATION = re.compile(r"^(\d+)([smhd])$")
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
INFRA_INSTANCE = "infra"  # the instance name of a target's base module (modules/_infra/<target>)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretRef(_Strict):
    secret: str = Field(description="where the value comes from, e.g. env:TECTON_API_KEY")

    @field_validator("secret")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not SECRET_REF.match(v):
            raise ValueError("secret references look like env:VARIABLE_NAME")
        return v


class ComponentSpec(_Strict):
    use: str = Field(description="catalog component, see `stackctl catalog`")
    version: str | None = Field(None, description="component version; the contract's default when unset")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="inputs, checked against the contract")
    connect: dict[str, str] = Field(default_factory=dict, description="capability -> instance that provides it")
    depends_on: list[str] = Field(default_factory=list, description="instances to create first")


class GPU(_Strict):
    type: str = Field(description="GPU name, e.g. a10g, t4, a100, h100")
    count: int = Field(1, ge=1, description="GPUs in the pool")


class Target(_Strict):
    kind: Literal["local", "aws", "gcp", "azure", "kubernetes", "ssh"] = Field(description="where the stack runs")
    region: str | None = Field(None, description="cloud region")
    endpoint: str | None = Field(None, pattern=r"^https?://[^\s]+$",
                                 description="API endpoint override for every service, e.g. a local emulator")
    gpu: GPU | None = Field(None, description="optional GPU pool")
    allow_from: list[str] = Field(default_factory=list, description=(
        "cloud targets: CIDRs that may reach the components' service ports, e.g. your address/32 to smoke-test "
        "them from here; none: reachable only inside the network"))


class Backend(_Strict):
    kind: Literal["local", "s3", "gcs", "azurerm"] = Field("local", description="where Terraform state lives")
    bucket: str | None = Field(None, description="s3: an existing bucket for the state")
    region: str | None = Field(None, description="s3: the bucket's region; target.region when unset")


class Metadata(_Strict):
    name: str = Field(pattern=DNS_LABEL, description="DNS label; keys the stack's workdir and state")
    labels: dict[str, str] = Field(default_factory=dict)
    ttl: str | None = Field(None, description="e.g. 8h; `stackctl reap` destroys stacks past it")

    @field_validator("ttl")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None and not DURATION.match(v):
            raise ValueError("a duration like 30m, 8h or 2d")
        return v


class SmokeSettings(_Strict):
    timeout: str = Field("10m", description="overall time for the smoke tests")
    enabled: bool = True
    scenarios: list[str] = Field(default_factory=list,
                                 description="stack-level smoke tests run after the components' own, e.g. golden-path")

    @field_validator("timeout")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not DURATION.match(v):
            raise ValueError("a duration like 90s or 10m")
        return v

    @property
    def timeout_seconds(self) -> float:
        return duration_seconds(self.timeout)


class Manifest(_Strict):
    apiVersion: Literal["stackctl/v1"] = Field(description="manifest format version")
    kind: Literal["Stack"]
    metadata: Metadata
    target: Target
    backend: Backend = Field(default_factory=Backend)
    components: dict[str, ComponentSpec] = Field(min_length=1)
    smoke: SmokeSettings = Field(default_factory=SmokeSettings)


def duration_seconds(text: str) -> float:
    number, unit = DURATION.match(text).groups()
    return int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


@dataclass
class LoadedManifest:
    manifest: Manifest
    doc: yamlsrc.SourceDoc
    notes: list[str] = field(default_factory=list)  # worth saying, not wrong (e.g. another target's input)

    @property
    def path(self) -> Path:
        return self.doc.path

    @property
    def name(self) -> str:
        return self.manifest.metadata.name

    def where(self, *loc) -> str:
        return self.doc.where(loc)


_MODELS = {(): Manifest, ("metadata",): Metadata, ("target",): Target, ("backend",): Backend,
           ("smoke",): SmokeSettings, ("target", "gpu"): GPU}


def _allowed_keys(loc: tuple) -> list[str]:
    if len(loc) == 2 and loc[0] == "components":
        model = ComponentSpec
    else:
        model = _MODELS.get(tuple(loc))
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def load_manifest(path: Path, catalog: Catalog) -> LoadedManifest:
    doc = yamlsrc.load(path, what="stack manifest")
    if not isinstance(doc.data, dict):
        raise ManifestError([Problem(doc.where(()), "", "a stack manifest is a mapping",
                                     "start from `stackctl init`")], source=doc.display)
    try:
        manifest = Manifest.model_validate(doc.data)
    except ValidationError as err:
        raise ManifestError(problems_from(err, doc, allowed_keys=_allowed_keys), source=doc.display) from None
    loaded = LoadedManifest(manifest, doc)
    problems = check_against_catalog(loaded, catalog)
    if problems:
        raise ManifestError(problems, source=doc.display)
    return loaded


def check_against_catalog(loaded: LoadedManifest, catalog: Catalog) -> list[Problem]:
    m, problems = loaded.manifest, []
    target = m.target.kind
    for inst, spec in m.components.items():
        at = ("components", inst)
        if not re.match(INSTANCE_NAME, inst):
            problems.append(Problem(loaded.where(*at), f"components.{inst}",
                                    "instance names are lower-case letters, digits and _ (they name Terraform modules)",
                                    f"rename it, e.g. {_instance_name_like(inst)}"))
        if spec.use not in catalog:
            hint = suggest(spec.use, catalog.names()) or f"available: {', '.join(catalog.names())}"
            problems.append(Problem(loaded.where(*at, "use"), f"components.{inst}.use",
                                    f"unknown component {spec.use!r}", hint))
            continue
        contract = catalog[spec.use]
        if target not in contract.targets:
            infra = catalog.infra(target)
            if infra is not None and contract.provides and set(contract.provides) <= set(infra.provides):
                hint = (f"remove {inst}: on {target} the target's base provides {', '.join(contract.provides)} "
                        f"(`stackctl catalog`)")
            else:
                hint = f"{spec.use} supports: {', '.join(contract.targets)}; pick another component or target"
            problems.append(Problem(loaded.where(*at, "use"), f"components.{inst}.use",
                                    f"{spec.use} has no module for target {target!r}", hint))
        problems += _check_inputs(loaded, inst, spec, contract, target)
        for cap, provider in spec.connect.items():
            loc = (*at, "connect", cap)
            if cap not in contract.requires:
                hint = suggest(cap, contract.requires) or (
                    f"{spec.use} requires: {', '.join(contract.requires) or 'nothing'}")
                problems.append(Problem(loaded.where(*loc), f"components.{inst}.connect.{cap}",
                                        f"{spec.use} does not require {cap!r}", hint))
            if provider not in m.components:
                problems.append(Problem(loaded.where(*loc), f"components.{inst}.connect.{cap}",
                                        f"no component instance named {provider!r} in this stack",
                                        suggest(provider, m.components) or f"instances: {', '.join(m.components)}"))
        for i, dep in enumerate(spec.depends_on):
            if dep not in m.components or dep == inst:
                problems.append(Problem(loaded.where(*at, "depends_on", i), f"components.{inst}.depends_on[{i}]",
                                        f"{dep!r} is not another instance in this stack",
                                        suggest(dep, m.components) or f"instances: {', '.join(m.components)}"))
    provided = {cap for spec in m.components.values() if spec.use in catalog
                for cap in catalog[spec.use].provides}
    from .wiring import base_contract  # the wiring imports this module

    base = base_contract(loaded, catalog)
    provided |= set(base.provides) if base is not None else set()
    for i, name in enumerate(m.smoke.scenarios):
        loc = ("smoke", "scenarios", i)
        if name not in catalog.scenarios:
            problems.append(Problem(loaded.where(*loc), f"smoke.scenarios[{i}]", f"unknown scenario {name!r}",
                                    suggest(name, catalog.scenarios) or
                                    f"available: {', '.join(sorted(catalog.scenarios)) or 'none'}"))
            continue
        missing = [c for c in catalog.scenarios[name].requires if c not in provided]
        if missing:
            offered = sorted({p for c in missing for p in catalog.providers_of(c)})
            problems.append(Problem(loaded.where(*loc), f"smoke.scenarios[{i}]",
                                    f"{name} needs {', '.join(missing)}, which nothing in the stack provides",
                                    f"add components that provide them: {', '.join(offered)}"))
    if INFRA_INSTANCE in m.components:
        problems.append(Problem(loaded.where("components", INFRA_INSTANCE), f"components.{INFRA_INSTANCE}",
                                f"{INFRA_INSTANCE!r} is reserved: it names the target's base (on aws the network, "
                                "bucket and compute pool; on local the object store a stack without one gets)",
                                "rename the instance"))
    problems += _check_backend(loaded)
    from .targets import supported_target  # targets import the stack, which imports this module

    if supported_target(target):
        problems += supported_target(target).validate(loaded)
    if target not in TARGETS:  # pragma: no cover - the Literal already guards this
        problems.append(Problem(loaded.where("target", "kind"), "target.kind", f"unknown target {target!r}"))
    return problems


def _check_backend(loaded: LoadedManifest) -> list[Problem]:
    m = loaded.manifest
    if m.backend.kind == "local":
        return []
    if m.backend.kind != "s3":
        return [Problem(loaded.where("backend", "kind"), "backend.kind",
                        f"the {m.backend.kind} state backend is not available in this version of stackctl",
                        "use backend: {kind: local} (state in the stack's workdir) or {kind: s3, bucket: NAME}")]
    problems = []
    if not m.backend.bucket:
        problems.append(Problem(loaded.where("backend"), "backend.bucket", "the s3 backend needs a bucket",
                                "add `bucket: NAME` (an existing bucket you can write to) under backend"))
    elif not re.match(S3_BUCKET, m.backend.bucket):
        problems.append(Problem(loaded.where("backend", "bucket"), "backend.bucket",
                                "not a valid S3 bucket name", "3-63 lower-case letters, digits, dots and hyphens"))
    if not (m.backend.region or m.target.region):
        problems.append(Problem(loaded.where("backend"), "backend.region", "the s3 backend needs a region",
                                "add `region:` under backend (or target.region)"))
    return problems


def _instance_name_like(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower()).lstrip("0123456789_") or "app"


_PY_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "port": (int,)}


def _check_inputs(loaded, inst, spec, contract, target: str) -> list[Problem]:
    problems = []
    inputs: dict[str, InputSpec] = contract.inputs_for(target)
    for key, value in spec.with_.items():
        loc = ("components", inst, "with", key)
        fld = f"components.{inst}.with.{key}"
        if key in contract.inputs and key not in inputs:  # kept for the other target, so manifests move
            only = ", ".join(contract.inputs[key].targets)
            loaded.notes.append(f"{loaded.where(*loc)} {fld}: applies to target {only} only; ignored on {target}")
            continue
        if key not in inputs:
            hint = suggest(key, inputs) or (f"{spec.use} takes: {', '.join(inputs)}" if inputs
                                            else f"{spec.use} takes no inputs")
            problems.append(Problem(loaded.where(*loc), fld, "unknown input", hint))
            continue
        problems += [Problem(loaded.where(*loc), fld, msg, hint) for msg, hint in _check_value(value, inputs[key])]
    for key, ispec in inputs.items():
        if ispec.required and key not in spec.with_:
            problems.append(Problem(loaded.where("components", inst), f"components.{inst}.with.{key}",
                                    "is required", f"add `{key}:` under with ({ispec.description})"))
    return problems


def _check_value(value: Any, ispec: InputSpec) -> list[tuple[str, str | None]]:
    if ispec.type == "secret":
        if isinstance(value, dict) and set(value) == {"secret"}:
            try:
                SecretRef.model_validate(value)
            except ValidationError:
                return [("secret references look like {secret: env:VARIABLE_NAME}", None)]
            return []
        return [("secrets are references, never literals",
                 "write {secret: env:VARIABLE_NAME} and export the value in that variable")]
    if isinstance(value, dict) and "secret" in value:
        return [("only secret inputs take secret references", "give a literal value")]
    allowed = _PY_TYPES[ispec.type]
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        return [(f"must be {'an' if ispec.type[0] in 'aeiou' else 'a'} {ispec.type}, got {value!r}", None)]
    out = []
    if ispec.type == "port" and not 1 <= value <= 65535:
        out.append(("must be a port between 1 and 65535", "remove it to get a free port allocated"))
    if ispec.minimum is not None and value < ispec.minimum:
        out.append((f"must be >= {ispec.minimum:g}", None))
    if ispec.maximum is not None and value > ispec.maximum:
        out.append((f"must be <= {ispec.maximum:g}", None))
    if ispec.choices is not None and value not in ispec.choices:
        out.append((f"must be one of {', '.join(map(str, ispec.choices))}", None))
    return out
