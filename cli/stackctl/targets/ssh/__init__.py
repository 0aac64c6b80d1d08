"""The ssh target: the user's own (maybe air-gapped) machines, reached with their OpenSSH client.

The same component modules as local (modules/<comp>/local/): each host runs stackctl's supervisor,
which starts, checks and stops the processes there exactly as it does on this machine. Components are
placed on hosts by `on:` or by placement.py's rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import Target
from .config import STARTER, SshConfig
from .placement import Ask, needs_gpu_facts, place
from .problems import problems
from .hostfacts import Facts
from .preflight import read_all
from .render import Render, stack_dir
from .transport import Transport

if TYPE_CHECKING:
    from ...stack import Stack


class SshTarget(Render, Target):
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

    def host_gpus(self, stack: Stack) -> dict[str, int]:
        """Host -> GPUs its nvidia-smi shows (asked only when a component wants GPUs and has no `on:`);
        a host that cannot be read counts none here, and its own preflight checks say why."""
        found = read_all(self.transports(stack), stack_dir(stack))
        return {name: len(facts.gpus) if isinstance(facts, Facts) else 0 for name, facts in found.items()}


TARGET = SshTarget
