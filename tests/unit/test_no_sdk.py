"""No cloud SDK before preflight: validate (and --help) work where boto3 cannot be imported, and the
commands that need it say which extra to install instead of failing on an ImportError."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

# boto3 and botocore made unimportable (None in sys.modules makes `import boto3` raise ImportError)
WITHOUT_BOTO3 = ("import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None; "
                 "from stackctl.app import main; main()")
AWS_GPU = str(REPO / "stacks" / "aws-gpu.yaml")


def _stackctl(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STACKCTL_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-c", WITHOUT_BOTO3, *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)


def test_the_wrapper_really_hides_boto3(tmp_path):
    hidden = subprocess.run([sys.executable, "-c", WITHOUT_BOTO3.split("from")[0] + "import boto3"],
                            capture_output=True, text=True, timeout=60)
    assert hidden.returncode == 1 and "import of boto3 halted" in hidden.stderr


def test_validate_and_help_need_no_boto3(tmp_path):
    validate = _stackctl("validate", AWS_GPU, tmp_path=tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert "valid — stack aws-gpu, 3 components, 2 wires, order: infra → db → tracking" in validate.stdout
    helped = _stackctl("--help", tmp_path=tmp_path)
    assert helped.returncode == 0 and "validate" in helped.stdout, helped.stderr


def test_a_bad_region_is_said_without_boto3(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "stacks" / "aws-gpu.yaml").read_text().replace("region: us-east-1", "region: us_east_1"))
    result = _stackctl("validate", str(bad), tmp_path=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "target.region: got 'us_east_1'; an AWS region is letters, digits and '-'" in result.stderr


def test_preflight_and_render_name_the_extra(tmp_path):
    check = _stackctl("check", AWS_GPU, tmp_path=tmp_path)
    assert check.returncode == 2 and "Traceback" not in check.stderr, check.stderr
    assert "NO credentials: boto3 is not installed" in check.stdout and "UNKNOWN" not in check.stdout, check.stdout
    assert "fix: pip install 'stackctl-ml[aws]'" in check.stderr
    render = _stackctl("render", AWS_GPU, tmp_path=tmp_path)
    assert render.returncode == 2 and "Traceback" not in render.stderr
    assert "error: boto3 is not installed; the aws target and the s3 backend need it" in render.stderr
