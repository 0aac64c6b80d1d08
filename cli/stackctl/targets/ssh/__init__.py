"""The ssh target: the user's own (maybe air-gapped) machines, reached with their OpenSSH client.

The same component modules as local (modules/<comp>/local/): each host runs stackctl's supervisor,
which starts, checks and stops the processes there exactly as it does on this machine. Components are
placed on hosts by `on:` or by placement.py's rule.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..base import Target
from .config import STARTER, SshConfig
from .hostfacts import Facts
from .inventory import Inventory
from .placement import Ask, gpus_asked, needs_gpu_facts, place
from .preflight import Needs, preflight, read_all
from .problems import problems
from .render import Render
from .transport import Transport

if TYPE_CHECKING:
    from ...stack import Stack


class SshTarget(Render, Inventory, Target):
    kind = "ssh"
    modules = "local"
    places_on_hosts = True
    clean_message = "no process, port or file of the stack left on any host"
    base_component = "seaweedfs"  # as on local: the object store a stack without one gets
    module_variables = ("runtime",)
    needs_runtime = True
    starter = STARTER
    config = SshConfig

    def __init__(self):
        self._placement: dict[str, str] | None = None
        self._steps, self._steps_lock, self._step_hosts = {}, threading.Lock(), {}  # progress(), per host

    def validate(self, loaded) -> list:
        return problems(loaded)

    def placement(self, stack: Stack) -> dict[str, str]:
        """Instance -> host name, once per command."""
        if self._placement is None:
            target = stack.loaded.manifest.target
            asks = {inst: Ask(c.spec.on, c.spec.gpus) for inst, c in stack.components.items()}
            gpus = self.host_gpus(stack) if needs_gpu_facts(asks) else None
            self._placement = place(asks, list(target.hosts), gpus)
        return self._placement

    def transports(self, stack: Stack) -> dict[str, Transport]:
        target = stack.loaded.manifest.target
        return {name: Transport(host, known_hosts=target.known_hosts) for name, host in target.ssh_hosts().items()}

    def identity(self, stack: Stack | None = None) -> str:
        import getpass
        import socket

        return f"{getpass.getuser()}@{socket.gethostname()}"  # who runs ssh: each host logs its own logins

    def preflight(self, stack: Stack) -> list:
        """Every host at once: reachable, host key, login, OS, python3, disk, ports, then GPUs.

        Ports of components already deployed are theirs (a second `up`), so only new ones are checked;
        after an interrupted or failed run, those of the components it left running on their hosts."""
        placement = self.placement(stack)
        record = stack.workdir.load_record()
        deployed = set(record.components) if record and record.state == "up" else set()
        if record and record.state not in ("up", "rendered"):
            deployed = {i for i, s in self.statuses(stack, fresh=True).items() if s["state"] == "running"}
        ports: dict[str, list[int]] = {}
        for inst, comp in stack.components.items():
            if inst not in deployed:
                ports.setdefault(placement[inst], []).extend(
                    comp.values[n] for n, s in comp.contract.inputs_for(self.module_kind).items() if s.type == "port")
        asks = {inst: Ask(c.spec.on, c.spec.gpus) for inst, c in stack.components.items()}
        hosts = stack.loaded.manifest.target.hosts
        used = {h: t for h, t in self.transports(stack).items() if h in set(placement.values())}
        return preflight(used, Needs(ports=ports, gpus=gpus_asked(asks, placement),
                                     directories={h: hosts[h].directory for h in used}))

    def host_gpus(self, stack: Stack) -> dict[str, int]:
        """Host -> GPUs its nvidia-smi shows (asked only when a component wants GPUs and has no `on:`);
        a host that cannot be read counts none here, and its own preflight checks say why."""
        directories = {name: h.directory for name, h in stack.loaded.manifest.target.hosts.items()}
        found = read_all(self.transports(stack), directories.__getitem__)
        return {name: len(facts.gpus) if isinstance(facts, Facts) else 0 for name, facts in found.items()}


TARGET = SshTarget
