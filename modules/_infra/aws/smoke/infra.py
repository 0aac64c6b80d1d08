"""The aws base, confirmed through the AWS APIs (boto3): what Terraform says it made is really there.

Steps: the bucket takes an object round trip and is private and encrypted; the pool's role lives
under /stackctl/<stack>/ with an instance profile, and its policy reaches this bucket only; the
VPC carries the stack's tag; the GPU pool has the mapped instance type and count, with the role;
every instance of the stack is pending or running. Reads STACKCTL_SMOKE_CONTEXT; one line per step.
"""

from __future__ import annotations

import json
import uuid

from stackctl_smoke import check, context, run, step  # modules/_lib, on PYTHONPATH


def main() -> None:
    import boto3

    ctx = context()
    aws, out, stack = ctx["aws"], ctx["outputs"], ctx["stack"]
    tag_key, tag_value = next(iter(aws["tag"].items()))

    def client(service: str):
        return boto3.client(service, region_name=aws["region"], endpoint_url=aws["endpoints"].get(service))

    s3, bucket = client("s3"), out["bucket"]
    key = f"stackctl-smoke/{uuid.uuid4().hex}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"stackctl")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=key)
    check(body == b"stackctl", "bucket", f"s3://{bucket}/{key} read back {body!r}")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    check(all(block.values()), "bucket", f"public access is not fully blocked: {block}")
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    check(bool(rules), "bucket", "no default encryption")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    check(tags.get(tag_key) == tag_value, "bucket", f"missing tag {tag_key}={tag_value}: {tags}")
    step(f"PASS bucket s3://{bucket}: object round trip, private, encrypted, tagged")

    iam = client("iam")
    path = f"/stackctl/{stack}/"
    roles = iam.list_roles(PathPrefix=path)["Roles"]
    check(len(roles) == 1, "role", f"expected one role under {path}, found {[r['RoleName'] for r in roles]}")
    role = roles[0]["RoleName"]
    profiles = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    check(len(profiles) == 1, "role", f"{role} has {len(profiles)} instance profiles")
    resources = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        resources += [r for s in doc["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                             else s["Resource"])]
    check(not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], "role",
          "managed policies are attached: the role must reach the stack's bucket only")
    stray = [r for r in resources if bucket not in r and f":parameter/stackctl/{stack}/" not in r]
    check(bool(resources) and not stray, "role", f"the policy reaches beyond the stack: {stray or 'nothing allowed'}")
    step(f"PASS role {path}{role}: instance profile {profiles[0]['InstanceProfileName']}, "
         f"allowed {bucket} and the stack's parameters only")

    ec2 = client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": f"tag:{tag_key}", "Values": [tag_value]}])["Vpcs"]
    check(len(vpcs) == 1, "network", f"expected one VPC tagged {tag_key}={tag_value}, found {len(vpcs)}")
    step(f"PASS network {vpcs[0]['VpcId']} ({vpcs[0]['CidrBlock']}) tagged {tag_key}={tag_value}")

    live = [i for r in ec2.describe_instances(Filters=[
        {"Name": f"tag:{tag_key}", "Values": [tag_value]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]]
    pool = ctx["pool"]
    gpus = [i for i in live if any(t["Key"] == "stackctl:gpu" for t in i.get("Tags", []))]
    check(len(gpus) == pool["gpu_instances"], "gpu pool",
          f"expected {pool['gpu_instances']} GPU instance(s), found {len(gpus)}")
    wrong = [f"{i['InstanceId']} is {i['InstanceType']}" for i in gpus
             if i["InstanceType"] != pool["gpu_instance_type"]]
    check(not wrong, "gpu pool", f"expected {pool['gpu_instance_type']}: {wrong}")
    no_role = [i["InstanceId"] for i in live if profiles[0]["Arn"] != i.get("IamInstanceProfile", {}).get("Arn")]
    check(not no_role, "instances", f"instances without the pool's instance profile: {no_role}")
    if pool["gpu_instances"]:
        step(f"PASS gpu pool: {len(gpus)} x {pool['gpu_instance_type']} ({pool['gpu_type']})")
    step(f"PASS instances: {len(live)} of the stack pending or running, each with the pool's role: "
         + ", ".join(f"{i['InstanceId']} {i['InstanceType']}" for i in live))


if __name__ == "__main__":
    run(main)
