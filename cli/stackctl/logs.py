"""`stackctl logs`: the tail of a component's log, optionally followed."""

from __future__ import annotations

import time
from collections import deque
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


def follow(stack: Stack, instance: str, out: TextIO) -> None:
    remote = _remote(stack, instance)
    if remote is None:
        return follow_log(log_path(stack, instance), out)
    transport, path = remote
    with transport.follow(path, lines=0) as stream:
        for chunk in iter(lambda: stream.read1(65536), b""):
            out.write(chunk.decode(errors="replace"))
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
