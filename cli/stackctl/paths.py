"""stackctl's own directories: stack workdirs (data) and component environments (cache).

Both follow XDG rules via platformdirs; STACKCTL_HOME puts everything under one directory,
which is what tests and CI use to stay isolated.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    override = os.environ.get("STACKCTL_HOME")
    return Path(override).expanduser().resolve() if override else Path(platformdirs.user_data_dir("stackctl"))


def cache_dir() -> Path:
    override = os.environ.get("STACKCTL_HOME")
    if override:
        return Path(override).expanduser().resolve() / "cache"
    return Path(platformdirs.user_cache_dir("stackctl"))


def envs_dir() -> Path:
    """Cached component virtual environments, shared by every stack."""
    override = os.environ.get("STACKCTL_ENVS_DIR")
    return Path(override).expanduser().resolve() if override else cache_dir() / "envs"


def stacks_home() -> Path:
    return home() / "stacks"


def secrets_home() -> Path:
    """Generated secrets live outside the workdirs, so a rendered root never holds one."""
    return home() / "secrets"


def stack_workdir(name: str) -> Path:
    return stacks_home() / name
