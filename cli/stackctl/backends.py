"""Where Terraform keeps a stack's state: `local` (the workdir) or `s3` (a bucket, with S3 lock files).

The backend block is the one place a value reaches a template, because Terraform evaluates
backends before variables: every value is validated by the manifest and written as an escaped
HCL string.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import hcl
from .datatypes import Check
from .errors import Problem
from .targets.aws.sdk import AwsContext, classify, error_code

if TYPE_CHECKING:
    from .stack import Stack

KINDS = ("local", "s3", "gcs", "azurerm")  # what backend.kind may say
LOCAL = "local"  # state in the stack's workdir, next to the rendered root
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


def state_key(stack: Stack) -> str:
    return f"stackctl/{stack.name}/terraform.tfstate"


def s3_context(stack: Stack) -> AwsContext:
    m = stack.loaded.manifest
    fallback = m.target.backend_defaults()
    return AwsContext(region=m.backend.region or fallback.get("region"), endpoint=fallback.get("endpoint"))


def backend_block(stack: Stack) -> str | None:
    backend = stack.loaded.manifest.backend
    if backend.kind != "s3":
        return None  # local state in the rendered root
    ctx = s3_context(stack)
    pairs = [("bucket", hcl.string(backend.bucket)), ("key", hcl.string(state_key(stack))),
             ("region", hcl.string(ctx.region)),
             ("encrypt", "true"),  # the state holds what Terraform holds, secrets included
             ("use_lockfile", "true")]  # S3-native locking (conditional writes): no DynamoDB table needed
    overrides = {k: ctx.endpoint_of(k) for k in ("s3", "sts") if ctx.endpoint_of(k)}
    if overrides:
        pairs.append(("use_path_style", "true"))
        pairs.append(("endpoints", "{ " + ", ".join(f"{k} = {hcl.string(v)}" for k, v in overrides.items()) + " }"))
    body = "\n".join(f"    {line}" for line in hcl.aligned(pairs))
    return f'  backend "s3" {{\n{body}\n  }}'


def manifest_problems(loaded) -> list[Problem]:
    """What the manifest's backend section lacks (bucket, region) or asks for that is not available."""
    m = loaded.manifest
    if m.backend.kind == LOCAL:
        return []
    if m.backend.kind != "s3":
        return [Problem(loaded.where("backend", "kind"), "backend.kind",
                        f"the {m.backend.kind} state backend is not available in this version of stackctl",
                        "use backend: {kind: local} (state in the stack's workdir) or {kind: s3, bucket: NAME}")]
    problems = []
    if not m.backend.bucket:
        problems.append(Problem(loaded.where("backend"), "backend.bucket", "the s3 backend needs a bucket",
                                "add `bucket: NAME` (an existing bucket you can write to) under backend"))
    elif not re.match(S3_BUCKET, m.backend.bucket):
        problems.append(Problem(loaded.where("backend", "bucket"), "backend.bucket",
                                "not a valid S3 bucket name", "3-63 lower-case letters, digits, dots and hyphens"))
    if not (m.backend.region or m.target.backend_defaults().get("region")):
        problems.append(Problem(loaded.where("backend"), "backend.region", "the s3 backend needs a region",
                                "add `region:` under backend (or target.region)"))
    return problems


def preflight(stack: Stack) -> list[Check]:
    """The state backend's own checks, whatever the target (an s3 bucket behind a local stack too)."""
    return [check_state_bucket(stack)] if stack.loaded.manifest.backend.kind == "s3" else []


def check_state_bucket(stack: Stack) -> Check:
    backend = stack.loaded.manifest.backend
    ctx = s3_context(stack)
    try:
        ctx.client("s3").head_bucket(Bucket=backend.bucket)
    except Exception as err:
        if error_code(err) in ("404", "NoSuchBucket", "NotFound"):
            return Check("state bucket", "NO", f"s3://{backend.bucket} does not exist",
                         f"create it once: aws s3api create-bucket --bucket {backend.bucket} --region {ctx.region}"
                         + ("" if ctx.region == "us-east-1" else
                            f" --create-bucket-configuration LocationConstraint={ctx.region}"))
        return Check("state bucket", *classify(err))
    return Check("state bucket", "OK", f"s3://{backend.bucket}/{state_key(stack)} (locked with S3 lock files)")


def forget_state(stack: Stack) -> str | None:
    """After a verified destroy: delete the (now empty) state object. Returns what was removed."""
    backend = stack.loaded.manifest.backend
    if backend.kind != "s3":
        return None
    ctx = s3_context(stack)
    ctx.client("s3").delete_object(Bucket=backend.bucket, Key=state_key(stack))
    return f"s3://{backend.bucket}/{state_key(stack)}"
