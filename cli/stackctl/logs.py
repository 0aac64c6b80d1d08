"""`stackctl logs`: the tail of a component's log, optionally followed; the caller redacts what is shown."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
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


def follow_log(path: Path, out: TextIO, redact: Callable[[str], str], poll: float = 0.3) -> None:
    """Print what is appended until Ctrl-C (the CLI turns that into exit 130), whole lines only: a secret
    split across two reads would pass the redaction half by half."""
    with path.open(errors="replace") as f:
        f.seek(0, 2)
        pending = ""
        while True:
            text = pending + f.read()
            cut = text.rfind("\n") + 1
            if not cut and len(text) > 1 << 16:  # a line that never ends (a progress bar): shown after all
                cut = len(text)
            shown, pending = text[:cut], text[cut:]
            if shown:
                out.write(redact(shown))
                out.flush()
            else:
                time.sleep(poll)
