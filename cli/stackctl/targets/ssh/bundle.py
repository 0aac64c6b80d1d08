"""What an ssh target's host needs from the controller, built here and cached, content-addressed.

An air-gapped host has sshd, a shell, tar and python3. Everything else is built on the machine
stackctl runs on, for the host's Python and platform (its facts), from three cached parts:
- a wheelhouse per component requirement set: resolved for the host (`uv pip compile` with its Python
  version and platform, so markers such as `python_full_version < "3.11.3"` are the host's), then
  `pip download --no-deps` of that pinned list for the host's tags (wheels only, never built here),
- uv, the binary inside PyPI's `uv` wheel for the host's platform (the version stackctl uses here),
- stackctl's runtime: `stackctl/{__init__,errors,paths}.py` and `stackctl/runtime/` (what the supervisor
  imports) plus `platformdirs` (what paths.py imports), copied from the installed package.
Each part is built once under stackctl's cache dir, keyed by its inputs, in a temp dir renamed into
place (a killed build never looks done), under a file lock (concurrent `up`s build it once).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ... import paths
from ...errors import StackctlError, UnsupportedError

MIN_PYTHON = (3, 10)
MANIFEST = "stackctl-part.json"  # {relpath: [sha256, size, mode]} of a built part, written last
# manylinux_2_17 is the oldest tag of most arches; x86_64 and i686 wheels go back to 2_5 (manylinux1)
OLDEST_GLIBC_MINOR = {"x86_64": 5, "i686": 5}
LEGACY_ALIASES = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}  # PEP 600's older names
# what `uv pip compile --python-platform` names (uv 0.13): <arch>-manylinux_2_<minor> for these
UV_ARCHES = {"x86_64", "aarch64"}
UV_MANYLINUX_MINORS = [17, 28, *range(31, 41)]
MANYLINUX2014_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}
# of the stackctl package: the supervisor's imports
RUNTIME_MODULES = ["__init__.py", "errors.py", "paths.py", "runtime"]
RUNTIME_DEPENDENCIES = ["platformdirs"]  # third-party packages those import
Say = Callable[[str], None]


class ShipError(StackctlError):
    """Building or shipping what an ssh host needs failed; the message names the part and the fix."""


@dataclass(frozen=True)
class HostFacts:
    """What decides which wheels and which uv a host can use (read from the host: hostside.py facts)."""

    python: str  # "3.11"
    implementation: str  # sys.implementation.name: "cpython"
    machine: str  # `uname -m`: "x86_64", "aarch64"
    glibc: str | None  # "2.36"; None on musl or another libc
    python_full: str = ""  # "3.11.2": markers such as python_full_version < '3.11.3' (redis -> async-timeout)

    @classmethod
    def parse(cls, data: dict, host: str = "the host") -> HostFacts:
        facts = cls(str(data.get("python", "")), str(data.get("implementation", "")), str(data.get("machine", "")),
                    data.get("glibc") or None, str(data.get("python_full") or ""))
        if not re.fullmatch(r"3\.\d+", facts.python) or tuple(map(int, facts.python.split("."))) < MIN_PYTHON:
            raise ShipError(f"{host} has python3 {facts.python or '(unknown)'}; stackctl needs python3 >= 3.10 there",
                            "install python3.10 or newer on the host (e.g. `apt-get install python3`)")
        if facts.implementation != "cpython":
            raise UnsupportedError(f"an ssh host running {facts.implementation}",
                                   "wheelhouses are built for CPython", "make `python3` on the host CPython")
        if not facts.glibc or not re.fullmatch(r"2\.\d+", facts.glibc):
            raise UnsupportedError(f"an ssh host without glibc ({host}: {facts.machine})",
                                   "component wheels are built for manylinux (glibc) only, not musllinux",
                                   "use a glibc-based Linux distribution on the host")
        if not facts.platforms():
            raise UnsupportedError(f"{host}: glibc {facts.glibc} on {facts.machine}",
                                   "no manylinux wheels exist for a glibc that old", "upgrade the host's OS")
        return facts

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def platforms(self) -> list[str]:
        return manylinux_platforms(self.glibc or "", self.machine)

    def uv_platform(self) -> str | None:
        """uv's `--python-platform` for this host: the newest manylinux it names at or below the host's glibc."""
        minor = int((self.glibc or "2.0").split(".")[1])
        named = [m for m in UV_MANYLINUX_MINORS if m <= minor]
        return f"{self.machine}-manylinux_2_{named[-1]}" if named and self.machine in UV_ARCHES else None

    def pip_target(self) -> list[str]:
        """`pip download` options for this host: every one set, as pip's docs advise (each defaults to here)."""
        tags = [arg for plat in self.platforms() for arg in ("--platform", plat)]
        return ["--only-binary=:all:", "--python-version", self.python_full or self.python, "--implementation", "cp",
                "--abi", self.abi, *tags]  # pip adds abi3 and none to the abi given


