"""Teardown verification on AWS: everything still tagged with the stack after a destroy.

The Resource Groups Tagging API covers EC2, S3, RDS and most services; IAM is global and not in
it, so roles and instance profiles are listed by the path stackctl gives them (/stackctl/<stack>/).
Terminated EC2 instances linger in listings for a while; they are gone, not left over.
"""

from __future__ import annotations

from .awsapi import AwsContext, classify


def iam_path(stack: str) -> str:
    return f"/stackctl/{stack}/"


def tagged_resources(ctx: AwsContext, tag: str, stack: str) -> list[str]:
    """What still exists for the stack, one line each; a line saying why when it cannot be verified."""
    try:
        pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
            TagFilters=[{"Key": tag, "Values": [stack]}])
        arns = [r["ResourceARN"] for page in pages for r in page["ResourceTagMappingList"]]
        arns = _drop_terminated(ctx, arns)
        iam = ctx.client("iam")
        arns += [r["Arn"] for page in iam.get_paginator("list_roles").paginate(PathPrefix=iam_path(stack))
                 for r in page["Roles"]]
        arns += [p["Arn"] for page in iam.get_paginator("list_instance_profiles").paginate(PathPrefix=iam_path(stack))
                 for p in page["InstanceProfiles"]]
    except Exception as err:
        _status, detail, hint = classify(err)
        return [f"teardown could not be verified: {detail} ({hint})"]
    return sorted(arns)


def _drop_terminated(ctx: AwsContext, arns: list[str]) -> list[str]:
    instances = {arn.rsplit("/", 1)[1]: arn for arn in arns if ":instance/" in arn}
    if not instances:
        return arns
    gone = set()
    for page in ctx.client("ec2").get_paginator("describe_instances").paginate(InstanceIds=list(instances)):
        for reservation in page["Reservations"]:
            gone |= {i["InstanceId"] for i in reservation["Instances"] if i["State"]["Name"] == "terminated"}
    return [arn for arn in arns if arn not in {instances[i] for i in gone}]
