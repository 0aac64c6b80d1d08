"""SeaweedFS round trip: put, list, get and delete an object over S3; unsigned requests are refused.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import uuid

from stackctl_smoke import context, fail, run  # modules/_lib, on PYTHONPATH


def main() -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ctx = context()
    out = ctx["outputs"]
    endpoint, bucket = out["s3_endpoint"], out["bucket"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=out["region"],
                      aws_access_key_id=out["access_key"], aws_secret_access_key=out["secret_key"])
    key = f"stackctl-smoke/{ctx.get('instance', 'seaweedfs')}/{uuid.uuid4().hex}.txt"
    body = f"stackctl smoke {uuid.uuid4()}".encode()

    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except Exception as err:
        fail(f"put s3://{bucket}/{key}", err)
    print(f"put s3://{bucket}/{key} ({len(body)} bytes)", flush=True)

    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    if [o["Key"] for o in listed] != [key]:
        fail("list", f"expected [{key}], got {[o['Key'] for o in listed]}")
    print(f"listed {key}", flush=True)

    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if got != body:
        fail("get", f"read back {got!r}, wrote {body!r}")
    print("read back the same bytes", flush=True)

    anon = boto3.client("s3", endpoint_url=endpoint, region_name=out["region"],
                        config=Config(signature_version=UNSIGNED))
    try:
        anon.get_object(Bucket=bucket, Key=key)
        fail("auth", "an unsigned request could read the object")
    except ClientError as err:
        print(f"unsigned request refused ({err.response['Error']['Code']})", flush=True)

    s3.delete_object(Bucket=bucket, Key=key)
    print(f"deleted s3://{bucket}/{key}", flush=True)


if __name__ == "__main__":
    run(main)
