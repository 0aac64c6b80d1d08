"""What every target tells the renderer and the lifecycle. One subclass per target, small files."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ..datatypes import Check, RootVariable
from .config import TargetConfig

if TYPE_CHECKING:
    from ..stack import Stack


class Target:
    kind: str = ""
    clean_message = "nothing left"  # what `down` says once leftovers() found nothing
    # a catalog component that stands in as the base (`infra`) when no component provides what it does
    base_component: str | None = None
    module_variables: tuple[str, ...] = ()  # what module_arguments() passes every component module
    modules = ""  # the catalog's module folder it deploys (modules/<comp>/<modules>/); "": its kind
    places_on_hosts = False  # components may say `on: HOST` (a host the target's section names)
    needs_runtime = False  # its component modules run from the contract's runtime (a cached virtualenv)
    config: type[TargetConfig] | None = None  # its manifest model (targets/<kind>/config.py); None: kind only
    starter = ""  # the manifest's target section (and components) `stackctl init --target <kind>` writes

    @property
    def module_kind(self) -> str:
        return self.modules or self.kind

    def validate(self, loaded) -> list:
        """Target-specific manifest problems (e.g. a region or GPU type the target does not know)."""
        return []

    def infra_inputs(self, manifest) -> dict[str, Any]:
        """Inputs of the target's base module (modules/_infra/<target>), from the manifest's target section."""
        return {}

    def late_inputs(self, stack: Stack) -> dict[str, dict[str, Any]]:
        """Per instance, inputs known only once the target's SDK may be asked (render, never validate)."""
        return {}

    def module_arguments(self, stack: Stack, instance: str) -> list[tuple[str, str]]:
        """Extra arguments every module of this target takes (HCL expressions)."""
        return []

    def root_variables(self) -> list[RootVariable]:
        return []

    def root_values(self, stack: Stack) -> dict[str, Any]:
        return {}

    def required_providers(self) -> dict[str, tuple[str, str]]:
        """Provider name -> (source, version constraint); none for the local target."""
        return {}

    def provider_config(self) -> str:
        """Static provider blocks (values come from root variables, never from the template)."""
        return ""

    def identity(self, stack: Stack | None = None) -> str:
        """Who is deploying, as recorded with the stack."""
        return ""

    def owner_mismatch(self, stack: Stack, recorded: str) -> str | None:
        """Why the current identity may not change a stack created by `recorded`; None when it may."""
        return None

    def preflight(self, stack: Stack) -> list[Check]:
        return []

    def prepare(self, stack: Stack, console) -> None:
        """Work before Terraform runs (the local target builds component environments)."""

    def drifted(self, stack: Stack) -> list[str]:
        """Instances whose real state no longer matches Terraform's (e.g. a stopped process)."""
        return []

    def replace_addresses(self, instances: list[str]) -> list[str]:
        return [f"module.{i}.terraform_data.this" for i in instances]

    def progress(self, stack: Stack, instance: str, since: float) -> str | None:
        """The step an instance's start or stop is at, if the target reports one written after `since`."""
        return None

    def stopping(self, stack: Stack) -> contextlib.AbstractContextManager:
        """During `down`, around init and destroy: stop what the target can stop all at once."""
        return contextlib.nullcontext()

    def sweep(self, stack: Stack, say) -> None:
        """After destroy: remove what Terraform could not know it still had (e.g. interrupted starts)."""

    def leftovers(self, stack: Stack) -> list[str]:
        """After destroy: what is still there (processes, ports, cloud resources). Empty = clean."""
        return []

    def log_on_host(self, stack: Stack, instance: str):
        """(Transport, path) of an instance's log on another machine; None: the log is a file here."""
        return None

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        return {}

    def smoke_skip_reason(self, stack: Stack, instance: str | None) -> str | None:
        """Why an instance's probes (None: the stack's scenarios) cannot run here, if they cannot."""
        return None

    def smoke_fail_reason(self, stack: Stack, instance: str) -> str | None:
        """Why an instance fails its smoke tests before any probe runs (e.g. its process is not whole)."""
        return None

    def smoke_context(self, stack: Stack, instance: str) -> dict[str, Any]:
        """More context for an instance's python probes."""
        return {}

    def smoke_python(self, stack: Stack, instance: str) -> str:
        """The interpreter of an instance's python probes: its component environment, if it has one."""
        import sys

        from ..runtime import envs

        reqs = stack.components[instance].requirements()
        return str(envs.ensure_env(reqs) / "bin" / "python") if reqs else sys.executable
