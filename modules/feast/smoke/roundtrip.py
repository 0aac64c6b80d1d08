"""Feast round trip over the feature server's HTTP API: read the demo feature view that the
launcher materialized from parquet, push a row for a new driver and read it back online; when an
object_store is wired, find the registry file in it; when a kv_store is wired, find the pushed
row in Redis under Feast's key for it.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import json
import math
import random
import urllib.error
import urllib.request
from datetime import datetime, timezone

from stackctl_smoke import check, context, fail, run  # modules/_lib, on PYTHONPATH

VIEW = "driver_hourly_stats"
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy between this machine and the server


def demo_row(driver_id: int, hour: int) -> dict:
    """The demo data the launcher writes (local/launch.py, demo_row): hour 1 is the latest row."""
    n = driver_id - 1000
    return {"conv_rate": round(0.1 * n + 0.01 * hour, 4), "acc_rate": round(0.5 + 0.05 * n, 4),
            "avg_daily_trips": 10 * n + hour}


class NoDemo(Exception):
    """The demo feature view is not in the registry (the instance runs with demo = false)."""


def post(url: str, body: dict, what: str) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with _NO_PROXY.open(req, timeout=60) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        if err.code == 404 and "FeatureViewNotFound" in detail and VIEW in detail:
            raise NoDemo() from None
        fail(what, f"HTTP {err.code}: {detail[:300]}")
    except (urllib.error.URLError, OSError) as err:
        fail(what, getattr(err, "reason", None) or err)
    return json.loads(text) if text else {}


def online(url: str, driver_ids: list[int]) -> dict[int, dict]:
    """{driver_id: {feature: value or None}} from POST /get-online-features."""
    body = {"features": [f"{VIEW}:{f}" for f in FEATURES], "entities": {"driver_id": driver_ids}}
    got = post(f"{url}/get-online-features", body, "get-online-features")
    names = got["metadata"]["feature_names"]
    columns = {name: res for name, res in zip(names, got["results"], strict=True)}
    rows = {}
    for i, driver in enumerate(columns["driver_id"]["values"]):
        rows[driver] = {f: (columns[f]["values"][i] if columns[f]["statuses"][i] == "PRESENT" else None)
                        for f in FEATURES}
    return rows


def same(got: dict, want: dict) -> bool:
    """Float32 features come back as the nearest float32: compare with a tolerance."""
    return all(got.get(k) is not None and math.isclose(got[k], v, rel_tol=1e-6, abs_tol=1e-6)
               for k, v in want.items())


def main() -> None:
    ctx = context()
    url = ctx["outputs"]["feature_server_url"]
    project = ctx.get("instance") or "feast"
    kv = (ctx.get("inputs") or {}).get("kv_store")

    demo = [1001, 1003, 1005]
    try:
        rows = online(url, demo)
    except NoDemo:
        print(f"no feature view {VIEW} in project {project} (demo = false): nothing to read or push", flush=True)
        return
    for driver in demo:
        check(same(rows.get(driver, {}), demo_row(driver, 1)), "demo features",
              f"driver {driver}: got {rows.get(driver)}, materialized {demo_row(driver, 1)}")
    print(f"read the materialized demo features of drivers {demo} from {VIEW}", flush=True)

    rng = random.SystemRandom()
    driver = rng.randrange(10**9, 2 * 10**9)  # no demo driver, and new for each run
    row = {"conv_rate": round(rng.random(), 4), "acc_rate": round(rng.random(), 4),
           "avg_daily_trips": rng.randrange(1, 1000)}
    now = datetime.now(timezone.utc).isoformat()
    push = {"push_source_name": "driver_stats_push", "to": "online",
            "df": {"driver_id": [driver], **{k: [v] for k, v in row.items()},
                   "event_timestamp": [now], "created": [now]}}
    post(f"{url}/push", push, "push")
    got = online(url, [driver]).get(driver, {})
    check(same(got, row), "push round trip", f"driver {driver}: pushed {row}, read back {got}")
    print(f"pushed driver {driver} {row} and read it back online", flush=True)

    store = (ctx.get("inputs") or {}).get("object_store")
    if store:
        import boto3

        s3 = boto3.client("s3", endpoint_url=store.get("endpoint") or None, region_name=store.get("region"),
                          aws_access_key_id=store["access_key"], aws_secret_access_key=store["secret_key"])
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=store["bucket"])
                for o in page.get("Contents", []) if f"/{o['Key']}".endswith(f"/{project}/registry.db")]
        check(len(keys) == 1, "object store", f"no <prefix>/{project}/registry.db in bucket {store['bucket']}")
        print(f"found the registry in the object store: s3://{store['bucket']}/{keys[0]}", flush=True)

    if not kv:
        print("no kv_store in the context: the online store is SQLite in the run directory", flush=True)
        return
    import redis
    from feast.infra.online_stores.helpers import _mmh3, _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    client = redis.Redis.from_url(kv["url"], socket_timeout=10)
    key = _redis_key(project, EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=driver)]))
    stored = client.hget(key, _mmh3(f"{VIEW}:conv_rate"))
    check(stored is not None, "redis", f"no conv_rate of driver {driver} under Feast's key in Redis")
    value = Value()
    value.ParseFromString(stored)
    check(math.isclose(value.float_val, row["conv_rate"], rel_tol=1e-6), "redis",
          f"Redis holds conv_rate {value.float_val} for driver {driver}, pushed {row['conv_rate']}")
    keys = sum(1 for _ in client.scan_iter(match=f"*{project}", count=1000))
    client.close()
    print(f"found driver {driver}'s row in Redis ({keys} keys of project {project})", flush=True)


if __name__ == "__main__":
    run(main)
