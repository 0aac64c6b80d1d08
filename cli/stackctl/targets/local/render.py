"""The local target's part of the root module: each component module gets a `runtime` object."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ...datatypes import RootVariable

if TYPE_CHECKING:
    from ...stack import Stack


RUNTIME = {"python": "string", "run_dir": "string", "log_file": "string", "requirements": "list(string)",
           "address": "string"}
LOOPBACK = "127.0.0.1"  # local: every server binds here only, and its URLs name it


def runtime_type(fields: dict[str, str]) -> str:
    """The HCL type of the `runtime` root variable: one object of these fields per component."""
    return "map(object({\n" + "".join(f"    {k:<12} = {v}\n" for k, v in fields.items()) + "  }))"


class Render:
    def module_arguments(self, stack: Stack, instance: str) -> list[tuple[str, str]]:
        return [("runtime", f"var.runtime[{json.dumps(instance)}]")]

    def root_variables(self) -> list[RootVariable]:
        return [RootVariable(
            "runtime", runtime_type(RUNTIME),
            "Local target: per component, the supervisor's interpreter, run dir, log file, requirements and address",
        )]

    def root_values(self, stack: Stack) -> dict[str, Any]:
        return {"runtime": {
            inst: {
                "python": sys.executable,
                "run_dir": str(stack.workdir.run_dir(inst)),
                "log_file": str(stack.workdir.log_file(inst)),
                "requirements": comp.requirements(),
                "address": LOOPBACK,
            }
            for inst, comp in stack.components.items()
        }}
