"""What of an ssh stack is on its hosts: after `down`, its processes, ports and files, checked on each host."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...errors import StackctlError
from ..local.inventory import Inventory as LocalInventory
from . import hostfacts
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


class Inventory:
    replace_addresses = LocalInventory.replace_addresses

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
