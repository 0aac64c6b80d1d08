"""Preflight of the ssh target's hosts: each host's facts read in parallel, then OK / NO / UNKNOWN checks.

A host that cannot be reached, verified or logged into answers for that step (NO, with ssh's fix)
and UNKNOWN for the rest; GPUs are one check over all hosts, so a shortfall is one line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ...errors import StackctlError
from ..base import Check
from . import hostfacts
from .failures import SshError
from .transport import Transport

ARCHES = ("x86_64", "aarch64")
STEPS = ("reachable", "host key", "authenticated")  # the order ssh gets through them


@dataclass
class Needs:
    """What the stack asks of its hosts."""

    directory: str = "~/.stackctl"  # where environments and components go
    disk_bytes: int = 2 << 30
    python: tuple[int, int] = (3, 10)
    ports: dict[str, list[int]] = field(default_factory=dict)  # host -> ports its components listen on
    gpus: dict[str, int] = field(default_factory=dict)  # host -> GPUs its components ask for
    directories: dict[str, str] = field(default_factory=dict)  # host -> its own directory, instead of `directory`

    def directory_of(self, host: str) -> str:
        return self.directories.get(host, self.directory)


def preflight(transports: dict[str, Transport], needs: Needs) -> list[Check]:
    """Every host's checks (in the hosts' order), then the GPU check when any GPUs are asked for."""
    found = read_all(transports, needs.directory_of)
    checks = [c for name, facts in found.items() for c in host_checks(name, facts, needs)]
    if any(needs.gpus.values()):
        checks.append(gpu_check(found, needs.gpus))
    return checks


def read_all(transports: dict[str, Transport], directory_of) -> dict[str, hostfacts.Facts | StackctlError]:
    """Every host's facts (disk free under directory_of(host)), in parallel; a host's failure is its
    answer, not the others'."""
    def read(transport: Transport) -> hostfacts.Facts | StackctlError:
        try:
            return hostfacts.read(transport, directory_of(transport.host.name))
        except StackctlError as err:
            return err

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(transports)))) as pool:
        return dict(zip(transports, pool.map(read, transports.values()), strict=True))


def host_checks(name: str, facts: hostfacts.Facts | StackctlError, needs: Needs) -> list[Check]:
    if isinstance(facts, StackctlError):
        return _failed(name, facts)
    checks = [Check(f"{name} {step}", "OK") for step in STEPS]
    platform = f"{facts.system} {facts.arch}"
    checks.append(Check(f"{name} os/arch", "OK", platform) if facts.system == "Linux" and facts.arch in ARCHES else
                  Check(f"{name} os/arch", "NO", f"{platform or 'unknown'}: stackctl runs components on Linux "
                        f"{' or '.join(ARCHES)}", "use a Linux x86_64 or aarch64 host for this stack"))
    checks.append(_python(name, facts, needs.python))
    checks.append(_disk(name, facts, needs))
    checks += [_port(name, facts, port) for port in needs.ports.get(name, [])]
    return checks


def _failed(name: str, err: StackctlError) -> list[Check]:
    if not isinstance(err, SshError):  # logged in, but the facts script failed
        return [*(Check(f"{name} {s}", "OK") for s in STEPS),
                Check(f"{name} facts", "UNKNOWN", err.message, "run `uname -sm; command -v python3` there by hand")]
    step = err.check if err.check in STEPS else None
    if step is None:  # the user's ssh config
        return [Check(f"{name} reachable", "NO", err.message, err.hint)]
    done = STEPS.index(step)
    checks = [Check(f"{name} {s}", "OK") for s in STEPS[:done]]
    checks.append(Check(f"{name} {step}", "NO", err.message, err.hint))
    checks += [Check(f"{name} {s}", "UNKNOWN", f"not checked: {step} failed") for s in STEPS[done + 1:]]
    return checks


def _python(name: str, facts: hostfacts.Facts, need: tuple[int, int]) -> Check:
    want = ".".join(map(str, need))
    fix = (f"install Python >= {want} on {name} (Debian/Ubuntu: apt-get install python3) and put python3 on "
           "the PATH of ssh sessions (check: `command -v python3` over ssh)")
    if not facts.python:
        return Check(f"{name} python3", "NO", "no python3 on the PATH of ssh sessions", fix)
    if facts.python_version is None:
        return Check(f"{name} python3", "NO", f"{facts.python} did not print a Python version", fix)
    have = ".".join(map(str, facts.python_version))
    if facts.python_version[:2] < need:
        return Check(f"{name} python3", "NO", f"{facts.python} is Python {have}; components need >= {want}", fix)
    return Check(f"{name} python3", "OK", f"{facts.python} (Python {have})")


def _disk(name: str, facts: hostfacts.Facts, needs: Needs) -> Check:
    want = _gib(needs.disk_bytes)
    if facts.disk_free is None:
        return Check(f"{name} disk", "UNKNOWN", f"free space under {needs.directory_of(name)} not readable (df)",
                     f"check by hand, on {name}: df -h {facts.disk_dir or needs.directory_of(name)}")
    if facts.disk_free < needs.disk_bytes:
        return Check(f"{name} disk", "NO", f"{_gib(facts.disk_free)} free under {facts.disk_dir}; the stack needs "
                     f"{want}", f"free space on that file system, or choose another directory on {name}")
    return Check(f"{name} disk", "OK", f"{_gib(facts.disk_free)} free under {facts.disk_dir} (>= {want})")


def _port(name: str, facts: hostfacts.Facts, port: int) -> Check:
    if port in facts.ports:
        return Check(f"{name} port {port}", "NO", f"something already listens on port {port}",
                     f"see what, on {name}: ss -ltnp 'sport = :{port}'; stop it, or give the component another port")
    return Check(f"{name} port {port}", "OK", "free")


def gpu_check(found: dict[str, hostfacts.Facts | StackctlError], asked: dict[str, int]) -> Check:
    """One line for the stack: each host's ask against what its nvidia-smi shows."""
    wanted = {h: n for h, n in asked.items() if n}
    short, unknown = [], []
    for host, n in wanted.items():
        facts = found.get(host)
        if not isinstance(facts, hostfacts.Facts):
            unknown.append(host)
        elif len(facts.gpus) < n:
            short.append(host)
    what = "; ".join(f"{h} asked {n}, has {_has(found.get(h))}" for h, n in wanted.items())
    if short:
        return Check("gpus", "NO", f"not enough GPUs: {what}",
                     "ask for fewer (gpus: N), or place those components on hosts with free GPUs (on: HOST)")
    if unknown:
        return Check("gpus", "UNKNOWN", f"GPUs not read on {', '.join(unknown)}: {what}",
                     "fix those hosts' checks above first")
    return Check("gpus", "OK", what)


def _has(facts) -> str:
    if not isinstance(facts, hostfacts.Facts):
        return "unknown (not reached)"
    if facts.gpu_error:
        return f"none usable (nvidia-smi failed: {facts.gpu_error})"
    if not facts.nvidia_smi:
        return "none (no nvidia-smi)"
    if not facts.gpus:
        return "none"
    names = {}
    for gpu in facts.gpus:
        names[gpu.describe()] = names.get(gpu.describe(), 0) + 1
    return f"{len(facts.gpus)} (" + ", ".join(f"{n} x {d}" for d, n in names.items()) + ")"


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"
