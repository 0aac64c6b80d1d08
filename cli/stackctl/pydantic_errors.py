"""Turn a pydantic ValidationError into Problems that read `file:line field: message`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

from .errors import Problem
from .yamlsrc import SourceDoc, field_path


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """'did you mean X?' for a near name, or None."""
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None


def problems_from(err: ValidationError, doc: SourceDoc, prefix: tuple = (), allowed_keys=None) -> list[Problem]:
    """`allowed_keys(loc)` returns the valid keys at a location, for 'did you mean' on unknown keys."""
    problems = []
    for e in err.errors():
        loc = (*prefix, *(p for p in e["loc"] if not _is_union_tag(p)))
        kind = e["type"]
        hint = None
        if kind == "extra_forbidden":
            key = loc[-1]
            valid = allowed_keys(loc[:-1]) if allowed_keys else []
            hint = suggest(str(key), valid) or (f"valid keys here: {', '.join(valid)}" if valid else "remove it")
            message = "unknown key"
        elif kind == "missing":
            message = "is required"
            hint = "add it"
        else:
            message = e["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
        problems.append(Problem(doc.where(loc), field_path(loc), message, hint))
    return problems


def _is_union_tag(part) -> bool:
    # pydantic adds union member names (e.g. 'function-after[...]') to locations: not user fields
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
