"""Where the bundled modules, templates and stacks live: inside the wheel, or in the checkout."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def bundle_root() -> Path:
    installed = _PACKAGE_DIR / "_bundle"  # wheel: force-included by pyproject.toml
    if (installed / "modules").is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent.parent  # editable install or source tree: cli/stackctl -> repo root
    return checkout


def modules_dir() -> Path:
    """Component modules; STACKCTL_MODULES_DIR points stackctl at another catalog (your own components)."""
    override = os.environ.get("STACKCTL_MODULES_DIR")
    return Path(override).resolve() if override else bundle_root() / "modules"


def modules_lib() -> Path:
    """Python helpers shared by the bundled components' scripts (stackctl_smoke)."""
    return bundle_root() / "modules" / "_lib"


def capabilities_file() -> Path:
    return bundle_root() / "modules" / "capabilities.yaml"


def templates_dir() -> Path:
    return bundle_root() / "templates"


def stacks_dir() -> Path:
    return bundle_root() / "stacks"


def default_stack() -> Path:
    return stacks_dir() / "local.yaml"
