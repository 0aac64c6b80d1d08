"""Ask AWS before Terraform starts: identity, region, instance types offered, vCPU quotas.

Each check answers OK / NO / UNKNOWN; NO means the user must act, UNKNOWN that it could not be verified.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...datatypes import Check
from ...errors import ToolMissingError
from ...pydantic_errors import suggest
from .config import GPU_TYPES, INFRA
from .sdk import AwsContext, classify, known_regions

if TYPE_CHECKING:
    from ...stack import Stack

# EC2 On-Demand vCPU quotas (Service Quotas codes) by the family letter of the instance type.
QUOTAS = {
    "G": ("L-DB2E81BA", "Running On-Demand G and VT instances", ("g", "vt")),
    "P": ("L-417A185B", "Running On-Demand P instances", ("p",)),
    "Standard": ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
                 ("a", "c", "d", "h", "i", "m", "r", "t", "z")),
}
CPU_INPUT = "instance_type"  # a component input that names an EC2 instance type the stack will run


def quota_family(instance_type: str) -> str | None:
    """g4dn.xlarge -> G, p5.48xlarge -> P, t3.medium -> Standard; None for families without a checked quota."""
    letters = re.match(r"[a-z]*", instance_type.split(".")[0].lower()).group()
    return next((name for name, (_code, _title, families) in QUOTAS.items() if letters in families), None)


class Preflight:
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
        with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
            return list(pool.map(_guarded, jobs))

    def _check_identity(self, ctx: AwsContext) -> Check:
        try:
            me = self._whoami(ctx)
        except Exception as err:
            return Check("credentials", *classify(err))
        return Check("credentials", "OK", f"{me['Arn']} (account {me['Account']})")

    def _check_region(self, ctx: AwsContext) -> Check:
        try:
            known = known_regions()
        except ToolMissingError as err:
            return Check("region", *classify(err))
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
