"""The ssh target's part of the root module: the local modules' `runtime` object, for a component's host.

Besides what local passes, each component learns its host (name, address to bind and advertise) and
where the supervisor keeps its files there, relative to the host's directory (the shim resolves them).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ...datatypes import RootVariable
from ..local.render import RUNTIME, runtime_type
from ..local.render import Render as LocalRender

if TYPE_CHECKING:
    from ...stack import Stack

STACKS = "stacks"  # under a host's directory (target.hosts.*.directory): one directory per stack


def stack_dir(stack: Stack) -> str:
    return f"{STACKS}/{stack.name}"


class Render(LocalRender):
    def host_json(self, stack: Stack, host: str, gpus: int = 0) -> str:
        """How the shim reaches a host, and the GPUs the component asks for there (no secret: keys stay
        in files the user names)."""
        target = stack.loaded.manifest.target
        return json.dumps({**target.hosts[host].model_dump(), "name": host, "known_hosts": target.known_hosts,
                           "gpus": gpus}, sort_keys=True)

    def root_variables(self) -> list[RootVariable]:
        return [RootVariable(
            "runtime", runtime_type({**RUNTIME, "launcher": "list(string)", "host": "string"}),
            "ssh target: per component, the controller's interpreter, its host and address, and its run dir, "
            "log file and requirements there",
        )]

    def root_values(self, stack: Stack) -> dict[str, Any]:
        hosts = stack.loaded.manifest.target.hosts
        return {"runtime": {
            inst: {
                "python": sys.executable,
                "run_dir": f"{stack_dir(stack)}/run/{inst}",
                "log_file": f"{stack_dir(stack)}/logs/{inst}.log",
                "requirements": comp.requirements(),
                "launcher": [sys.executable, "-m", "stackctl.targets.ssh", self.host_json(stack, host, comp.spec.gpus)],
                "host": host,
                "address": hosts[host].address,
            }
            for inst, comp in stack.components.items()
            for host in [self.placement(stack)[inst]]
        }}
