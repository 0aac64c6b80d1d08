"""The aws target: the stack's base (VPC, S3, IAM, compute/GPU pool) plus components on EC2 and RDS.

Preflight asks AWS before Terraform starts (identity, region, instance types offered, vCPU quotas)
and answers OK / NO / UNKNOWN for each. Everything is tagged `stackctl:stack=<name>`, which is how
teardown is verified: after `down`, nothing may carry the tag.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..awsapi import AwsContext, classify, known_regions
from ..errors import Problem, quote
from ..pydantic_errors import suggest
from .base import Check, RootVariable, Target

if TYPE_CHECKING:
    from ..stack import Stack

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
# EC2 On-Demand vCPU quotas (Service Quotas codes) by the family letter of the instance type.
QUOTAS = {
    "G": ("L-DB2E81BA", "Running On-Demand G and VT instances", ("g", "vt")),
    "P": ("L-417A185B", "Running On-Demand P instances", ("p",)),
    "Standard": ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
                 ("a", "c", "d", "h", "i", "m", "r", "t", "z")),
}
PROVIDER_SERVICES = ("ec2", "iam", "rds", "s3", "ssm", "sts")  # what the modules' resources call
CPU_INPUT = "instance_type"  # a component input that names an EC2 instance type the stack will run


def quota_family(instance_type: str) -> str | None:
    """g4dn.xlarge -> G, p5.48xlarge -> P, t3.medium -> Standard; None for families without a checked quota."""
    letters = re.match(r"[a-z]*", instance_type.split(".")[0].lower()).group()
    return next((name for name, (_code, _title, families) in QUOTAS.items() if letters in families), None)


class AwsTarget(Target):
    kind = "aws"
    clean_message = "teardown verified: 0 resources tagged with the stack remain"

    def __init__(self):
        self._context: AwsContext | None = None
        self._resources: dict[str, dict[str, Any]] | None = None  # for status, read once
        self._caller: dict[str, str] | None = None

    # ---- manifest ----

    def validate(self, loaded) -> list[Problem]:
        target = loaded.manifest.target
        problems = []
        if not target.region:
            problems.append(Problem(loaded.where("target"), "target.region", "the aws target needs a region",
                                    "add `region: us-east-1` (or your region) under target"))
        elif not REGION_FORMAT.match(target.region):
            near = suggest(target.region.replace("_", "-"), known_regions()) or suggest(target.region, known_regions())
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

    def context(self, stack: Stack) -> AwsContext:
        return self._context_for(stack.loaded.manifest.target)

    def _context_for(self, target) -> AwsContext:
        if self._context is None:  # one per command: endpoint resolution builds a client per service
            self._context = AwsContext(region=target.region or "", endpoint=target.endpoint)
        return self._context

    # ---- render ----

    def infra_inputs(self, manifest) -> dict[str, Any]:
        gpu = manifest.target.gpu
        spec = GPU_TYPES.get(gpu.type) if gpu else None
        ctx = self._context_for(manifest.target)
        return {
            "region": manifest.target.region or "",
            "s3_endpoint": (ctx.endpoint_of("s3") or "") if manifest.target.region else "",
            "gpu_type": gpu.type if spec else "",
            "allow_from": ",".join(manifest.target.allow_from),
            "gpu_instance_type": spec.instance_type if spec else "",
            "gpu_instances": math.ceil(gpu.count / spec.gpus) if spec else 0,
        }

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

    def _whoami(self, ctx: AwsContext) -> dict[str, str]:
        """sts get-caller-identity, asked once per command (preflight, then the owner check)."""
        if self._caller is None:
            self._caller = ctx.client("sts").get_caller_identity()
        return self._caller

    def identity(self, stack: Stack | None = None) -> str:
        if stack is None:
            return ""
        try:
            return self._whoami(self.context(stack))["Arn"]
        except Exception:  # preflight reports why; the identity is simply unknown here
            return ""

    def owner_mismatch(self, stack: Stack, recorded: str) -> str | None:
        current = self.identity(stack)
        if not recorded or not current:
            return None
        if _account(recorded) != _account(current):
            return (f"stack {stack.name} was created by AWS account {_account(recorded)} ({recorded}), and the "
                    f"credentials in use are account {_account(current)} ({current})")
        return None

    # ---- preflight ----

    def instance_counts(self, stack: Stack) -> dict[str, int]:
        """Every EC2 instance type the stack runs, and how many: the GPU pool, components' instance_type."""
        counts: dict[str, int] = {}
        infra = self.infra_inputs(stack.loaded.manifest)
        if infra["gpu_instances"]:
            counts[infra["gpu_instance_type"]] = infra["gpu_instances"]
        for inst, comp in stack.components.items():
            spec = comp.contract.inputs_for(self.kind).get(CPU_INPUT)
            if inst != INFRA and spec is not None:  # read from the manifest: preflight runs before values resolve
                itype = comp.spec.with_.get(CPU_INPUT, spec.default)
                counts[itype] = counts.get(itype, 0) + 1
        return counts

    def preflight(self, stack: Stack) -> list[Check]:
        ctx = self.context(stack)
        jobs = [lambda: self._check_identity(ctx), lambda: self._check_region(ctx)]
        counts = self.instance_counts(stack)
        jobs += [lambda t=t: self._check_offered(ctx, t) for t in counts]
        families: dict[str, dict[str, int]] = {}
        for itype, n in counts.items():
            fam = quota_family(itype)
            if fam:
                families.setdefault(fam, {})[itype] = n
        jobs += [lambda f=f, c=c: self._check_quota(ctx, f, c) for f, c in families.items()]
        backend = stack.loaded.manifest.backend
        if backend.kind == "s3":
            from ..backends import check_state_bucket

            jobs.append(lambda: check_state_bucket(stack))
        with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
            return list(pool.map(_guarded, jobs))

    def _check_identity(self, ctx: AwsContext) -> Check:
        try:
            me = self._whoami(ctx)
        except Exception as err:
            return Check("credentials", *classify(err))
        return Check("credentials", "OK", f"{me['Arn']} (account {me['Account']})")

    def _check_region(self, ctx: AwsContext) -> Check:
        known = known_regions()
        if ctx.region not in known:
            near = suggest(ctx.region, known)
            return Check("region", "NO", f"{ctx.region!r} is not an AWS region",
                         f"{near + '; ' if near else ''}set target.region to an AWS region, e.g. us-east-1")
        try:
            regions = ctx.client("ec2").describe_regions(AllRegions=True, RegionNames=[ctx.region])["Regions"]
        except Exception as err:
            status, detail, hint = classify(err)
            if status == "NO":
                return Check("region", status, detail, hint)
            return Check("region", "UNKNOWN", f"{ctx.region} is a known region; opt-in not verified: {detail}", hint)
        status = regions[0].get("OptInStatus", "opt-in-not-required") if regions else "not-opted-in"
        if status == "not-opted-in":
            return Check("region", "NO", f"{ctx.region} is not enabled for this account",
                         f"enable it: aws account enable-region --region-name {ctx.region}")
        return Check("region", "OK", f"{ctx.region} ({status})")

    def _check_offered(self, ctx: AwsContext, itype: str) -> Check:
        name = f"{itype} offered"
        try:
            pages = ctx.client("ec2").get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [itype]}])
            zones = sorted({o["Location"] for page in pages for o in page["InstanceTypeOfferings"]})
        except Exception as err:
            return Check(name, *classify(err))
        if not zones:
            return Check(name, "NO", f"{itype} is not offered in any zone of {ctx.region}",
                         f"pick another region or type; list regions with it: aws ec2 describe-instance-type-offerings"
                         f" --location-type region --filters Name=instance-type,Values={itype} --region us-east-1")
        return Check(name, "OK", f"in {len(zones)} zone(s): {', '.join(zones)}")

    def _check_quota(self, ctx: AwsContext, family: str, counts: dict[str, int]) -> Check:
        code, title, _prefixes = QUOTAS[family]
        name = f"{family} vCPU quota"
        try:
            need = sum(n * _vcpus(ctx, itype) for itype, n in counts.items())
        except Exception as err:
            return Check(name, *classify(err))
        try:
            quota = ctx.client("service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
        except Exception as err:
            status, detail, hint = classify(err)
            return Check(name, status, f"{title} ({code}) not readable: {detail}; the stack needs {need:g} vCPUs",
                         hint if status == "NO" else
                         f"{hint}: compare {need:g} vCPUs with Service Quotas > Amazon EC2 > {code} in {ctx.region}")
        have = float(quota["Value"])
        what = ", ".join(f"{n} x {t}" for t, n in counts.items())
        if have < need:
            return Check(name, "NO", f"{title}: quota {have:g} vCPUs, the stack needs {need:g} ({what})",
                         f"request more: aws service-quotas request-service-quota-increase --service-code ec2 "
                         f"--quota-code {code} --desired-value {need:g} --region {ctx.region}")
        return Check(name, "OK", f"{title}: quota {have:g} vCPUs >= {need:g} needed ({what})")

    # ---- after apply / destroy ----

    def smoke_skip_reason(self, stack: Stack, instance: str | None) -> str | None:
        ctx = self.context(stack)
        if instance == INFRA:
            return None
        if ctx.emulated:
            return (f"service probe skipped: EC2 is served by an emulator ({ctx.endpoint_of('ec2')}), "
                    "whose instances run no servers")
        if not stack.loaded.manifest.target.allow_from:
            return ("service probe skipped: the stack accepts connections only from inside its VPC; "
                    "add your address to target.allow_from (e.g. 203.0.113.7/32) to test it from here")
        return None

    def smoke_context(self, stack: Stack, instance: str) -> dict[str, Any]:
        ctx = self.context(stack)
        pool = {k: v for k, v in self.infra_inputs(stack.loaded.manifest).items() if k.startswith("gpu_")}
        return {"aws": {"region": ctx.region, "endpoints": ctx.endpoints, "tag": {STACK_TAG: stack.name}},
                "pool": pool}

    def smoke_python(self, stack: Stack, instance: str) -> str:
        import sys

        return sys.executable if instance == INFRA else super().smoke_python(stack, instance)

    def leftovers(self, stack: Stack) -> list[str]:
        from ..teardown import tagged_resources

        return tagged_resources(self.context(stack), STACK_TAG, stack.name)

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        """What AWS says of the instance's resources (found by tag): EC2 and RDS states, resource count."""
        from ..teardown import resources_by_instance

        if self._resources is None:
            self._resources = resources_by_instance(self.context(stack), STACK_TAG, stack.name, INSTANCE_TAG, INFRA)
        found = self._resources.get(instance)
        if found is None:
            return {"state": "unknown", "health": self._resources.get("", {}).get("error")}
        return found


def _guarded(job) -> Check:
    try:
        return job()
    except Exception as err:  # a check must answer, never crash the others
        return Check("preflight", "UNKNOWN", f"{type(err).__name__}: {err}", "this check could not be verified")


def _vcpus(ctx: AwsContext, itype: str) -> int:
    for spec in GPU_TYPES.values():
        if spec.instance_type == itype:
            return spec.vcpus
    info = ctx.client("ec2").describe_instance_types(InstanceTypes=[itype])["InstanceTypes"]
    return int(info[0]["VCpuInfo"]["DefaultVCpus"])


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else arn
