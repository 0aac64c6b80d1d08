"""`stackctl logs`: the tail of a component's log, optionally followed."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import TextIO

from .errors import InputError
from .pydantic_errors import suggest
from .stack import Stack


def log_path(stack: Stack, instance: str) -> Path:
    if instance not in stack.components:
        raise InputError(f"stack {stack.name} has no component {instance!r}",
                         suggest(instance, stack.components) or f"components: {', '.join(stack.components)}")
    path = stack.workdir.log_file(instance)
    if not path.exists():
        raise InputError(f"{instance} has no log yet ({path})", f"bring the stack up: stackctl up {stack.name}")
    return path


def tail_lines(path: Path, count: int) -> list[str]:
    with path.open(errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=max(count, 0))]


def follow_log(path: Path, out: TextIO, poll: float = 0.3) -> None:
    """Print what is appended until Ctrl-C (the CLI turns that into exit 130)."""
    with path.open(errors="replace") as f:
        f.seek(0, 2)
        while True:
            chunk = f.read()
            if chunk:
                out.write(chunk)
                out.flush()
            else:
                time.sleep(poll)
