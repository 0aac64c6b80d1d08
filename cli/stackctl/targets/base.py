"""What every target tells the renderer and the lifecycle. One subclass per target, small files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..stack import Stack


@dataclass
class RootVariable:
    name: str
    type: str
    description: str
    sensitive: bool = False


@dataclass
class Check:
    """A preflight answer: OK / NO / UNKNOWN, with a fix-it hint when not OK."""

    name: str
    status: str  # "OK" | "NO" | "UNKNOWN"
    detail: str = ""
    hint: str | None = None


class Target:
    kind: str = ""

    def module_arguments(self, instance: str) -> list[tuple[str, str]]:
        """Extra arguments every module of this target takes (HCL expressions)."""
        return []

    def root_variables(self) -> list[RootVariable]:
        return []

    def root_values(self, stack: Stack) -> dict[str, Any]:
        return {}

    def backend_block(self, stack: Stack) -> str | None:
        return None  # local state in the rendered root

    def identity(self) -> str:
        return ""

    def preflight(self, stack: Stack) -> list[Check]:
        return []

    def prepare(self, stack: Stack, console) -> None:
        """Work before Terraform runs (the local target builds component environments)."""

    def drifted(self, stack: Stack) -> list[str]:
        """Instances whose real state no longer matches Terraform's (e.g. a stopped process)."""
        return []

    def replace_addresses(self, instances: list[str]) -> list[str]:
        return [f"module.{i}.terraform_data.this" for i in instances]

    def sweep(self, stack: Stack, say) -> None:
        """After destroy: remove what Terraform could not know it still had (e.g. interrupted starts)."""

    def leftovers(self, stack: Stack) -> list[str]:
        """After destroy: what is still there (processes, ports, cloud resources). Empty = clean."""
        return []

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        return {}
