"""Cached virtual environments for components, keyed by their pinned requirements.

One env per (sorted requirements, Python version), shared by every stack. uv builds it in a temp
dir that is renamed into place, so an interrupted build never looks complete; without uv,
`python -m venv` + pip build in place and only the ready marker (written last) says "done".
A file lock keeps two stacks from building the same env at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import paths
from ..errors import RuntimeFailure

READY = ".stackctl-ready"
# On an ssh target's (maybe air-gapped) host, the shipped wheelhouse and uv: install from that
# directory only, never from an index (see targets/ssh/ship.py, which sets both).
WHEELHOUSE_VAR = "STACKCTL_WHEELHOUSE"
UV_VAR = "STACKCTL_UV"
Progress = Callable[[str], None] | None


class EnvError(RuntimeFailure):
    """A component's environment could not be built (a requirement no index has, no network, a full disk)."""

    default_hint = ("check the component's runtime.requirements (names and versions) and that the package "
                    "index is reachable (PIP_INDEX_URL / UV_INDEX_URL); then run the command again")


def env_key(requirements: list[str]) -> str:
    payload = json.dumps({"requirements": sorted(requirements), "python": platform.python_version(),
                          "implementation": sys.implementation.name})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def env_path(requirements: list[str]) -> Path:
    return paths.envs_dir() / env_key(requirements)


def is_ready(env: Path) -> bool:
    return (env / READY).is_file()


def ensure_env(requirements: list[str], progress: Progress = None) -> Path:
    """Return the path of a ready env with `requirements` installed, building it if needed."""
    target = env_path(requirements)
    if is_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{target.name}.lock"):
        if is_ready(target):  # another process built it while we waited
            return target
        say = progress or (lambda _msg: None)
        say(f"building environment {target.name}: {' '.join(sorted(requirements))}")
        uv = _find_uv()
        if uv:
            _build_with_uv(uv, requirements, target)
        else:
            _build_with_pip(requirements, target)
        say(f"environment ready: {target}")
    return target


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _find_uv() -> str | None:
    if os.environ.get(UV_VAR):
        return os.environ[UV_VAR]
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _offline(uv: bool) -> list[str]:
    """The arguments that keep an install to the shipped wheelhouse, when there is one."""
    wheelhouse = os.environ.get(WHEELHOUSE_VAR)
    return [*(["--offline"] if uv else []), "--no-index", "--find-links", wheelhouse] if wheelhouse else []


# what uv and pip say when a wheelhouse lacks a requirement (or the version asked for)
_MISSING = re.compile(r"(\S+) was not found in the provided package locations|there is no version of (\S+?)[,\s]"
                      r"|No matching distribution found for (\S+)")


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        tail = "\n".join(output.splitlines()[-30:])
        # uv wraps its message at the terminal's width: search it as one line
        missing = _MISSING.search(" ".join(output.split())) if os.environ.get(WHEELHOUSE_VAR) else None
        if missing:
            raise EnvError(f"{what} failed: the wheelhouse {os.environ[WHEELHOUSE_VAR]} has no wheel for "
                           f"{next(g for g in missing.groups() if g)} (this host installs from it only)\n{tail}")
        raise EnvError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")


def _write_meta(env: Path, requirements: list[str]) -> None:
    (env / "stackctl-requirements.txt").write_text("".join(f"{r}\n" for r in sorted(requirements)))


def _build_with_uv(uv: str, requirements: list[str], target: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    try:
        # --relocatable: entry points find their interpreter relative to themselves, so the
        # env still works after the rename from its temp dir.
        _run([uv, "venv", "--quiet", "--relocatable", *_offline(True), "--python", sys.executable, str(tmp)],
             "uv venv")
        if requirements:
            _run([uv, "pip", "install", "--quiet", *_offline(True), "--python", str(tmp / "bin" / "python"),
                  *requirements], "uv pip install")
        _write_meta(tmp, requirements)
        (tmp / READY).write_text("")
        if target.exists():  # a leftover from an interrupted pip build
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build_with_pip(requirements: list[str], target: Path) -> None:
    # venv + pip envs are not relocatable (absolute shebangs): build in place, marker last.
    if target.exists():
        shutil.rmtree(target)
    try:
        _run([sys.executable, "-m", "venv", str(target)], "python -m venv")
        if requirements:
            _run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", *_offline(False), *requirements], "pip install")
        _write_meta(target, requirements)
        (target / READY).write_text("")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
