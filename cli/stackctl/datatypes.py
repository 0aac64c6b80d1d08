"""Plain data that several layers hand each other: a leaf module, it imports nothing of stackctl."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RootVariable:
    """A variable of the rendered root module (variables.tf)."""

    name: str
    type: str
    description: str
    sensitive: bool = False


@dataclass
class Check:
    """A preflight answer: OK / NO / UNKNOWN, with a fix-it hint when not OK."""

    name: str
    status: str  # "OK" | "NO" | "UNKNOWN"
    detail: str = ""
    hint: str | None = None
