"""The local target's section of a manifest (its kind, nothing more), and the one `stackctl init` writes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import TargetConfig


class LocalConfig(TargetConfig):
    kind: Literal["local"] = Field(description="where the stack runs: local is this machine")


# `stackctl init --target local`; {kinds} is every registered kind (a str.format template)
STARTER = """\
target:
  kind: local                  # {kinds}
components:                    # instance name -> catalog component (`stackctl catalog`)
  storage:
    use: seaweedfs             # S3-compatible object store
  tracking:
    use: mlflow                # tracking + registry; its object_store is wired to storage automatically
"""
