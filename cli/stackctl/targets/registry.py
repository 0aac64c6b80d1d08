"""The target kinds, listed once: kind -> the package that implements it, imported on first use.

A target is a package (`targets/<kind>/`) whose TARGET is its Target subclass; TARGET.config is its
manifest model. Adding one is its folder, its line below and, if it has a base, modules/_infra/<kind>/.
The manifest's `target.kind`, the catalog's `targets:`, `init --target` and the contract linter read
this list; nothing else names a kind.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from ..errors import UnsupportedError

if TYPE_CHECKING:
    from .base import Target
    from .config import TargetConfig

KINDS = {
    "local": "stackctl.targets.local",
    "aws": "stackctl.targets.aws",
    "ssh": "stackctl.targets.ssh",
}
DEFAULT = "local"  # `stackctl init` and the bundled default stack


def kinds() -> tuple[str, ...]:
    return tuple(KINDS)


@cache
def target_class(kind: str) -> type[Target]:
    if kind not in KINDS:
        raise UnsupportedError(f"target {kind!r}", f"this version of stackctl deploys to {_listed()}",
                               f"set target.kind: {_listed(' or ')}")
    return importlib.import_module(KINDS[kind]).TARGET


@cache
def config_of(kind: str) -> type[TargetConfig]:
    """The target's manifest model: what `target:` may say when it says `kind: <kind>`."""
    from .config import plain_config

    return target_class(kind).config or plain_config(kind)


def modules_of(kind: str) -> str:
    """The catalog's module folder the kind deploys (ssh runs the local modules on its hosts)."""
    return target_class(kind).modules or kind


def get_target(kind: str) -> Target:
    """A fresh target for one command (targets cache what they ask their cloud during it)."""
    return target_class(kind)()


def _listed(last: str = " and ") -> str:
    names = kinds()
    return ", ".join(names[:-1]) + last + names[-1] if len(names) > 1 else names[0]
