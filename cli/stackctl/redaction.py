"""The one redaction of everything stackctl prints or writes: each secret, raw and URL-encoded, becomes MASK.

A secret inside a URL (a database password) shows up percent-encoded, and in three flavours: a path or
userinfo part (`quote(s, safe="")`), a path with its slashes kept (`quote(s)`), a query or form value
(`quote_plus(s)`, what Terraform's urlencode() writes). Standard library only: the runtime, which
ships to remote hosts, may use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def forms(secret: str) -> set[str]:
    """The ways `secret` can appear in a text: raw and each of its URL encodings."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


class Redactor:
    """Replace every form of every secret with MASK, in a text or in JSON-like data (dicts, lists)."""

    def __init__(self, secrets: Iterable[Any] = ()):
        values = {form for s in secrets if s for form in forms(str(s))}
        # Longest first: a secret that contains another is replaced whole, not half-masked.
        alternatives = sorted(values, key=lambda v: (-len(v), v))
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def __call__(self, value: Any) -> Any:
        if self._pattern is None or value is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value
