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


def read_log(stack: Stack, instance: str, count: int) -> tuple[str, list[str]]:
    """Where the log is, and its last lines: a file here, or over ssh on the component's host."""
    remote = _remote(stack, instance)
    if remote is None:
        path = log_path(stack, instance)
        return str(path), tail_lines(path, count)
    transport, path = remote
    text = transport.run(f"tail -n {max(count, 0)} -- '{path}'", what=f"reading {instance}'s log").text
    return f"{transport.host.name}:{path}", text.splitlines()


def follow(stack: Stack, instance: str, out: TextIO, redact: Callable[[str], str]) -> None:
    remote = _remote(stack, instance)
    if remote is None:
        return follow_log(log_path(stack, instance), out, redact)
    transport, path = remote
    pending = ""
    with transport.follow(path, lines=0) as stream:
        for chunk in iter(lambda: stream.read1(65536), b""):
            shown, pending = whole_lines(pending + chunk.decode(errors="replace"))
            if shown:
                out.write(redact(shown))
                out.flush()


def _remote(stack: Stack, instance: str):
    _known(stack, instance)
    return stack.target.log_on_host(stack, instance)


def _known(stack: Stack, instance: str) -> None:
    if instance not in stack.components:
        raise InputError(f"stack {stack.name} has no component {instance!r}",
                         suggest(instance, stack.components) or f"components: {', '.join(stack.components)}")


def log_path(stack: Stack, instance: str) -> Path:
    _known(stack, instance)
    path = stack.workdir.log_file(instance)
    if not path.exists():
        raise InputError(f"{instance} has no log yet ({path})", f"bring the stack up: stackctl up {stack.name}")
    return path


def tail_lines(path: Path, count: int) -> list[str]:
    with path.open(errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=max(count, 0))]


def whole_lines(text: str) -> tuple[str, str]:
    """(what to show now, what to keep for the next read): whole lines only."""
    cut = text.rfind("\n") + 1
    if not cut and len(text) > 1 << 16:  # a line that never ends (a progress bar): shown after all
        cut = len(text)
    return text[:cut], text[cut:]


def follow_log(path: Path, out: TextIO, redact: Callable[[str], str], poll: float = 0.3) -> None:
    """Print what is appended until Ctrl-C (the CLI turns that into exit 130), whole lines only: a secret
    split across two reads would pass the redaction half by half."""
    with path.open(errors="replace") as f:
        f.seek(0, 2)
        pending = ""
        while True:
            shown, pending = whole_lines(pending + f.read())
            if shown:
                out.write(redact(shown))
                out.flush()
            else:
                time.sleep(poll)
