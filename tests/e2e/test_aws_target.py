"""The aws target for real: Terraform's hashicorp/aws provider against moto's server on 127.0.0.1.

Nothing is faked inside stackctl or Terraform: the provider talks HTTP to the emulator the way it
talks to AWS, and boto3 then confirms what exists. The emulator runs no servers on its "instances",
so service-level probes are reported skipped with that reason; the base is checked through the APIs.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import boto3
import pytest
from tests.aws_emulator import provider_mirror
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.e2e
STACK_TAG = "stackctl:stack"


@pytest.fixture
def mirror(monkeypatch):
    path = provider_mirror()
    if path is None:
        pytest.skip("no filesystem mirror of hashicorp/aws here (set STACKCTL_PROVIDER_MIRROR); "
                    "the aws target's rendering is still covered by the unit tests")
    monkeypatch.setenv("STACKCTL_PROVIDER_MIRROR", path)
    return path


def _client(service, endpoint=None):
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


def _live_instances(stack, endpoint=None):
    reservations = _client("ec2", endpoint).describe_instances(Filters=[
        {"Name": f"tag:{STACK_TAG}", "Values": [stack]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def _tagged(stack, endpoint=None):
    """ARNs still tagged with the stack, terminated instances (gone, but listed a while) aside."""
    arns = [r["ResourceARN"] for r in _client("resourcegroupstaggingapi", endpoint).get_resources(
        TagFilters=[{"Key": STACK_TAG, "Values": [stack]}])["ResourceTagMappingList"]]
    live = {i["InstanceId"] for i in _live_instances(stack, endpoint)}
    return [a for a in arns if ":instance/" not in a or a.rsplit("/", 1)[1] in live]


def test_aws_gpu_stack_up_plan_down(aws_env, mirror, stackctl_home, tmp_path):
    """stacks/aws-gpu.yaml as shipped: applied for real, confirmed by boto3, no changes on plan, nothing left."""
    manifest = str(REPO / "stacks" / "aws-gpu.yaml")
    junit = tmp_path / "smoke.xml"
    up = run_cli("up", manifest, "--yes", "--junit", str(junit))
    assert up.returncode == 0, up.stdout + up.stderr
    out = up.stdout
    assert "OK g5.xlarge offered" in out and "OK credentials" in out
    assert "UNKNOWN G vCPU quota" in out and "not verified" in out  # said out loud, not silently passed
    assert "PASSED   infra" in out
    # MLflow's two probes; RDS is private, so postgres' own probes are local-only (MLflow's round trip uses it)
    assert out.count("service probe skipped: EC2 is served by an emulator") == 2
    assert "smoke: 1 passed, 0 failed, 2 skipped" in out
    assert junit.read_text().count("<skipped") == 2

    # boto3 confirms every resource: instance types, tags, bucket, role, database, secret parameter
    instances = _live_instances("aws-gpu")
    assert sorted(i["InstanceType"] for i in instances) == ["g5.xlarge", "t3.medium"]
    gpu = next(i for i in instances if i["InstanceType"] == "g5.xlarge")
    assert {"Key": "stackctl:gpu", "Value": "a10g"} in gpu["Tags"]
    assert {"Key": "owner", "Value": "solutions"} in gpu["Tags"]  # metadata.labels become tags
    assert all("/stackctl/aws-gpu/" in i["IamInstanceProfile"]["Arn"] for i in instances)
    roles = _client("iam").list_roles(PathPrefix="/stackctl/aws-gpu/")["Roles"]
    assert [r["RoleName"] for r in roles] == ["aws-gpu-pool"]
    buckets = [b["Name"] for b in _client("s3").list_buckets()["Buckets"] if b["Name"].startswith("aws-gpu-")]
    assert len(buckets) == 1
    tags = {t["Key"]: t["Value"] for t in _client("s3").get_bucket_tagging(Bucket=buckets[0])["TagSet"]}
    assert tags[STACK_TAG] == "aws-gpu"
    db = _client("rds").describe_db_instances(DBInstanceIdentifier="aws-gpu-db")["DBInstances"][0]
    assert db["Engine"] == "postgres" and db["PubliclyAccessible"] is False and db["StorageEncrypted"] is True
    param = _client("ssm").get_parameter(Name="/stackctl/aws-gpu/tracking/backend-store-uri", WithDecryption=True)
    assert param["Parameter"]["Type"] == "SecureString"
    assert param["Parameter"]["Value"].startswith("postgresql://stack:")

    # the generated database password is nowhere in plain text: files, user data, output
    password = json.loads((stackctl_home / "secrets" / "aws-gpu.json").read_text())["db.password"]
    tf_dir = stackctl_home / "stacks" / "aws-gpu" / "tf"
    for path in [*tf_dir.glob("*.tf"), tf_dir / "terraform.tfvars.json"]:
        assert password not in path.read_text(), path
    mlflow = next(i for i in instances if i["InstanceType"] == "t3.medium")
    user_data = _client("ec2").describe_instance_attribute(InstanceId=mlflow["InstanceId"], Attribute="userData")
    assert "mlflow==" in base64.b64decode(user_data["UserData"]["Value"]).decode()
    assert password not in base64.b64decode(user_data["UserData"]["Value"]).decode()
    outputs = run_cli("outputs", "aws-gpu", "--json")
    assert outputs.returncode == 0 and password not in outputs.stdout and password not in up.stdout
    assert json.loads(outputs.stdout)["infra"]["bucket"] == buckets[0]

    status = run_cli("status", "aws-gpu", "--json")
    assert status.returncode == 0, status.stderr
    comps = json.loads(status.stdout)["components"]
    assert comps["tracking"]["state"] == "running" and "t3.medium running" in comps["tracking"]["health"]
    assert comps["db"]["state"] == "available" and "aws-gpu-db" in comps["db"]["health"]
    assert comps["infra"]["state"] == "running" and "g5.xlarge running" in comps["infra"]["health"]
    assert comps["infra"]["resources"] >= 10  # VPC, subnets, gateway, route table, group, bucket, GPU node...

    plan = run_cli("plan", "aws-gpu")
    assert plan.returncode == 0, plan.stderr
    assert "No changes: the stack already matches its manifest." in plan.stdout

    down = run_cli("down", "aws-gpu", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "teardown verified: 0 resources tagged with the stack remain" in down.stdout
    assert _tagged("aws-gpu") == []
    assert _client("iam").list_roles(PathPrefix="/stackctl/aws-gpu/")["Roles"] == []
    assert not (stackctl_home / "stacks" / "aws-gpu").exists()


ONE_RUN = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: one-run}}
target: {{kind: aws, region: us-east-1}}
components:
  tracking: {{use: mlflow, with: {{instance_type: {itype}}}}}
"""


