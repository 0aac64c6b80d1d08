"""The aws target's part of the root module: the provider, its endpoints and tags, the base's inputs."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ...datatypes import RootVariable
from .config import GPU_TYPES, INFRA, STACK_TAG

if TYPE_CHECKING:
    from ...stack import Stack

PROVIDER_SERVICES = ("ec2", "iam", "rds", "s3", "ssm", "sts")  # what the modules' resources call


class Render:
    def infra_inputs(self, manifest) -> dict[str, Any]:
        gpu = manifest.target.gpu
        spec = GPU_TYPES.get(gpu.type) if gpu else None
        return {  # from the manifest alone: no SDK call before preflight (s3_endpoint: late_inputs)
            "region": manifest.target.region or "",
            "gpu_type": gpu.type if spec else "",
            "allow_from": ",".join(manifest.target.allow_from),
            "gpu_instance_type": spec.instance_type if spec else "",
            "gpu_instances": math.ceil(gpu.count / spec.gpus) if spec else 0,
        }

    def late_inputs(self, stack: Stack) -> dict[str, dict[str, Any]]:
        if INFRA not in stack.components or not stack.loaded.manifest.target.region:
            return {}
        return {INFRA: {"s3_endpoint": self.context(stack).endpoint_of("s3") or ""}}  # resolved as boto3 does

    def module_arguments(self, stack: Stack, instance: str) -> list[tuple[str, str]]:
        if instance == INFRA:
            return []
        # every aws component module takes both, like every local one takes `runtime`
        return [("infra", "module.infra.placement"), ("requirements", f"var.requirements[{json.dumps(instance)}]")]

    def required_providers(self) -> dict[str, tuple[str, str]]:
        return {"aws": ("hashicorp/aws", ">= 5.40, < 6.0")}

    def provider_config(self) -> str:
        endpoints = "\n".join(f"    {key:<3} = lookup(var.aws_endpoints, {json.dumps(key)}, null)"
                              for key in PROVIDER_SERVICES)
        return (
            'provider "aws" {\n'
            "  region            = var.aws_region\n"
            "  s3_use_path_style = var.aws_s3_use_path_style\n\n"
            "  # endpoint overrides (an emulator such as moto or LocalStack); null: AWS's own\n"
            "  endpoints {\n" + endpoints + "\n  }\n\n"
            "  default_tags {\n    tags = var.aws_default_tags\n  }\n}"
        )

    def root_variables(self) -> list[RootVariable]:
        return [
            RootVariable("aws_region", "string", "AWS region of the stack (target.region)"),
            RootVariable("aws_endpoints", "map(string)",
                         "AWS provider endpoint overrides by service (AWS_ENDPOINT_URL*, target.endpoint)"),
            RootVariable("aws_s3_use_path_style", "bool", "Path-style S3 URLs (endpoint overrides need them)"),
            RootVariable("aws_default_tags", "map(string)", "Tags on every resource; stackctl:stack finds them"),
            RootVariable("requirements", "map(list(string))",
                         "Per component, the pinned Python requirements its instances install"),
        ]

    def root_values(self, stack: Stack) -> dict[str, Any]:
        ctx = self.context(stack)
        endpoints = ctx.provider_endpoints()
        return {
            "aws_region": ctx.region,
            "aws_endpoints": {k: v for k, v in endpoints.items() if k in PROVIDER_SERVICES},
            "aws_s3_use_path_style": "s3" in endpoints,
            "aws_default_tags": {**stack.loaded.manifest.metadata.labels, STACK_TAG: stack.name,
                                 "stackctl:managed-by": "stackctl"},
            "requirements": {i: c.requirements() for i, c in stack.components.items() if i != INFRA},
        }

    # ---- identity ----
