"""What exists on AWS for a stack, found by its tag: teardown verification, `status`, and smoke context.

Teardown verification: everything still tagged with the stack after a destroy.

The Resource Groups Tagging API covers EC2, S3, RDS and most services; IAM is global and not in
it, so roles and instance profiles are listed by the path stackctl gives them (/stackctl/<stack>/).
Terminated EC2 instances linger in listings for a while; they are gone, not left over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import INFRA, INSTANCE_TAG, STACK_TAG
from .sdk import AwsContext, classify

if TYPE_CHECKING:
    from ...stack import Stack


def iam_path(stack: str) -> str:
    return f"/stackctl/{stack}/"


def tagged_resources(ctx: AwsContext, tag: str, stack: str) -> list[str]:
    """What still exists for the stack, one line each; a line saying why when it cannot be verified."""
    try:
        arns = _drop_terminated(ctx, [r["ResourceARN"] for r in _tagged(ctx, tag, stack)])
        iam = ctx.client("iam")
        arns += [r["Arn"] for page in iam.get_paginator("list_roles").paginate(PathPrefix=iam_path(stack))
                 for r in page["Roles"]]
        arns += [p["Arn"] for page in iam.get_paginator("list_instance_profiles").paginate(PathPrefix=iam_path(stack))
                 for p in page["InstanceProfiles"]]
    except Exception as err:
        _status, detail, hint = classify(err)
        return [f"teardown could not be verified: {detail} ({hint})"]
    return sorted(arns)


def _tagged(ctx: AwsContext, tag: str, stack: str) -> list[dict]:
    """Every resource the Resource Groups Tagging API finds with tag=stack: ARN and tags."""
    pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": tag, "Values": [stack]}])
    return [r for page in pages for r in page["ResourceTagMappingList"]]


def _drop_terminated(ctx: AwsContext, arns: list[str]) -> list[str]:
    instances = {arn.rsplit("/", 1)[1]: arn for arn in arns if ":instance/" in arn}
    if not instances:
        return arns
    gone = set()
    for page in ctx.client("ec2").get_paginator("describe_instances").paginate(InstanceIds=list(instances)):
        for reservation in page["Reservations"]:
            gone |= {i["InstanceId"] for i in reservation["Instances"] if i["State"]["Name"] == "terminated"}
    return [arn for arn in arns if arn not in {instances[i] for i in gone}]


def resources_by_instance(ctx: AwsContext, tag: str, stack: str, instance_tag: str, base: str) -> dict[str, dict]:
    """Per instance (the base: resources without instance_tag): state (EC2/RDS) and a summary.

    On an error, {"": {"error": why}}: status shows it rather than guessing.
    """
    try:
        mappings = _tagged(ctx, tag, stack)
        live = set(_drop_terminated(ctx, [r["ResourceARN"] for r in mappings]))
        groups: dict[str, list[str]] = {}
        for r in mappings:
            if r["ResourceARN"] in live:
                owner = next((t["Value"] for t in r["Tags"] if t["Key"] == instance_tag), base)
                groups.setdefault(owner, []).append(r["ResourceARN"])
        return {owner: _summary(ctx, arns) for owner, arns in groups.items()}
    except Exception as err:
        _status, detail, _hint = classify(err)
        return {"": {"error": detail}}


def _summary(ctx: AwsContext, arns: list[str]) -> dict:
    states, parts = [], []
    instance_ids = [a.rsplit("/", 1)[1] for a in arns if ":instance/" in a]
    if instance_ids:
        for page in ctx.client("ec2").get_paginator("describe_instances").paginate(InstanceIds=instance_ids):
            for reservation in page["Reservations"]:
                for i in reservation["Instances"]:
                    states.append(i["State"]["Name"])
                    parts.append(f"{i['InstanceId']} {i['InstanceType']} {i['State']['Name']}")
    for arn in (a for a in arns if ":rds:" in a and ":db:" in a):
        db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=arn.rsplit(":", 1)[1])["DBInstances"][0]
        states.append(db["DBInstanceStatus"])
        parts.append(f"{db['DBInstanceIdentifier']} {db['DBInstanceClass']} {db['DBInstanceStatus']}")
    state = ", ".join(sorted(set(states))) or "provisioned"
    return {"state": state, "health": "; ".join(parts) or None, "resources": len(arns)}


class Inventory:
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
        return tagged_resources(self.context(stack), STACK_TAG, stack.name)

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        """What AWS says of the instance's resources (found by tag): EC2 and RDS states, resource count."""
        if self._resources is None:
            self._resources = resources_by_instance(self.context(stack), STACK_TAG, stack.name, INSTANCE_TAG, INFRA)
        found = self._resources.get(instance)
        if found is None:
            return {"state": "unknown", "health": self._resources.get("", {}).get("error")}
        return found
