"""What of an ssh stack is on its hosts: after `down`, its processes, ports and files, checked on each host."""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...errors import StackctlError
from ..local.inventory import Inventory as LocalInventory
from . import bundle, hostfacts
from .render import stack_dir
from .supervise import host_root

if TYPE_CHECKING:
    from ...stack import Stack

# $1 = the stack's directory on the host: a process working in it is the stack's (the supervisor
# starts each one in its run dir), and the directory itself is its files
FIND = """d="$1"
for p in /proc/[0-9]*; do
  c=$(readlink "$p/cwd" 2>/dev/null) || continue
  case "$c" in "$d"|"$d"/*) echo "process ${p#/proc/} (in $c)";; esac
done
if [ -e "$d" ]; then echo "files in $d"; fi
"""

# $1 = the shipped runtime, then run dirs: one process_status JSON line each (stopped if never shipped)
STATUS = """r="$1"; shift
for d in "$@"; do
  PYTHONPATH="$r" python3 -m stackctl.runtime status "$d" 2>/dev/null || echo '{"state": "stopped", "pid": null}'
done
"""

# run dirs -> the host's clock, then per run dir "MTIME STEP" of its progress file (or "-"): the step a
# start or stop is at, as the supervisor writes it there (runtime.supervisor.PROGRESS_FILE)
PROGRESS = """import os, sys, time
print(time.time())
for d in sys.argv[1:]:
    try:
        with open(os.path.join(d, 'progress')) as f:
            print(os.fstat(f.fileno()).st_mtime, f.readline().strip())
    except OSError:
        print('-')
"""
PROGRESS_EVERY = 1.0  # seconds: a view polling many times a second costs one ssh command a host


class Inventory:
    replace_addresses = LocalInventory.replace_addresses

    def progress(self, stack: Stack, instance: str, since: float) -> str | None:
        """The step an instance's start or stop is at on its host, read with its host's other instances."""
        host = self.placement(stack)[instance]
        with self._steps_lock:  # rich's refresh thread and Terraform's events both ask
            read_at, steps = self._steps.get(host, (0.0, {}))
            if time.monotonic() - read_at >= PROGRESS_EVERY:
                steps = self._read_steps(stack, host)
                self._steps[host] = (time.monotonic(), steps)
        mtime, step = steps.get(instance, (0.0, None))
        return step if step and mtime >= since else None

    def _read_steps(self, stack: Stack, host: str) -> dict[str, tuple[float, str]]:
        """Instance -> (when its step was written, by this machine's clock, the step); empty if unreadable."""
        insts = [i for i, h in self.placement(stack).items() if h == host]
        try:
            if host not in self._step_hosts:  # one Transport a host: its shared connection is checked once
                transport = self.transports(stack)[host]
                root = host_root(transport, stack.loaded.manifest.target.hosts[host].directory)
                self._step_hosts[host] = (transport, f"{root}/{stack_dir(stack)}/run")
            transport, run = self._step_hosts[host]
            asked = time.time()
            out = transport.run(f"python3 -c {shlex.quote(PROGRESS)} " + " ".join(
                shlex.quote(f"{run}/{i}") for i in insts), timeout=10, what="reading progress").text.splitlines()
        except StackctlError:
            return {}  # a view's nicety: Terraform's own output shows instead
        if len(out) != len(insts) + 1:
            return {}
        skew = float(out[0]) - asked  # the host's clock may differ from ours
        steps = {i: line.split(" ", 1) for i, line in zip(insts, out[1:], strict=True) if " " in line}
        return {i: (float(mtime) - skew, step) for i, (mtime, step) in steps.items()}

    def _on_hosts(self, stack: Stack, job) -> dict[str, list[str]]:
        """job(name, transport, stack dir) on every host, in parallel; a host that fails says so."""
        target = stack.loaded.manifest.target
        transports = self.transports(stack)

        def one(name: str) -> list[str]:
            try:
                transport = transports[name]
                return job(name, transport, f"{host_root(transport, target.hosts[name].directory)}/{stack_dir(stack)}")
            except StackctlError as err:
                return [f"not checked: {err.message}"]

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(transports)))) as pool:
            return dict(zip(transports, pool.map(one, transports), strict=True))

    def sweep(self, stack: Stack, say) -> None:
        """After destroy: the stack's files on every host (environments stay, shared with other stacks)."""
        def remove(name, transport, directory):
            transport.run(f"rm -rf -- '{directory}'", what=f"removing {directory}")
            return []

        for name, problems in self._on_hosts(stack, remove).items():
            for problem in problems:
                say(f"  {name}: {problem}")

    def leftovers(self, stack: Stack) -> list[str]:
        record = stack.workdir.load_record()
        placement = self.placement(stack)
        ports = {}
        for inst, named in (record.ports if record else {}).items():
            if inst in placement:
                ports.setdefault(placement[inst], []).extend((p, f"{inst} {n}") for n, p in named.items())

        def find(name, transport, directory):
            found = transport.script(FIND, directory, what="looking for the stack's processes").text.splitlines()
            listening = hostfacts.read(transport, "/").ports
            return found + [f"port {p} ({what}) still open" for p, what in ports.get(name, []) if p in listening]

        return [f"{name}: {line}" for name, lines in self._on_hosts(stack, find).items() for line in lines]

    def statuses(self, stack: Stack, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Instance -> its supervisor's process_status on its host (read once per command unless fresh)."""
        if fresh or getattr(self, "_statuses", None) is None:
            placement, runtime = self.placement(stack), bundle.runtime_part()[1]

            def read(name, transport, directory):
                insts = [i for i, h in placement.items() if h == name]
                if not insts:
                    return []
                root = directory.rsplit(f"/{stack_dir(stack)}", 1)[0]
                out = transport.script(STATUS, f"{root}/runtime/{runtime}", *(f"{directory}/run/{i}" for i in insts),
                                       what="reading the stack's processes").text.splitlines()
                return list(zip(insts, map(json.loads, out), strict=True))

            found = self._on_hosts(stack, read)
            # a host that could not be read has lines, not pairs: its components' state is unknown
            self._statuses = {p[0]: p[1] for pairs in found.values() for p in pairs if isinstance(p, tuple)}
        return self._statuses

    def drifted(self, stack: Stack) -> list[str]:
        """Components whose process on their host is gone (the next `up` replaces them, alone)."""
        return [i for i, s in self.statuses(stack, fresh=True).items() if s["state"] in ("dead", "broken")]

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        from ...runtime.supervisor import describe_status

        status = self.statuses(stack).get(instance, {"state": "unknown", "pid": None})
        host = self.placement(stack)[instance]
        directory = stack.loaded.manifest.target.hosts[host].directory
        return {"host": host, "state": status["state"], "pid": status["pid"],
                "health": status.get("health") if status["state"] == "running" else (
                    describe_status(status) if status["state"] in ("dead", "broken") else None),
                "log": f"{host}:{directory}/{stack_dir(stack)}/logs/{instance}.log"}

    def log_on_host(self, stack: Stack, instance: str):
        name = self.placement(stack)[instance]
        transport = self.transports(stack)[name]
        root = host_root(transport, stack.loaded.manifest.target.hosts[name].directory)
        return transport, f"{root}/{stack_dir(stack)}/logs/{instance}.log"
