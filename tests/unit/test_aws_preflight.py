"""The aws target's preflight and manifest checks: each problem is answered OK / NO / UNKNOWN with its fix.

Credentials, region and instance-type offerings are asked of moto's server on 127.0.0.1 through the
real CLI. vCPU quotas use botocore's Stubber instead: moto implements no EC2 Service Quotas, so the
quota answers (too low, enough, throttled, denied) cannot come from the emulator.
"""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.stub import Stubber
from tests.conftest import run_cli

from stackctl.targets.aws import GPU_TYPES, AwsTarget, quota_family
from stackctl.targets.aws.sdk import AwsContext

# stacks/aws-gpu.yaml with its own name; {region} and {gpu} vary per test
AWS_GPU = """\
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: preflight-gpu
  labels: {{owner: solutions}}
  ttl: 8h
target:
  kind: aws
  region: {region}
  gpu: {{type: {gpu}, count: 1}}
backend: {{kind: local}}
components:
  db: {{use: postgres}}
  tracking: {{use: mlflow, with: {{instance_type: t3.medium}}}}
"""


def _manifest(write, region: str = "us-east-1", gpu: str = "a10g") -> str:
    return str(write(AWS_GPU.format(region=region, gpu=gpu)))


def _check(path: str, *args: str):
    result = run_cli("check", path, *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result, result.stdout


# ---- against the emulator, through the CLI ----


def test_check_passes_and_says_quota_not_verified(aws_env, write):
    """Credentials, region and both instance types are OK; the unreadable G quota is UNKNOWN, said out loud."""
    result, out = _check(_manifest(write))
    assert result.returncode == 0, out + result.stderr
    for line in ("  OK credentials: arn:aws:", "  OK region: us-east-1", "  OK g5.xlarge offered: in ",
                 "  OK t3.medium offered: in "):
        assert line in out, f"{line!r} not in:\n{out}"
    assert re.search(r"^  UNKNOWN G vCPU quota: .*L-DB2E81BA.* not readable: .*the stack needs 4 vCPUs", out, re.M), out
    assert "  not verified: G vCPU quota, Standard vCPU quota; going on without them" in out
    assert "  NO " not in out


def test_check_strict_stops_on_unknown(aws_env, write):
    """--strict turns the unverified quota into a failure: exit 2 naming it."""
    result, out = _check(_manifest(write), "--strict")
    assert result.returncode == 2, out + result.stderr
    assert "  UNKNOWN G vCPU quota:" in out
    assert "preflight failed: G vCPU quota, Standard vCPU quota\n" in result.stderr


def test_no_credentials_stops_check_and_up_before_terraform(aws_env, write, stackctl_home, monkeypatch):
    """Without credentials, check says so with the fix, and up stops before any plan or apply (its
    checks ran while `terraform init` did: the rendered root may be initialised, and nothing else)."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    path = _manifest(write)
    result, out = _check(path)
    assert result.returncode == 2, out + result.stderr
    assert "  NO credentials: no AWS credentials found (fix: set AWS_PROFILE, or AWS_ACCESS_KEY_ID" in out
    assert "preflight failed: credentials" in result.stderr

    up = run_cli("up", path, "--yes")
    assert up.returncode == 2, up.stdout + up.stderr
    assert "  NO credentials: no AWS credentials found" in up.stdout
    assert "preflight failed: credentials" in up.stderr
    workdir = stackctl_home / "stacks" / "preflight-gpu"
    assert not (workdir / "tf" / "terraform.tfstate").exists() and not list((workdir / "tmp").glob("plan-*"))
    assert not (workdir / "stack.json").exists()  # no record: `ls` knows no such stack
    assert run_cli("ls", "--json").stdout.strip() == "[]"


def test_unknown_region_suggests_a_near_one(aws_env, write):
    """A region AWS does not have is NO, with a near name as the fix."""
    result, out = _check(_manifest(write, region="us-east-7"))
    assert result.returncode == 2, out + result.stderr
    assert "  NO region: 'us-east-7' is not an AWS region (fix: did you mean us-east-" in out
    assert re.search(r"did you mean us-east-[12]\?; set target\.region to an AWS region", out), out


def _region_without(itype: str) -> str | None:
    """An enabled region of the emulator whose zones offer t3.medium but not itype."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    regions = sorted(r["RegionName"] for r in ec2.describe_regions(AllRegions=True)["Regions"]
                     if r.get("OptInStatus") == "opt-in-not-required")

    def offered(region: str, t: str) -> bool:
        return bool(boto3.client("ec2", region_name=region).describe_instance_type_offerings(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [t]}],
        )["InstanceTypeOfferings"])

    return next((r for r in regions if offered(r, "t3.medium") and not offered(r, itype)), None)