def manylinux_platforms(glibc: str, machine: str) -> list[str]:
    """The manylinux platform tags a host with this glibc ("2.36") and arch can run, newest first."""
    major, minor = (int(p) for p in glibc.split(".")[:2])
    if major != 2:
        raise ValueError(f"glibc {glibc}: only glibc 2.x has manylinux tags")
    out = []
    for m in range(minor, OLDEST_GLIBC_MINOR.get(machine, 17) - 1, -1):
        out.append(f"manylinux_2_{m}_{machine}")
        alias = LEGACY_ALIASES.get(m)
        if alias and (machine in MANYLINUX2014_ARCHES if m == 17 else machine in OLDEST_GLIBC_MINOR):
            out.append(f"{alias}_{machine}")
    return out


def cache_key(**inputs) -> str:
    """A part's cache key: a hash of everything that decides its content (lists sorted where order is moot)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BundleFile:
    local: Path
    sha256: str
    size: int
    mode: int


@dataclass
class Bundle:
    """Everything one host needs, as files keyed by their path under the host's stackctl directory."""

    facts: HostFacts
    requirement_sets: list[list[str]]
    runtime: str  # the dir to put on PYTHONPATH (relative to the host's directory)
    uv: str  # the uv binary
    wheelhouse: str = "wheels"  # one flat directory: a wheel shared by components is sent once
    files: dict[str, BundleFile] = field(default_factory=dict)

    def add(self, prefix: str, part: Path) -> None:
        for rel, (sha, size, mode) in json.loads((part / MANIFEST).read_text()).items():
            dest = f"{prefix}/{rel}"
            if dest in self.files and self.files[dest].sha256 != sha:  # same wheel name, other bytes
                raise ShipError(f"two wheels named {rel} differ ({part} and {self.files[dest].local.parent})",
                                "clear stackctl's ship cache (`rm -r` that directory) and build again")
            self.files[dest] = BundleFile(part / rel, sha, size, mode)


def build(facts: HostFacts, requirement_sets: list[list[str]], say: Say = lambda _m: None) -> Bundle:
    """The bundle for a host with these facts and these component requirement sets (cached parts)."""
    runtime, runtime_key = runtime_part()
    uv_part = _uv_part(facts, say)
    sets = [list(r) for r in sorted({tuple(sorted(r)) for r in requirement_sets})]  # components may share one
    bundle = Bundle(facts, sets, f"runtime/{runtime_key}", f"uv/{uv_part.name}/uv")
    bundle.add(bundle.runtime, runtime)
    bundle.add(f"uv/{uv_part.name}", uv_part)
    for reqs in bundle.requirement_sets:
        bundle.add(bundle.wheelhouse, _wheelhouse_part(facts, reqs, say))
    return bundle


def ship_cache() -> Path:
    return paths.cache_dir() / "ship"


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield  # closing the file releases the lock, also when the process dies


def _cached(kind: str, key: str, make: Callable[[Path], None]) -> Path:
    """cache/ship/KIND/KEY, made once by `make(tmp_dir)` and renamed into place with its manifest."""
    target = ship_cache() / kind / key
    if (target / MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / f".{key}.lock"):
        if (target / MANIFEST).is_file():  # another process built it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        try:
            make(tmp)
            _write_manifest(tmp)
            if target.exists():  # a leftover without a manifest
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_manifest(part: Path) -> None:
    files = {}
    for path in sorted(p for p in part.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files[path.relative_to(part).as_posix()] = [hashlib.sha256(data).hexdigest(), len(data),
                                                    path.stat().st_mode & 0o755 | 0o600]
    (part / MANIFEST).write_text(json.dumps(files, indent=1, sort_keys=True))


def _pip_download(facts: HostFacts, reqs: list[str], dest: Path, what: str, no_deps: bool = False) -> None:
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(dest),
            *facts.pip_target(), *(["--no-deps"] if no_deps else []), *reqs]
    _run_tool(argv, facts, what, "download")


