"""What the ssh target cannot take in a manifest: host names it cannot print, `on:` naming no host."""

from __future__ import annotations

import re

from ...errors import Problem, quote
from ...pydantic_errors import suggest
from .config import HOST_NAME


def problems(loaded) -> list[Problem]:
    target, problems = loaded.manifest.target, []
    for name in target.hosts:
        if not re.match(HOST_NAME, name):
            problems.append(loaded.problem(("target", "hosts", name), f"got {quote(name)}; host names are lower-case "
                                           "letters, digits, '-' and '_', starting with a letter",
                                           "rename it (the address goes in `address:`)"))
    for inst, spec in loaded.manifest.components.items():
        if spec.on is not None and spec.on not in target.hosts:
            problems.append(loaded.problem(("components", inst, "on"), f"no host named {quote(spec.on)} under "
                                           "target.hosts", suggest(spec.on, target.hosts)
                                           or f"name one of: {', '.join(target.hosts)}"))
    return problems
