"""Writing HCL text safely: quoted literals nothing can interpolate, and `terraform fmt` alignment."""

from __future__ import annotations

import json


def string(value: str) -> str:
    # json.dumps gives a valid HCL quoted string; escape template sequences so nothing is interpolated
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def aligned(pairs: list[tuple[str, str]]) -> list[str]:
    """`name = value` lines with the `=` aligned, as `terraform fmt` writes them."""
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{k.ljust(width)} = {v}" for k, v in pairs]
