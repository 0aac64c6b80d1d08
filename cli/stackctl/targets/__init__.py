"""Targets: where a stack runs. Each target is one module; unknown or unfinished ones say so."""

from __future__ import annotations

from ..errors import UnsupportedError
from .base import Check, RootVariable, Target

__all__ = ["Check", "RootVariable", "Target", "get_target", "supported_target"]


def supported_target(kind: str) -> Target | None:
    if kind == "local":
        from .local import LocalTarget

        return LocalTarget()
    if kind == "aws":
        from .aws import AwsTarget

        return AwsTarget()
    return None


def get_target(kind: str) -> Target:
    target = supported_target(kind)
    if target is None:
        raise UnsupportedError(f"target {kind!r}", "this version of stackctl deploys to the local and aws targets",
                               "set target.kind: local or aws")
    return target