def _plan_lines(text):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("component "))
    end = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
    return lines[start:end + 1]


def test_up_yes_checks_during_init_then_applies_in_one_run(aws_env, mirror, stackctl_home, write):
    """A NO (an instance type no zone offers) stops `up` before any plan, its checks having run during
    init, which it leaves whole; with the type fixed, `up --yes` runs one apply -auto-approve whose events
    print the summary `plan` prints, its provider linked from the shared plugin cache."""
    bad = str(write(ONE_RUN.format(itype="x9.nope")))
    stopped = run_cli("up", bad, "--yes", "--no-smoke")
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    assert "  NO x9.nope offered: x9.nope is not offered in any zone of us-east-1" in stopped.stdout
    assert "preflight failed: x9.nope offered" in stopped.stderr and "Plan:" not in stopped.stdout
    tf_dir = stackctl_home / "stacks" / "one-run" / "tf"
    assert (tf_dir / ".terraform.lock.hcl").is_file() and not (tf_dir / "terraform.tfstate").exists()
    assert not (tf_dir.parent / "stack.json").exists()

    good = str(write(ONE_RUN.format(itype="t3.medium")))
    plan = run_cli("plan", good)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    up = run_cli("up", good, "--yes", "--no-smoke")
    assert up.returncode == 0, up.stdout + up.stderr
    out = up.stdout
    assert _plan_lines(out) == _plan_lines(plan.stdout)
    assert out.index("OK t3.medium offered") < out.index("Plan: ") < out.index("tracking  ready after")
    assert [i["InstanceType"] for i in _live_instances("one-run")] == ["t3.medium"]
    provider = next((tf_dir / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "aws").glob("*/*"))
    assert provider.is_symlink() and Path(os.readlink(provider)).is_relative_to(stackctl_home / "cache" / "plugins")

    again = run_cli("up", good, "--yes", "--no-smoke")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes: the stack already matches its manifest." in again.stdout
    assert "tracking  " not in again.stdout.split("No changes")[1].split("stack one-run is up")[0]  # no view
    down = run_cli("down", good, "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _tagged("one-run") == []


S3_STATE_STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: shared-state}}
target: {{kind: aws, region: us-east-1, endpoint: "{endpoint}"}}
backend: {{kind: s3, bucket: team-tfstate}}
components:
  tracking: {{use: mlflow}}
