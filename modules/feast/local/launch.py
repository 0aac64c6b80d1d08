"""Run the Feast feature server for stackctl: write feature_store.yaml, apply the demo, serve.

    launch.py --repo DIR --data DIR --project NAME [--registry URI] [--no-demo] -- feast ... serve ...

The online store is Redis when STACKCTL_KV_URL (redis://[:password@]host:port/db) is set, else
SQLite in DATA. The registry is a file registry at URI (default DATA/registry.db; an s3:// URI
puts it in the wired object store, with FEAST_S3_ENDPOINT_URL and the AWS_* credentials in the
environment). The offline store reads parquet files from DATA.

The URL holds the Redis password. Feast takes it only inside feature_store.yaml, but expands
environment variables there: the file (DIR/feature_store.yaml, mode 0600) names
${STACKCTL_FEAST_REDIS}, and the connection string lives in that variable of the server's
environment only, so the password never reaches the disk or argv (STACKCTL_KV_URL itself is
removed from the environment). Unless --no-demo, every start applies a small built-in feature
repo (entity `driver`, feature view `driver_hourly_stats` fed by a parquet file and by the push
source `driver_stats_push`) and materializes it, so the server answers real requests (see
DEMO_DRIVERS and demo_row). Then this process execs the command after `--`: the server
takes over this pid and receives the supervisor's signals itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

REDIS_ENV = "STACKCTL_FEAST_REDIS"  # Feast's connection string, JSON-quoted so the YAML stays valid
DEMO_DRIVERS = range(1001, 1006)
DEMO_TIMES = [datetime(2024, 1, 1, h, tzinfo=timezone.utc) for h in (0, 1)]  # the later row wins online


def demo_row(driver_id: int, hour: int) -> dict:
    """The demo's deterministic values (the smoke script checks them): hour 1 is the latest."""
    n = driver_id - 1000
    return {"conv_rate": round(0.1 * n + 0.01 * hour, 4), "acc_rate": round(0.5 + 0.05 * n, 4),
            "avg_daily_trips": 10 * n + hour}


def log(msg: str) -> None:
    print(f"launch.py: {msg}", flush=True)


def redis_connection_string(url: str) -> str:
    """redis://[:password@]host:port/db -> Feast's "host:port,db=N,password=..." form."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        sys.exit(f"launch.py: STACKCTL_KV_URL must be redis://[:password@]host:port/db, got scheme {parts.scheme!r}")
    db = parts.path.strip("/") or "0"
    items = [f"{parts.hostname}:{parts.port or 6379}", f"db={int(db)}"]
    if parts.scheme == "rediss":
        items.append("ssl=true")
    if parts.username:
        items.append(f"username={unquote(parts.username)}")
    if parts.password is not None:
        password = unquote(parts.password)
        # Feast splits the string on commas and json-decodes each value ("123" would become 123)
        try:
            decoded = json.loads(password)
        except ValueError:
            decoded = password
        if "," in password or not isinstance(decoded, (str, int)) or str(decoded) != password:
            sys.exit("launch.py: the kv_store password cannot be passed to Feast's Redis connection string "
                     "(it contains a comma or reads as JSON); choose a password of letters, digits, - and _")
        items.append(f"password={password}")
    return ",".join(items)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # an older tmp file keeps its mode through O_CREAT
    os.replace(tmp, path)


def write_config(args: argparse.Namespace, kv_url: str) -> None:
    import yaml

    if kv_url:
        # a JSON string is a YAML double-quoted scalar: any password survives the expansion
        os.environ[REDIS_ENV] = json.dumps(redis_connection_string(kv_url), ensure_ascii=False)
        online = {"type": "redis", "connection_string": "STACKCTL_PLACEHOLDER"}
    else:
        online = {"type": "sqlite", "path": str(args.data / "online_store.db")}
    config = {
        "project": args.project,
        "provider": "local",
        "registry": {"registry_type": "file", "path": args.registry or str(args.data / "registry.db"),
                     "cache_ttl_seconds": 60},
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    text = yaml.safe_dump(config, sort_keys=False).replace("STACKCTL_PLACEHOLDER", f"${{{REDIS_ENV}}}")
    header = "# written by stackctl's feast launcher at every start; ${...} are environment variables\n"
    write_private(args.repo / "feature_store.yaml", header + text)
    log(f"wrote {args.repo / 'feature_store.yaml'} (online store: {online['type']})")


def demo_parquet(data: Path) -> Path:
    import pandas as pd

    path = data / "driver_stats.parquet"
    if not path.is_file():
        rows = [{"driver_id": d, **demo_row(d, t.hour), "event_timestamp": t, "created": t}
                for d in DEMO_DRIVERS for t in DEMO_TIMES]
        tmp = path.with_name(f".{path.name}.tmp")
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return path


def apply_demo(args: argparse.Namespace) -> None:
    """Apply the demo feature repo and materialize it (idempotent: runs at every start)."""
    started = time.monotonic()
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
    from feast.types import Float32, Int64

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64,
                    description="stackctl demo driver")
    batch = FileSource(name="driver_stats_source", path=str(demo_parquet(args.data)),
                       timestamp_field="event_timestamp", created_timestamp_column="created")
    push = PushSource(name="driver_stats_push", batch_source=batch)
    view = FeatureView(
        name="driver_hourly_stats", entities=[driver], ttl=timedelta(0), online=True, source=push,
        schema=[Field(name="conv_rate", dtype=Float32), Field(name="acc_rate", dtype=Float32),
                Field(name="avg_daily_trips", dtype=Int64)],
        tags={"stackctl": "demo"},
    )
    store = FeatureStore(repo_path=str(args.repo))
    store.apply([driver, batch, push, view])
    store.materialize(start_date=DEMO_TIMES[0] - timedelta(days=1), end_date=datetime.now(timezone.utc))
    log(f"applied and materialized the demo feature view driver_hourly_stats "
        f"in {time.monotonic() - started:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, type=Path, help="directory of feature_store.yaml")
    parser.add_argument("--data", required=True, type=Path, help="registry, SQLite online store, parquet")
    parser.add_argument("--project", required=True)
    parser.add_argument("--registry", default="", help="registry path or s3:// URI (default DATA/registry.db)")
    parser.add_argument("--no-demo", dest="demo", action="store_false")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("launch.py: needs the feast serve command after --", file=sys.stderr)
        return 2
    kv_url = os.environ.pop("STACKCTL_KV_URL", "")
    args.repo, args.data = args.repo.resolve(), args.data.resolve()
    args.data.mkdir(parents=True, exist_ok=True)
    write_config(args, kv_url)
    if args.demo:
        apply_demo(args)
    else:
        from feast import FeatureStore

        FeatureStore(repo_path=str(args.repo)).apply([])  # creates the registry and the project
    log("exec " + " ".join(command))
    sys.stdout.flush()
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
