"""The aws target's section of a manifest: what it may say, and the one `stackctl init` writes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from ...errors import Problem, ToolMissingError, quote
from ...pydantic_errors import suggest
from ..config import ENDPOINT, GPU, TargetConfig
from .sdk import known_regions

STACK_TAG = "stackctl:stack"
INSTANCE_TAG = "stackctl:instance"  # on a component module's main resources; the base's carry none
INFRA = "infra"
REGION_FORMAT = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")  # botocore refuses any other

@dataclass(frozen=True)
class GpuType:
    instance_type: str
    gpus: int  # per instance
    vcpus: int  # per instance, what the quota counts


# The smallest instance of each family that carries the GPU (GPUs per instance, vCPUs).
GPU_TYPES = {
    "t4": GpuType("g4dn.xlarge", 1, 4),
    "a10g": GpuType("g5.xlarge", 1, 4),
    "l4": GpuType("g6.xlarge", 1, 4),
    "a100": GpuType("p4d.24xlarge", 8, 96),
    "h100": GpuType("p5.48xlarge", 8, 192),
}

class AwsConfig(TargetConfig):
    kind: Literal["aws"] = Field(description="where the stack runs: aws is an AWS account")
    region: str | None = Field(None, description="AWS region, e.g. us-east-1")
    endpoint: str | None = Field(None, pattern=ENDPOINT,
                                 description="API endpoint override for every service, e.g. a local emulator")
    gpu: GPU | None = Field(None, description="optional GPU pool")
    allow_from: list[str] = Field(default_factory=list, description=(
        "CIDRs that may reach the components' service ports, e.g. your address/32 to smoke-test them from "
        "here; none: reachable only inside the network"))

    def backend_defaults(self) -> dict[str, Any]:
        return {"region": self.region, "endpoint": self.endpoint}


# `stackctl init --target aws`; {kinds} is every registered kind (a str.format template)
STARTER = """\
target:
  kind: aws                    # {kinds}
  region: us-east-1
  # gpu: {{type: a10g, count: 1}}     # a GPU pool: t4, a10g, l4, a100, h100
  # allow_from: [203.0.113.7/32]    # your address, to reach the services (and smoke-test them) from here
backend: {{kind: local}}         # or {{kind: s3, bucket: NAME}}: shared state with S3 lock files
components:                    # instance name -> catalog component (`stackctl catalog`)
  tracking:
    use: mlflow                # on EC2; its object_store is the stack's S3 bucket (the target's base)
    with: {{instance_type: t3.medium}}
"""


def _regions() -> list[str]:
    try:
        return known_regions()  # botocore's own list, read offline
    except ToolMissingError:  # no boto3: the format is still checked, without a near name
        return []


def problems(loaded) -> list[Problem]:
    """What the aws target cannot take in a manifest: no or a malformed region, an unknown GPU, a bad CIDR."""
    target = loaded.manifest.target
    problems = []
    if not target.region:
        problems.append(Problem(loaded.where("target"), "target.region", "the aws target needs a region",
                                "add `region: us-east-1` (or your region) under target"))
    elif not REGION_FORMAT.match(target.region):
        regions = _regions()
        near = suggest(target.region.replace("_", "-"), regions) or suggest(target.region, regions)
        problems.append(Problem(loaded.where("target", "region"), "target.region",
                                f"got {quote(target.region)}; an AWS region is letters, digits and '-'",
                                near or "write e.g. `region: us-east-1`"))
    if target.gpu and target.gpu.type not in GPU_TYPES:
        valid = ", ".join(sorted(GPU_TYPES))
        near = suggest(target.gpu.type, GPU_TYPES)
        problems.append(Problem(loaded.where("target", "gpu", "type"), "target.gpu.type",
                                f"unknown GPU type {target.gpu.type!r}",
                                f"{near + '; ' if near else ''}valid GPU types: {valid}"))
    for i, cidr in enumerate(target.allow_from):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(Problem(loaded.where("target", "allow_from", i), f"target.allow_from[{i}]",
                                    f"{cidr!r} is not a CIDR", "write an address range like 203.0.113.7/32"))
    return problems