def test_gpu_type_not_offered_in_region(aws_env, write):
    """An instance type none of the region's zones offer is NO, naming the region and how to find one."""
    itype = GPU_TYPES["h100"].instance_type
    region = _region_without(itype)
    if region is None:
        pytest.skip(f"every enabled region of the emulator offers {itype}")
    result, out = _check(_manifest(write, region=region, gpu="h100"))
    assert result.returncode == 2, out + result.stderr
    assert f"  NO {itype} offered: {itype} is not offered in any zone of {region} (fix: pick another region" in out
    assert f"describe-instance-type-offerings --location-type region --filters Name=instance-type,Values={itype}" in out
    assert "  OK t3.medium offered:" in out and f"  OK region: {region}" in out
    assert f"preflight failed: {itype} offered\n" in result.stderr  # the only failure


# ---- vCPU quotas, with botocore's Stubber ----


class StubbedContext(AwsContext):
    """An AwsContext whose clients answer from Stubbers; a call nothing was queued for fails."""

    def __init__(self):
        super().__init__(region="us-east-1")
        self.stubs: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubs:
            client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            self.stubs[service] = Stubber(client)
            self.stubs[service].activate()
        return self.stubs[service]

    def client(self, service: str):
        return self.stub(service).client


def _quota(value: float, code: str) -> dict:
    return {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "QuotaName": "vCPUs", "Value": value, "Unit": "None"}}


def _with_quota(value: float, code: str = "L-DB2E81BA") -> StubbedContext:
    ctx = StubbedContext()
    ctx.stub("service-quotas").add_response("get_service_quota", _quota(value, code),
                                            {"ServiceCode": "ec2", "QuotaCode": code})
    return ctx


def _with_error(code: str) -> StubbedContext:
    ctx = StubbedContext()
    ctx.stub("service-quotas").add_client_error("get_service_quota", service_error_code=code,
                                                service_message="stubbed", http_status_code=400)
    return ctx


def _answered(ctx: StubbedContext):
    for stub in ctx.stubs.values():
        stub.assert_no_pending_responses()
    assert "ec2" not in ctx.stubs  # GPU types' vCPUs come from GPU_TYPES, not describe_instance_types


def test_quota_too_low_is_no_with_increase_command():
    """4 vCPUs of quota for 2 x g5.xlarge (8 vCPUs): NO, with the exact request-increase command."""
    ctx = _with_quota(4.0)
    check = AwsTarget()._check_quota(ctx, "G", {"g5.xlarge": 2})
    _answered(ctx)
    assert (check.name, check.status) == ("G vCPU quota", "NO")
    assert "quota 4 vCPUs, the stack needs 8 (2 x g5.xlarge)" in check.detail
    assert ("aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
            "--desired-value 8 --region us-east-1") in check.hint


def test_quota_enough_is_ok():
    """64 vCPUs of quota cover 8 needed."""
    ctx = _with_quota(64.0)
    check = AwsTarget()._check_quota(ctx, "G", {"g5.xlarge": 2})
    _answered(ctx)
    assert check.status == "OK", check
    assert "quota 64 vCPUs >= 8 needed (2 x g5.xlarge)" in check.detail


def test_p_family_asks_its_own_quota():
    """p4d.24xlarge counts 96 vCPUs against the P quota, L-417A185B."""
    ctx = _with_quota(0.0, "L-417A185B")
    check = AwsTarget()._check_quota(ctx, "P", {"p4d.24xlarge": 1})
    _answered(ctx)
    assert (check.name, check.status) == ("P vCPU quota", "NO")
    assert "Running On-Demand P instances: quota 0 vCPUs, the stack needs 96 (1 x p4d.24xlarge)" in check.detail
    assert "--quota-code L-417A185B --desired-value 96" in check.hint


