"""The aws target: the stack's base (VPC, S3, IAM, compute/GPU pool) plus components on EC2 and RDS.

Preflight asks AWS before Terraform starts (identity, region, instance types offered, vCPU quotas)
and answers OK / NO / UNKNOWN for each. Everything is tagged `stackctl:stack=<name>`, which is how
teardown is verified: after `down`, nothing may carry the tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import Problem
from ..base import Target
from . import config
from .config import GPU_TYPES, STARTER, AwsConfig
from .inventory import Inventory
from .preflight import Preflight, quota_family
from .render import Render
from .sdk import AwsContext

if TYPE_CHECKING:
    from ...stack import Stack

__all__ = ["GPU_TYPES", "TARGET", "AwsTarget", "quota_family"]


class AwsTarget(Render, Preflight, Inventory, Target):
    kind = "aws"
    clean_message = "teardown verified: 0 resources tagged with the stack remain"
    module_variables = ("infra", "requirements")
    starter = STARTER
    config = AwsConfig

    def __init__(self):
        self._context: AwsContext | None = None
        self._resources: dict[str, dict[str, Any]] | None = None  # for status, read once
        self._caller: dict[str, str] | None = None

    def validate(self, loaded) -> list[Problem]:
        return config.problems(loaded)

    def context(self, stack: Stack) -> AwsContext:
        """The SDK's clients and endpoints, one per command (endpoint resolution builds a client per service)."""
        if self._context is None:
            target = stack.loaded.manifest.target
            self._context = AwsContext(region=target.region or "", endpoint=target.endpoint)
        return self._context


TARGET = AwsTarget