def _resolve_for_host(facts: HostFacts, reqs: list[str], what: str) -> list[str] | None:
    """The pinned closure of `reqs` on the host (its markers, not this machine's); None where uv cannot
    name the host's platform (then pip resolves, evaluating markers other than python_version here)."""
    platform = facts.uv_platform()
    if platform is None:
        return None
    from uv import find_uv_bin  # a dependency of stackctl: the uv it builds envs with

    with tempfile.TemporaryDirectory(prefix="stackctl-resolve-") as tmp:
        (Path(tmp) / "requirements.in").write_text("\n".join(reqs) + "\n")
        out = _run_tool([find_uv_bin(), "pip", "compile", "--quiet", "--no-header", "--no-annotate",
                         "--only-binary", ":all:", "--python-version", facts.python_full or facts.python,
                         "--python-platform", platform, str(Path(tmp) / "requirements.in")], facts, what, "resolve")
    return [line.strip() for line in out.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _run_tool(argv: list[str], facts: HostFacts, what: str, verb: str) -> str:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(line for line in (proc.stdout + proc.stderr).strip().splitlines()[-15:]
                         if not line.startswith("WARNING: Location"))
        raise ShipError(f"could not {verb} {what} for python {facts.python_full or facts.python} on "
                        f"{facts.platforms()[0]}:\n{tail}",
                        "check the requirement has wheels for that platform on PyPI, and that PyPI is reachable "
                        f"from here (pip and uv: PIP_INDEX_URL / UV_INDEX_URL); `python -m pip` must be installed "
                        f"in {sys.prefix}")
    return proc.stdout


def wheelhouse_key(facts: HostFacts, reqs: list[str]) -> str:
    # resolver: wheelhouses resolved here (markers of this machine) before uv resolved for the host are not reused
    return cache_key(requirements=sorted(reqs), python=facts.python_full or facts.python, abi=facts.abi,
                     platforms=facts.platforms(), resolver=facts.uv_platform() and "uv-for-host")


def uv_key(facts: HostFacts, version: str) -> str:
    return cache_key(uv=version, platforms=facts.platforms())


def _wheelhouse_part(facts: HostFacts, reqs: list[str], say: Say) -> Path:
    key = wheelhouse_key(facts, reqs)

    def make(tmp: Path) -> None:
        what = " ".join(reqs)
        say(f"downloading wheels for {what} (python {facts.python_full or facts.python}, {facts.platforms()[0]})")
        pinned = _resolve_for_host(facts, reqs, what)
        _pip_download(facts, pinned or reqs, tmp, what, no_deps=pinned is not None)

    return _cached("wheels", key, make)


def _uv_part(facts: HostFacts, say: Say) -> Path:
    version = importlib.metadata.version("uv")  # the uv stackctl builds envs with here
    key = uv_key(facts, version)

    def make(tmp: Path) -> None:
        say(f"downloading uv {version} for {facts.platforms()[0]}")
        wheels = tmp / "wheel"
        _pip_download(facts, [f"uv=={version}"], wheels, f"uv {version}", no_deps=True)
        with zipfile.ZipFile(next(wheels.glob("uv-*.whl"))) as whl:
            (tmp / "uv").write_bytes(whl.read(f"uv-{version}.data/scripts/uv"))
        (tmp / "uv").chmod(0o755)
        shutil.rmtree(wheels)

    return _cached("uv", key, make)


def runtime_sources() -> dict[str, Path]:
    """The runtime's files, by their path on PYTHONPATH, from the installed package (a checkout or a wheel)."""
    out: dict[str, Path] = {}
    package = Path(importlib.util.find_spec("stackctl").origin).parent
    roots = [(package / name, f"stackctl/{name}") for name in RUNTIME_MODULES]
    for dep in RUNTIME_DEPENDENCIES:
        roots.append((Path(importlib.util.find_spec(dep).origin).parent, dep))
    for src, rel in roots:
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" not in path.parts:
                out[rel if path == src else f"{rel}/{path.relative_to(src).as_posix()}"] = path
    return out


def runtime_part() -> tuple[Path, str]:
    """The cached runtime tree and its key (a hash of its files: a new stackctl ships a new runtime)."""
    sources = runtime_sources()
    digest = hashlib.sha256()
    for rel, path in sorted(sources.items()):
        digest.update(f"{rel}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    key = digest.hexdigest()[:16]

    def make(tmp: Path) -> None:
        for rel, path in sources.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tmp / rel)

    return _cached("runtime", key, make), key
