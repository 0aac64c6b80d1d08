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


def plugin_cache_dir() -> Path:
    """Terraform's provider plugin cache (TF_PLUGIN_CACHE_DIR), shared by every stack: a stack's `init`
    links the providers installed there instead of unpacking or downloading them again."""
    return cache_dir() / "plugins"


def stacks_home() -> Path:
    return home() / "stacks"


def secrets_home() -> Path:
    """Generated secrets live outside the workdirs, so a rendered root never holds one."""
    return home() / "secrets"


def stack_workdir(name: str) -> Path:
    return stacks_home() / name


def private_dir(path: Path) -> Path:
    """Create `path` 0700, and every missing directory between stackctl's home and it (home included)."""
    top = home()
    chain = [path, *path.parents]
    inside = [p for p in chain if p == top or top in p.parents] if (path == top or top in path.parents) else [path]
    for p in reversed(inside):
        if not p.is_dir():
            p.mkdir(mode=0o700, parents=True, exist_ok=True)
        if p.stat().st_mode & 0o077:  # new (mkdir's mode is filtered by the umask), or made by an older version
            p.chmod(0o700)
    return path


def tighten(root: Path) -> int:
    """Drop group/other bits from a tree made by an older stackctl (or copied with its modes); returns
    how many entries changed. Owner bits stay: provider binaries keep their execute bit."""
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            try:
                st = os.lstat(entry)
            except OSError:
                continue
            if st.st_mode & 0o077 and not os.path.islink(entry):
                os.chmod(entry, st.st_mode & 0o700)
                changed += 1
    return changed


SOCKET_PARENT_MAX = 64  # + a socket dir and name ("/stackctl-pg-XXXXXXXX/.s.PGSQL.65535") under 108 bytes


def socket_parent(private: str | Path) -> str:
    """Where unix sockets go: a private dir, unless its path is too long for a socket's (108 bytes, with the
    names under it); then the system's /tmp, in a 0700 dir (or a random name) of their own while needed."""
    return str(private) if len(str(private)) <= SOCKET_PARENT_MAX else "/tmp"
