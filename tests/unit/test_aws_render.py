"""Rendering the aws target: a plain, fmt-clean Terraform root whose provider and backend reach the
same endpoints boto3 would (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the config file), with the
manifest's target.endpoint winning, and no secret in any file."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.aws_emulator import provider_mirror
from tests.conftest import REPO, run_cli, terraform_command

from stackctl.targets.aws.sdk import AwsContext

AWS_GPU = REPO / "stacks" / "aws-gpu.yaml"


@pytest.fixture
def no_aws_config(tmp_path, monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EC2", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return tmp_path / "aws-config"


def _render(manifest, out):
    result = run_cli("render", str(manifest), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads((out / "terraform.tfvars.json").read_text())


def test_aws_root_is_fmt_clean_and_validates(no_aws_config, tmp_path, monkeypatch):
    out = tmp_path / "root"
    tfvars = _render(AWS_GPU, out)
    assert tfvars["aws_endpoints"] == {} and tfvars["aws_s3_use_path_style"] is False  # real AWS: no override
    assert tfvars["infra__gpu_instance_type"] == "g5.xlarge" and tfvars["infra__gpu_instances"] == 1
    assert tfvars["aws_default_tags"]["stackctl:stack"] == "aws-gpu"
    assert not any("password" in key for key in tfvars)  # secrets reach Terraform as TF_VAR_* only
    fmt = subprocess.run([*terraform_command(), "fmt", "-check", "-recursive", str(out)], capture_output=True,
                         text=True)
    assert fmt.returncode == 0, fmt.stdout
    main = (out / "main.tf").read_text()
    assert "infra             = module.infra.placement" in main
    assert "object_store_bucket     = module.infra.bucket" in main  # the base provides the object store
    mirror = provider_mirror()
    if mirror is None:
        pytest.skip("no hashicorp/aws mirror here: terraform validate needs the provider")
    config = tmp_path / "mirror.tfrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    env = {"TF_CLI_CONFIG_FILE": str(config), "PATH": __import__("os").environ["PATH"]}
    init = subprocess.run([*terraform_command(), f"-chdir={out}", "init", "-backend=false", "-input=false"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert init.returncode == 0, init.stderr
    validate = subprocess.run([*terraform_command(), f"-chdir={out}", "validate", "-no-color"], capture_output=True,
                              text=True, env=env, timeout=300)
    assert validate.returncode == 0, validate.stderr + validate.stdout


def test_endpoints_resolve_as_boto3_does(no_aws_config, monkeypatch):
    assert AwsContext("us-east-1").endpoints == {}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    assert AwsContext("us-east-1").endpoints == {"s3": "http://127.0.0.1:9000"}
    assert not AwsContext("us-east-1").emulated  # only S3 is elsewhere: EC2 is real
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    ctx = AwsContext("us-east-1")
    assert ctx.endpoint_of("s3") == "http://127.0.0.1:9000"  # the per-service variable wins, as in boto3
    assert ctx.endpoint_of("ec2") == "http://127.0.0.1:4566" and ctx.emulated
    assert ctx.provider_endpoints()["servicequotas"] == "http://127.0.0.1:4566"  # the provider's own key names
    explicit = AwsContext("us-east-1", endpoint="http://127.0.0.1:5000")
    assert set(explicit.endpoints.values()) == {"http://127.0.0.1:5000"}  # target.endpoint wins over both


def test_endpoint_from_the_shared_config_file(no_aws_config, monkeypatch):
    no_aws_config.write_text("[default]\nendpoint_url = http://127.0.0.1:4566\n")
    assert AwsContext("us-east-1").endpoint_of("sts") == "http://127.0.0.1:4566"
    no_aws_config.write_text("[default]\nservices = local\n[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9\n")
    assert AwsContext("us-east-1").endpoints == {"s3": "http://127.0.0.1:9"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")  # the variable wins, as in boto3
    assert AwsContext("us-east-1").endpoints == dict.fromkeys(AwsContext("x", "http://127.0.0.1:4566").endpoints,
                                                              "http://127.0.0.1:4566")


def test_endpoints_without_building_clients_are_those_boto3_resolves(no_aws_config, monkeypatch):
    """Nothing set, or AWS_ENDPOINT_URL alone: answered without a client per service, and the same
    answer as the clients give; AWS's own URL in AWS_ENDPOINT_URL is no override, as with the clients."""
    from stackctl.targets.aws import sdk as awsapi

    def by_clients():
        with monkeypatch.context() as m:
            m.setattr(awsapi, "_simple_endpoints", lambda session: None)
            return AwsContext("us-east-1").endpoints

    for url in (None, "http://127.0.0.1:4566", "https://sts.us-east-1.amazonaws.com"):
        if url:
            monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        expected = by_clients()
        assert AwsContext("us-east-1").endpoints == expected, url
    assert "sts" not in expected and expected["ec2"] == "https://sts.us-east-1.amazonaws.com"


S3_BACKEND = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: team}
target: {kind: aws, region: eu-west-1}
backend: {kind: s3, bucket: team-state, region: eu-central-1}
components:
  tracking: {use: mlflow}
"""


def _backend(root):
    text = (root / "versions.tf").read_text()
    assert 'backend "s3" {' in text
    return text.split('backend "s3" {', 1)[1].split("\n  }", 1)[0]


def test_s3_backend_block(no_aws_config, write, tmp_path, monkeypatch):
    path = write(S3_BACKEND)
    _render(path, tmp_path / "aws")
    versions = _backend(tmp_path / "aws")
    assert 'bucket       = "team-state"' in versions and 'key          = "stackctl/team/terraform.tfstate"' in versions
    assert 'region       = "eu-central-1"' in versions and "use_lockfile = true" in versions
    assert "encrypt      = true" in versions
    assert "endpoints" not in versions and "use_path_style" not in versions

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    _render(path, tmp_path / "emulated")
    versions = _backend(tmp_path / "emulated")
    assert 'endpoints      = { s3 = "http://127.0.0.1:4566", sts = "http://127.0.0.1:4566" }' in versions
    assert "use_path_style = true" in versions
    fmt = subprocess.run([*terraform_command(), "fmt", "-check", str(tmp_path / "emulated")], capture_output=True,
                         text=True)
    assert fmt.returncode == 0, fmt.stdout


def test_allow_from_must_be_cidrs(write):
    path = write(S3_BACKEND.replace("region: eu-west-1}", "region: eu-west-1, allow_from: [10.0.0.0/8, my-laptop]}"))
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "target.allow_from[1]: 'my-laptop' is not a CIDR" in result.stderr
    assert "203.0.113.7/32" in result.stderr


def test_a_local_object_store_on_aws_says_the_base_replaces_it(write):
    """Moving a local manifest to aws: the SeaweedFS instance is the one line to drop, and the error says so."""
    text = (REPO / "stacks" / "local-postgres.yaml").read_text()
    text = text.replace("  kind: local", "  kind: aws\n  region: us-east-1")
    result = run_cli("validate", str(write(text)))
    assert result.returncode == 2
    assert "components.storage.use: seaweedfs has no module for target 'aws'" in result.stderr
    assert "fix: remove storage: on aws the target's base provides object_store" in result.stderr
