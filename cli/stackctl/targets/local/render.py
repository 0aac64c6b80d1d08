"""The local target's part of the root module: each component module gets a `runtime` object."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ...datatypes import RootVariable

if TYPE_CHECKING:
    from ...stack import Stack


class Render:
    def module_arguments(self, stack: Stack, instance: str) -> list[tuple[str, str]]:
        return [("runtime", f"var.runtime[{json.dumps(instance)}]")]

    def root_variables(self) -> list[RootVariable]:
        return [RootVariable(
            "runtime",
            "map(object({\n    python       = string\n    run_dir      = string\n"
            "    log_file     = string\n    requirements = list(string)\n  }))",
            "Local target: per component, the supervisor's interpreter, run dir, log file and requirements",
        )]

    def root_values(self, stack: Stack) -> dict[str, Any]:
        return {"runtime": {
            inst: {
                "python": sys.executable,
                "run_dir": str(stack.workdir.run_dir(inst)),
                "log_file": str(stack.workdir.log_file(inst)),
                "requirements": comp.requirements(),
            }
            for inst, comp in stack.components.items()
        }}
