"""`stackctl init`: a starting manifest, valid as written, with the fields explained."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError
from .manifest import DNS_LABEL

TEMPLATE = """\
# A stackctl stack manifest. Check it with `stackctl validate {path}`, run it with `stackctl up {path}`.
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: {name}                 # DNS label; keys the stack's workdir and state
  labels: {{owner: me}}
target:
  kind: local                  # local | aws | gcp | azure | kubernetes | ssh
components:                    # instance name -> catalog component (`stackctl catalog`)
  storage:
    use: seaweedfs             # S3-compatible object store
  tracking:
    use: mlflow                # tracking + registry; its object_store is wired to storage automatically
smoke:
  timeout: 10m
"""


def scaffold(name: str, out: Path, force: bool) -> Path:
    if not re.match(DNS_LABEL, name):
        raise InputError(f"{name!r} is not a valid stack name", "use lower-case letters, digits and '-', e.g. my-stack")
    if out.exists() and not force:
        raise InputError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    out.write_text(TEMPLATE.format(name=name, path=out))
    return out
