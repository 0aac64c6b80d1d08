"""`stackctl init`: a starting manifest, valid as written, with the fields explained."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError
from .manifest import DNS_LABEL
from .schema import MODELINE, SCHEMA_FILE, write_schema

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


TARGETS = {
    "local": """\
target:
  kind: local                  # local | aws
components:                    # instance name -> catalog component (`stackctl catalog`)
  storage:
    use: seaweedfs             # S3-compatible object store
  tracking:
    use: mlflow                # tracking + registry; its object_store is wired to storage automatically
""",
    "aws": """\
target:
  kind: aws                    # local | aws
  region: us-east-1
  # gpu: {{type: a10g, count: 1}}     # a GPU pool: t4, a10g, l4, a100, h100
  # allow_from: [203.0.113.7/32]    # your address, to reach the services (and smoke-test them) from here
backend: {{kind: local}}         # or {{kind: s3, bucket: NAME}}: shared state with S3 lock files
components:                    # instance name -> catalog component (`stackctl catalog`)
  tracking:
    use: mlflow                # on EC2; its object_store is the stack's S3 bucket (the target's base)
    with: {{instance_type: t3.medium}}
""",
}


def scaffold(name: str, out: Path, force: bool, target: str = "local") -> tuple[Path, Path]:
    """Write the manifest, and next to it the schema its first line names (for editors). Returns both."""
    if not re.match(DNS_LABEL, name):
        raise InputError(f"{name!r} is not a valid stack name", "use lower-case letters, digits and '-', e.g. my-stack")
    if out.exists() and not force:
        raise InputError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    if target not in TARGETS:
        raise InputError(f"no starting manifest for target {target!r}", f"use one of: {', '.join(TARGETS)}")
    out.write_text(TEMPLATE.format(modeline=MODELINE, name=name, path=out, target=TARGETS[target].format()))
    return out, write_schema(out.parent / SCHEMA_FILE)  # generated, so always current
