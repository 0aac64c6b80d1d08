"""Targets: where a stack runs. Each target is one module; unknown or unfinished ones say so."""

from __future__ import annotations

from ..errors import UnsupportedError
from .base import Check, RootVariable, Target

__all__ = ["Check", "RootVariable", "Target", "get_target"]


def get_target(kind: str) -> Target:
    if kind == "local":
        from .local import LocalTarget

        return LocalTarget()
    raise UnsupportedError(f"target {kind!r}", "this version of stackctl deploys to the local target only",
                           "set target.kind: local")
