"""What a host is, read in one round trip: OS and architecture, python3, free disk, listening ports, GPUs.

One POSIX sh script prints sections (`== name`); parsing happens here, where it can be unit tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .transport import Transport

GPU_QUERY = "nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader"

SCRIPT = f"""\
echo "== uname"; uname -sm
echo "== python3"
if p=$(command -v python3 2>/dev/null); then echo "$p"; "$p" -V 2>&1 | head -n 1; fi
echo "== disk"
d=$1
case $d in "~") d=$HOME;; "~/"*) d="$HOME/${{d#"~/"}}";; esac
while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
echo "$d"; df -Pk -- "$d" 2>&1 | tail -n 1
echo "== ports"
if command -v ss >/dev/null 2>&1; then ss -ltnH; else echo proc; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi
echo "== gpus"
if command -v nvidia-smi >/dev/null 2>&1; then
  out=$({GPU_QUERY} 2>&1); rc=$?; printf '%s\\n' "$out"; echo "rc=$rc"
else echo absent; fi
"""


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mib: int
    driver: str

    def describe(self) -> str:
        return f"{self.name} {self.memory_mib // 1024} GiB" if self.memory_mib else self.name


@dataclass
class Facts:
    system: str = ""  # `uname -s`: Linux
    arch: str = ""  # `uname -m`: x86_64, aarch64
    python: str | None = None  # path of python3 on the session's PATH
    python_version: tuple[int, ...] | None = None
    disk_dir: str = ""  # the nearest existing directory of the one asked about
    disk_free: int | None = None  # bytes
    ports: set[int] = field(default_factory=set)  # TCP ports something listens on
    nvidia_smi: bool = False
    gpus: list[Gpu] = field(default_factory=list)
    gpu_error: str | None = None  # nvidia-smi is there but failed (no driver loaded, ...)


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = out.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


def parse(text: str) -> Facts:
    found = sections(text)
    facts = Facts()
    uname = (found.get("uname") or [""])[0].split()
    facts.system, facts.arch = (uname + ["", ""])[:2]
    py = found.get("python3") or []
    if py:
        facts.python = py[0].strip()
        facts.python_version = python_version(py[1] if len(py) > 1 else "")
    disk = found.get("disk") or []
    if disk:
        facts.disk_dir = disk[0]
        facts.disk_free = df_free(disk[-1] if len(disk) > 1 else "")
    facts.ports = listening_ports(found.get("ports") or [])
    gpus = found.get("gpus") or ["absent"]
    if gpus[0].strip() != "absent":
        facts.nvidia_smi = True
        rc = gpus[-1].strip()
        if rc != "rc=0":
            facts.gpu_error = " ".join(line.strip() for line in gpus[:-1] if line.strip())[:200] or rc
        else:
            facts.gpus = nvidia_csv("\n".join(gpus[:-1]))
    return facts


def python_version(text: str) -> tuple[int, ...] | None:
    """'Python 3.11.2' -> (3, 11, 2); None when it is not a version (a broken shim, python 2)."""
    m = re.search(r"Python (\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def df_free(line: str) -> int | None:
    """Available bytes from the last line of `df -Pk`: Filesystem 1024-blocks Used Available Capacity Mounted."""
    parts = line.split()
    return int(parts[3]) * 1024 if len(parts) >= 6 and parts[3].isdigit() else None


def listening_ports(lines: list[str]) -> set[int]:
    """TCP ports in LISTEN, from `ss -ltnH` lines or (when the first line is `proc`) /proc/net/tcp{,6}."""
    ports = set()
    if lines and lines[0].strip() == "proc":
        for line in lines[1:]:
            cols = line.split()
            if len(cols) > 3 and cols[3] == "0A" and ":" in cols[1]:  # 0A: TCP_LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        return ports
    for line in lines:
        cols = line.split()
        if len(cols) >= 4:  # State Recv-Q Send-Q Local:Port Peer:Port
            port = cols[3].rsplit(":", 1)[-1]
            if port.isdigit():
                ports.add(int(port))
    return ports


def nvidia_csv(text: str) -> list[Gpu]:
    """`0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03` per line (names may hold commas: split at the ends)."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        head, _, rest = line.partition(",")
        name, memory, driver = (rest.rsplit(",", 2) + ["", ""])[:3] if rest.count(",") >= 2 else (rest, "", "")
        if not head.strip().isdigit():
            continue
        mib = re.match(r"\s*(\d+)", memory)
        gpus.append(Gpu(int(head), name.strip(), int(mib.group(1)) if mib else 0, driver.strip()))
    return gpus


def read(transport: Transport, directory: str, timeout: float = 60) -> Facts:
    """The host's facts (one ssh round trip); ssh's failures raise as the transport raises them."""
    return parse(transport.script(SCRIPT, directory, timeout=timeout, what="reading host facts").text)
