"""Stack manifests (apiVersion stackctl/v1): pydantic models and the checks of the document itself.

The catalog's checks are in check.py, the target's in its own package; stack.load_stack runs all three.
Every problem is reported at once, as `file:line field: message` with a fix, never a traceback.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic_core import PydanticCustomError

from . import backends, yamlsrc
from .errors import ManifestError, Problem, quote
from .pydantic_errors import problems_from, suggest
from .targets import registry
from .targets.config import ENDPOINT, TargetConfig
from .yamlsrc import field_path

DNS_LABEL = r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
DNS_LABEL_WORDS = "a DNS label: lower-case letters, digits and '-', starting with a letter, at most 63 characters"
INSTANCE_NAME = r"^[a-z][a-z0-9_]{0,62}$"  # becomes a Terraform module name and variable prefix
SECRET_REF = re.compile(r"^(env):([A-Za-z_][A-Za-z0-9_]*)$")
DURATION = re.compile(r"^(\d+)([smhd])$")
INFRA_INSTANCE = "infra"  # the instance name of a target's base module (modules/_infra/<target>)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretRef(_Strict):
    secret: str = Field(description="where the value comes from, e.g. env:TECTON_API_KEY")

    @field_validator("secret")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not SECRET_REF.match(v):
            raise PydanticCustomError("secret_ref", "a reference like env:VARIABLE_NAME",
                                      {"fix": "write {secret: env:VARIABLE_NAME} and export the value in it"})
        return v


class ComponentSpec(_Strict):
    use: str = Field(description="catalog component, see `stackctl catalog`")
    version: str | None = Field(None, description="component version; the contract's default when unset")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="inputs, checked against the contract")
    connect: dict[str, str] = Field(default_factory=dict, description="capability -> instance that provides it")
    depends_on: list[str] = Field(default_factory=list, description="instances to create first")
    on: str | None = Field(None, min_length=1,
                           description="ssh target: the host it runs on (a name under target.hosts)")
    gpus: int = Field(0, ge=0, description="GPUs it needs (CUDA_VISIBLE_DEVICES on its host)")


def _target_model():
    """`target` is one model per registered target, told apart by `kind` (a field of another is an error)."""
    models = tuple(registry.config_of(kind) for kind in registry.kinds())
    return models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


TargetSection = _target_model()
# for messages about a `target:` whose kind is missing or unknown: what kind may be
AnyTarget = create_model("Target", __base__=TargetConfig, kind=(Literal[registry.kinds()], Field(
    description=f"where the stack runs: {' or '.join(registry.kinds())}")))


class Backend(_Strict):
    kind: Literal[backends.KINDS] = Field(backends.LOCAL, description="where Terraform state lives")
    bucket: str | None = Field(None, description="s3: an existing bucket for the state")
    region: str | None = Field(None, description="s3: the bucket's region; target.region when unset")


class Metadata(_Strict):
    name: str = Field(pattern=DNS_LABEL, description="DNS label; keys the stack's workdir and state")
    labels: dict[str, str] = Field(default_factory=dict, description="free-form key: text pairs, e.g. owner: me")
    ttl: str | None = Field(None, description="e.g. 8h; `stackctl reap` destroys stacks past it")

    @field_validator("ttl")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None and not DURATION.match(v):
            raise PydanticCustomError("duration", "a duration like 30m, 8h or 2d",
                                      {"fix": "write a whole number and a unit (s, m, h or d), e.g. `ttl: 8h`"})
        return v


class SmokeSettings(_Strict):
    timeout: str = Field("10m", description="overall time for the smoke tests")
    enabled: bool = Field(True, description="false skips the smoke tests")
    scenarios: list[str] = Field(default_factory=list,
                                 description="stack-level smoke tests run after the components' own, e.g. golden-path")

    @field_validator("timeout")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not DURATION.match(v):
            raise PydanticCustomError("duration", "a duration like 90s or 10m",
                                      {"fix": "write a whole number and a unit (s, m, h or d), e.g. `timeout: 10m`"})
        return v

    @property
    def timeout_seconds(self) -> float:
        return duration_seconds(self.timeout)


class Manifest(_Strict):
    apiVersion: Literal["stackctl/v1"] = Field(description="manifest format version")
    kind: Literal["Stack"] = Field(description="the kind of document: a Stack")
    metadata: Metadata = Field(description="the stack's name, labels and ttl")
    target: TargetSection = Field(
        description="where the stack runs: `kind: local` (this machine) or a cloud",
        # besides oneOf: a wrong kind is reported at target.kind, and editors offer the kinds
        json_schema_extra={"properties": {"kind": {"enum": list(registry.kinds())}}, "required": ["kind"]})
    backend: Backend = Field(default_factory=Backend, description="where Terraform keeps the state")
    components: dict[str, ComponentSpec] = Field(min_length=1, description=(
        "instance name -> catalog component, e.g. `tracking: {use: mlflow}` (see `stackctl catalog`)"))
    smoke: SmokeSettings = Field(default_factory=SmokeSettings, description="the smoke tests after `up`")


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

    def problem(self, loc: tuple, message: str, hint: str | None) -> Problem:
        return Problem(self.doc.where(loc), field_path(loc), message, hint)


_MODELS = {(): Manifest, ("metadata",): Metadata, ("backend",): Backend, ("smoke",): SmokeSettings}
_PATTERNS = {
    DNS_LABEL: (DNS_LABEL_WORDS, lambda v: f"rename it, e.g. {dns_label_like(v)}"),
    ENDPOINT: ("an http:// or https:// URL without spaces", lambda v: "write e.g. `endpoint: http://127.0.0.1:5000`"),
}


def models_of(data: Any):
    """model_at(loc): the model that validates the mapping at `loc` of this document (for keys,
    descriptions and choices); under `target`, the model of the kind the document names."""
    def model_at(loc: tuple) -> type[BaseModel] | None:
        if len(loc) == 2 and loc[0] == "components":
            return ComponentSpec
        if loc[:1] == ("target",):
            model = target_model(data)
            for part in loc[1:]:
                model = _nested(model, part)
            return model if isinstance(model, type) else None
        return _MODELS.get(tuple(loc))
    return model_at


def target_model(data: Any) -> type[BaseModel]:
    """The target model a document's `target.kind` picks; AnyTarget when it names no registered kind."""
    section = data.get("target") if isinstance(data, dict) else None
    kind = section.get("kind") if isinstance(section, dict) else None
    return registry.config_of(kind) if isinstance(kind, str) and kind in registry.kinds() else AnyTarget


