"""`stackctl init`: a starting manifest, valid as written, with the fields explained."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError
from .manifest import DNS_LABEL
from .schema import MODELINE, SCHEMA_FILE, write_schema
from .targets import registry

TEMPLATE = """\
{modeline}
# A stackctl stack manifest. Check it with `stackctl validate {path}`, run it with `stackctl up {path}`.
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: {name}                 # DNS label; keys the stack's workdir and state
  labels: {{owner: me}}
{target}smoke:
  timeout: 10m
"""


def scaffold(name: str, out: Path, force: bool, target: str = registry.DEFAULT) -> tuple[Path, Path]:
    """Write the manifest, and next to it the schema its first line names (for editors). Returns both."""
    if not re.match(DNS_LABEL, name):
        raise InputError(f"{name!r} is not a valid stack name", "use lower-case letters, digits and '-', e.g. my-stack")
    if out.exists() and not force:
        raise InputError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    starters = {kind: registry.target_class(kind).starter for kind in registry.kinds()}
    if not starters.get(target):
        raise InputError(f"no starting manifest for target {target!r}",
                         f"use one of: {', '.join(k for k, text in starters.items() if text)}")
    section = starters[target].format(kinds=" | ".join(registry.kinds()))
    out.write_text(TEMPLATE.format(modeline=MODELINE, name=name, path=out, target=section))
    return out, write_schema(out.parent / SCHEMA_FILE)  # generated, so always current