"""


def test_s3_backend_locking_and_owner(aws_env, mirror, stackctl_home, write, monkeypatch):
    """State in S3 with lock files; target.endpoint alone reaches the emulator; another account may not destroy."""
    endpoint = aws_env.url
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the manifest's target.endpoint is the only pointer to the emulator
    path = str(write(S3_STATE_STACK.format(endpoint=endpoint)))

    missing = run_cli("up", path, "--yes")
    assert missing.returncode == 2
    assert "NO state bucket: s3://team-tfstate does not exist" in missing.stdout
    assert "aws s3api create-bucket --bucket team-tfstate" in missing.stdout
    assert not (stackctl_home / "stacks" / "shared-state" / "tf" / ".terraform").exists()  # stopped before Terraform

    s3 = _client("s3", endpoint)
    s3.create_bucket(Bucket="team-tfstate")
    up = run_cli("up", path, "--yes", "--no-smoke")
    assert up.returncode == 0, up.stdout + up.stderr
    key = "stackctl/shared-state/terraform.tfstate"
    state = json.loads(s3.get_object(Bucket="team-tfstate", Key=key)["Body"].read())
    assert any(r["type"] == "aws_instance" for r in state["resources"])
    assert not (stackctl_home / "stacks" / "shared-state" / "tf" / "terraform.tfstate").exists()
    assert [i["InstanceType"] for i in _live_instances("shared-state", endpoint)] == ["t3.medium"]

    # someone else holds the state lock: stackctl names them and changes nothing
    lock = {"ID": "4f1c", "Operation": "OperationTypeApply", "Who": "alice@ci-runner", "Version": "1.11.4",
            "Created": "2026-11-22T04:00:00Z", "Path": f"team-tfstate/{key}", "Info": ""}
    s3.put_object(Bucket="team-tfstate", Key=f"{key}.tflock", Body=json.dumps(lock).encode())
    locked = run_cli("plan", path)
    assert locked.returncode != 0 and "alice@ci-runner" in locked.stdout + locked.stderr
    s3.delete_object(Bucket="team-tfstate", Key=f"{key}.tflock")

    # credentials of another account: down refuses before touching anything
    other = _client("sts", endpoint).assume_role(RoleArn="arn:aws:iam::111122223333:role/other-team",
                                                  RoleSessionName="stackctl-test")["Credentials"]
    refused = run_cli("down", "shared-state", "--yes", env={
        "AWS_ACCESS_KEY_ID": other["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": other["SecretAccessKey"],
        "AWS_SESSION_TOKEN": other["SessionToken"]})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "created by AWS account 123456789012" in refused.stderr and "111122223333" in refused.stderr
    assert len(_live_instances("shared-state", endpoint)) == 1

    monkeypatch.delenv("STACKCTL_PROVIDER_MIRROR")  # the mirror `up` used is remembered with the stack
    down = run_cli("down", "shared-state", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "teardown verified: 0 resources tagged with the stack remain" in down.stdout
    assert f"removed its state s3://team-tfstate/{key}" in down.stdout
    assert "Contents" not in s3.list_objects_v2(Bucket="team-tfstate")
    assert _tagged("shared-state", endpoint) == []


def test_aws_manifest_runs_locally_by_changing_target_alone(stackctl_home, write):
    """stacks/aws-gpu.yaml with `target: {kind: local}`: the same components run here for real, the local
    base standing in for the S3 bucket (SeaweedFS), the aws-only input noted and ignored."""
    text = (REPO / "stacks" / "aws-gpu.yaml").read_text()
    head, rest = text.split("target:\n", 1)
    rest = rest.split("backend:", 1)[1]
    path = str(write(head.replace("name: aws-gpu", "name: moved") + "target: {kind: local}\nbackend:" + rest))
    up = run_cli("up", path, "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "applies to target aws only; ignored on local" in up.stdout
    assert "smoke: 6 passed, 0 failed, 0 skipped" in up.stdout
    assert "found the artifact in the object store" in up.stdout  # MLflow -> the base's SeaweedFS, for real
    down = run_cli("down", "moved", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no process left, every port closed" in down.stdout