def _nested(model, key):
    """The model one key down; a name -> model map (e.g. ssh's hosts) is a tuple: its values' model."""
    if isinstance(model, tuple):
        return model[0]
    fld = model.model_fields.get(key) if model is not None else None
    kinds = typing.get_args(fld.annotation) or (fld.annotation,) if fld is not None else ()
    found = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    return (found,) if found is not None and typing.get_origin(fld.annotation) is dict else found


def _other_targets_field(data: Any):
    """A key under `target` that another kind takes: say so, and how to move (e.g. gpu on local)."""
    def explain(e: dict, loc: tuple) -> tuple[str, str] | None:
        if e["type"] != "extra_forbidden" or len(loc) != 2 or loc[0] != "target":
            return None
        kind = data["target"]["kind"]
        owners = [k for k in registry.kinds() if k != kind and loc[1] in registry.config_of(k).model_fields]
        if not owners:
            return None
        whose = f"{'an' if owners[0][0] in 'aeiou' else 'a'} {owners[0]}" if len(owners) == 1 else \
            f"a {', '.join(owners)}"
        return f"kind {kind} takes no field {loc[1]} (it is {whose} field)", f"remove it or set kind: {owners[0]}"
    return explain


def dns_label_like(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", str(text).lower()).lstrip("0123456789-")[:63].strip("-")
    return label or "my-stack"


def load_manifest(path: Path) -> LoadedManifest:
    """The document, checked against the models; the catalog and the target check it next (check.py)."""
    doc = yamlsrc.load(path, what="stack manifest")
    if not isinstance(doc.data, dict):
        raise ManifestError([Problem(doc.where(()), "", "a stack manifest is a mapping",
                                     "start from `stackctl init`")], source=doc.display)
    try:
        manifest = Manifest.model_validate(doc.data)
    except ValidationError as err:
        problems = problems_from(err, doc, model_at=models_of(doc.data), patterns=_PATTERNS,
                                 tagged=[("target",)] if len(registry.kinds()) > 1 else [],
                                 explain=_other_targets_field(doc.data))
        raise ManifestError(problems, source=doc.display) from None
    return LoadedManifest(manifest, doc)


def document_problems(loaded: LoadedManifest) -> list[Problem]:
    """What is wrong within the document itself: instance names, references between instances, the backend."""
    m, problems = loaded.manifest, []
    for inst, spec in m.components.items():
        at = ("components", inst)
        if not re.match(INSTANCE_NAME, inst):
            problems.append(loaded.problem(at, f"got {quote(inst)}; instance names are lower-case letters, digits and "
                                           "_, starting with a letter (they name Terraform modules)",
                                           f"rename it, e.g. {_instance_name_like(inst)}"))
        for cap, provider in spec.connect.items():
            if provider not in m.components:
                problems.append(loaded.problem(
                    (*at, "connect", cap), f"no component instance named {quote(provider)} in this stack",
                    suggest(provider, m.components) or f"connect one of: {', '.join(m.components)}"))
        for i, dep in enumerate(spec.depends_on):
            if dep not in m.components or dep == inst:
                problems.append(loaded.problem(
                    (*at, "depends_on", i), f"{quote(dep)} is not another instance in this stack",
                    suggest(dep, m.components) or f"name one of: {', '.join(set(m.components) - {inst}) or 'none'}"))
        if spec.on is not None and not registry.target_class(m.target.kind).places_on_hosts:
            hosted = [k for k in registry.kinds() if registry.target_class(k).places_on_hosts]
            problems.append(loaded.problem((*at, "on"), f"kind {m.target.kind} has no hosts to place "
                                           f"{inst} on (on: is for the {' and '.join(hosted)} target)",
                                           f"remove `on: {spec.on}`, or set target.kind: {hosted[0]} with hosts"))
    if INFRA_INSTANCE in m.components:
        problems.append(Problem(loaded.where("components", INFRA_INSTANCE), f"components.{INFRA_INSTANCE}",
                                f"{INFRA_INSTANCE!r} is reserved: it names the target's base (on aws the network, "
                                "bucket and compute pool; on local the object store a stack without one gets)",
                                "rename the instance"))
    problems += backends.manifest_problems(loaded)
    return problems


def _instance_name_like(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower()).lstrip("0123456789_")[:63] or "app"
