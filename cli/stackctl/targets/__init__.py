"""Targets: where a stack runs. One package per target (`targets/<kind>/`), listed in registry.py."""

from __future__ import annotations

from .registry import get_target

__all__ = ["get_target"]
