"""Helpers for components' Python smoke scripts.

The scripts run in the component's own environment (where stackctl is not installed); the smoke
runner puts this directory on their PYTHONPATH. One line per step; a failure is one line and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any


def context() -> dict[str, Any]:
    """{"stack", "instance", "outputs": {output: value}, "inputs": {capability: {field: value}}}."""
    return json.loads(os.environ["STACKCTL_SMOKE_CONTEXT"])


def step(message: str) -> None:
    print(message, flush=True)


def fail(step_name: str, err: object) -> None:
    print(f"FAILED {step_name}: {err}", flush=True)
    sys.exit(1)


def check(ok: bool, step_name: str, detail: str) -> None:
    if not ok:
        fail(step_name, detail)


def run(main: Callable[[], None]) -> None:
    """Run a script's main: any unexpected error becomes one clear line instead of a traceback."""
    try:
        main()
    except SystemExit:
        raise
    except Exception as err:
        fail("round trip", f"{type(err).__name__}: {err}")
