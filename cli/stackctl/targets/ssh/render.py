"""The ssh target's part of the root module: the local modules' `runtime` object, for a component's host.

Besides what local passes, each component learns its host (name, address to bind and advertise) and
where the supervisor keeps its files there. Paths on a host are under STACKS, relative to the login's home.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ...datatypes import RootVariable

if TYPE_CHECKING:
    from ...stack import Stack

STACKS = ".stackctl/stacks"  # on each host, under the login's home: one directory per stack


def stack_dir(stack: Stack) -> str:
    return f"{STACKS}/{stack.name}"


class Render:
    def module_arguments(self, stack: Stack, instance: str) -> list[tuple[str, str]]:
        return [("runtime", f"var.runtime[{json.dumps(instance)}]")]

    def root_variables(self) -> list[RootVariable]:
        return [RootVariable(
            "runtime",
            "map(object({\n    python       = string\n    run_dir      = string\n"
            "    log_file     = string\n    requirements = list(string)\n    host         = string\n"
            "    address      = string\n  }))",
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
                "host": host,
                "address": hosts[host].address,
            }
            for inst, comp in stack.components.items()
            for host in [self.placement(stack)[inst]]
        }}