def test_quota_throttled_is_unknown():
    """Throttling is not the user's to fix: UNKNOWN, saying so, with what to compare by hand."""
    ctx = _with_error("ThrottlingException")
    check = AwsTarget()._check_quota(ctx, "G", {"g5.xlarge": 2})
    _answered(ctx)
    assert check.status == "UNKNOWN", check
    assert "not readable: throttled by AWS (ThrottlingException); the stack needs 8 vCPUs" in check.detail
    assert check.hint.startswith("try again in a minute")
    assert "compare 8 vCPUs with Service Quotas > Amazon EC2 > L-DB2E81BA in us-east-1" in check.hint


def test_quota_access_denied_names_the_operation():
    """Access denied is UNKNOWN; the hint names the API call to allow."""
    ctx = _with_error("AccessDeniedException")
    check = AwsTarget()._check_quota(ctx, "G", {"g5.xlarge": 2})
    _answered(ctx)
    assert check.status == "UNKNOWN", check
    assert "access denied to GetServiceQuota (AccessDeniedException)" in check.detail
    assert check.hint.startswith("allow GetServiceQuota for this identity")


@pytest.mark.parametrize(("itype", "family"), [
    ("g4dn.xlarge", "G"), ("vt1.3xlarge", "G"), ("p5.48xlarge", "P"), ("t3.medium", "Standard"),
    ("inf2.xlarge", None),
])
def test_quota_family(itype, family):
    """Instance types map to the vCPU quota that counts them; families without a checked quota to None."""
    assert quota_family(itype) == family


# ---- manifest validation for the aws target ----


def _invalid(path: str, *expected: str) -> str:
    result = run_cli("validate", path)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    return err


def test_unknown_gpu_type_suggests_and_lists(write):
    """An unknown GPU type names target.gpu.type, the near name, and every valid type."""
    _invalid(_manifest(write, gpu="a10"), "stack.yaml:10 target.gpu.type: unknown GPU type 'a10'",
             f"fix: did you mean a10g?; valid GPU types: {', '.join(sorted(GPU_TYPES))}")


def test_aws_needs_a_region(write):
    """The aws target without target.region names the field and the fix."""
    path = str(write(AWS_GPU.format(region="x", gpu="a10g").replace("  region: x\n", "")))
    _invalid(path, "target.region: the aws target needs a region", "fix: add `region: us-east-1`")


def test_infra_instance_name_is_reserved_on_aws(write):
    """`infra` names the aws target's base module, so a component may not take it."""
    path = str(write(AWS_GPU.format(region="us-east-1", gpu="a10g").replace("  db: {use: postgres}",
                                                                            "  infra: {use: postgres}")))
    _invalid(path, "components.infra: 'infra' is reserved: it names the target's base", "fix: rename the instance")


def test_aws_only_input_is_ignored_on_local_with_a_note(write):
    """mlflow's instance_type means nothing on the local target: kept in the manifest (so it moves between
    targets by changing `target` alone), ignored there, and said so."""
    path = str(write("""\
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: local-ec2
target:
  kind: local
components:
  tracking: {use: mlflow, with: {instance_type: t3.medium}}
"""))
    result = run_cli("validate", path)
    assert result.returncode == 0, result.stderr
    assert ("note: stack.yaml:8 components.tracking.with.instance_type: applies to target aws only; "
            "ignored on local") in result.stdout
    # no object store in the manifest: on local, the target's base stands in with SeaweedFS
    assert "order: infra → tracking" in result.stdout
    rendered = run_cli("render", path, "--out", "root")
    assert rendered.returncode == 0, rendered.stderr
    assert "instance_type" not in open("root/main.tf").read()
    assert 'source = "./modules/seaweedfs"' in open("root/main.tf").read()


LOCAL_ON_S3 = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: local-s3-state}
target: {kind: local}
backend: {kind: s3, bucket: shared-tfstate, region: us-east-1}
components:
  storage: {use: store}
"""


def test_an_s3_backend_is_checked_on_the_local_target_too(aws_env, write, fixture_catalog):
    """The state bucket is the backend's check, not the aws target's: a local stack's is asked too."""
    path = str(write(LOCAL_ON_S3))
    result, out = _check(path)
    assert result.returncode == 2, out
    assert "  OK disk space:" in out
    assert "  NO state bucket: s3://shared-tfstate does not exist" in out
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="shared-tfstate")
    result, out = _check(path)
    assert result.returncode == 0, out + result.stderr
    assert "  OK state bucket: s3://shared-tfstate/stackctl/local-s3-state/terraform.tfstate" in out
