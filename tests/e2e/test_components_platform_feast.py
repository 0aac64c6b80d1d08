"""The local modules of redis and feast, for real (like test_components_local.py, whose throwaway
Terraform root these tests reuse): `terraform apply` starts Redis and the Feast feature server
through the supervisor, the test talks to them (PING with the password, the feature server's HTTP
API), runs each contract's smoke probes, and `terraform destroy` must leave no process and no
open port behind."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import types
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import REPO
from tests.e2e.test_components_local import (
    TERRAFORM,
    Component,
    Ref,
    Root,
    assert_down,
    env_python,
    free_ports,
    seaweedfs,
    store_inputs,
)

from stackctl.runtime.supervisor import port_open, process_status

pytestmark = pytest.mark.e2e

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def root_factory(tmp_path):
    """Make roots; whatever a test leaves running is destroyed at teardown, even on failure."""
    made: list[Root] = []

    def make(*components: Component) -> Root:
        root = Root(tmp_path / f"root{len(made)}", list(components))
        made.append(root)
        return root

    yield make
    for root in reversed(made):
        if any(process_status(root.run_dir(i))["state"] == "running" for i in root.components):
            subprocess.run([TERRAFORM, f"-chdir={root.path}", "destroy", "-auto-approve", "-input=false"],
                           env=root.env, capture_output=True, timeout=300)


def redis(instance: str = "kv") -> Component:
    # a password with characters the URL must encode and redis.conf must quote
    return Component(instance, "redis", {"port": free_ports(1)[0]},
                     {"password": secrets.token_urlsafe(16) + "@:/% \"\\"})


def feast(kv: str | None = None, store: str | None = None, instance: str = "features") -> Component:
    args: dict = {"port": free_ports(1)[0]}
    if kv:
        args["kv_store_url"] = Ref(f"module.{kv}.url")
    if store:
        for field_ in ("endpoint", "bucket", "region", "access_key", "secret_key"):
            output = "s3_endpoint" if field_ == "endpoint" else field_
            args[f"object_store_{field_}"] = Ref(f"module.{store}.{output}")
    return Component(instance, "feast", args)


def group_cmdlines(pid: int) -> str:
    """The command lines of every process in pid's process group (the launcher and its server)."""
    pgid, found = os.getpgid(pid), []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getpgid(int(proc.name)) == pgid:
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ValueError):
                pass
    return "\n".join(found)


def redis_ping(c: Component, url: str) -> str:
    return env_python(c, "import os, redis; r = redis.Redis.from_url(os.environ['URL']); "
                         "print(r.ping(), r.info('server')['redis_version'], r.config_get('unixsocket')['unixsocket'])",
                      URL=url)


def http_status(url: str) -> int:
    with NO_PROXY.open(url, timeout=10) as resp:
        return resp.status


def online_features(url: str, drivers: list[int]) -> dict[str, list]:
    body = {"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
            "entities": {"driver_id": drivers}}
    req = urllib.request.Request(f"{url}/get-online-features", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with NO_PROXY.open(req, timeout=30) as resp:
        got = json.loads(resp.read())
    return {name: r["values"] for name, r in zip(got["metadata"]["feature_names"], got["results"], strict=True)}


def launcher(component: str) -> types.ModuleType:
    """A component's local/launch.py as a module (compiled here: no __pycache__ in modules/)."""
    path = REPO / "modules" / component / "local" / "launch.py"
    module = types.ModuleType(f"{component}_launch")
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("password", ["plain_-Xy9", "a@:/% \"\\ #", "ünï: x", "123"])
def test_feast_takes_the_redis_url_apart(password):
    """Feast's Redis connection string is "host:port,key=value,...": the URL's password arrives whole."""
    url = f"redis://:{urllib.parse.quote(password, safe='')}@127.0.0.1:6399/2"
    assert launcher("feast").redis_connection_string(url) == f"127.0.0.1:6399,db=2,password={password}"


@pytest.mark.parametrize("password", ["a,b", "true", '"quoted"', "1e3"])
def test_feast_refuses_passwords_its_connection_string_would_change(password):
    url = f"redis://:{urllib.parse.quote(password, safe='')}@127.0.0.1:6399/0"
    with pytest.raises(SystemExit, match="cannot be passed to Feast"):
        launcher("feast").redis_connection_string(url)


def test_redis(root_factory):
    kv = redis()
    root = root_factory(kv)
    out = root.apply()["kv"]
    pids, ports = root.processes(), root.ports("kv")
    assert all(port_open(p) for p in ports)

    pong, version, socket = redis_ping(kv, out["url"]).split()
    assert pong == "True" and version.startswith("8."), (pong, version)
    # the password is in no argv and not in the spec; the config file and the snapshots are private
    password = kv.secrets["password"]
    assert password not in (root.run_dir("kv") / "spec.json").read_text()
    assert password not in group_cmdlines(pids["kv"])
    conf = root.run_dir("kv") / "redis.conf"
    assert conf.stat().st_mode & 0o777 == 0o600
    assert (root.run_dir("kv") / "data").stat().st_mode & 0o777 == 0o700
    # TCP on 127.0.0.1 only; the private unix socket lives in a 0700 directory
    assert Path(socket).parent.stat().st_mode & 0o777 == 0o700

    root.smoke({"kv": out})
    root.destroy()
    assert_down(root, pids, ports)
    assert not conf.exists() and not Path(socket).parent.exists()


def test_feast_with_sqlite(root_factory):
    fs = feast()
    root = root_factory(fs)
    out = root.apply()["features"]
    pids, ports = root.processes(), root.ports("features")
    url = out["feature_server_url"]
    assert http_status(f"{url}/health") == 200
    run_dir = root.run_dir("features")
    assert (run_dir / "data" / "online_store.db").is_file() and (run_dir / "data" / "registry.db").is_file()
    assert "type: sqlite" in (run_dir / "repo" / "feature_store.yaml").read_text()
    got = online_features(url, [1002])  # the demo's latest row of driver 1002 (see launch.py)
    assert got == {"driver_id": [1002], "conv_rate": [pytest.approx(0.21)], "avg_daily_trips": [21]}
    assert not (Path.home() / ".gunicorn" / "gunicorn.ctl").exists()  # gunicorn's socket is in the run dir

    root.smoke({"features": out})
    root.destroy()
    assert_down(root, pids, ports)


def test_feast_with_redis(root_factory):
    kv = redis()
    root = root_factory(kv, feast(kv="kv"))
    out = root.apply()
    pids, ports = root.processes(), root.ports("kv") + root.ports("features")
    url = out["features"]["feature_server_url"]
    assert http_status(f"{url}/health") == 200
    run_dir = root.run_dir("features")
    config = run_dir / "repo" / "feature_store.yaml"
    assert config.stat().st_mode & 0o777 == 0o600
    assert "type: redis" in config.read_text() and "${STACKCTL_FEAST_REDIS}" in config.read_text()
    assert not (run_dir / "data" / "online_store.db").exists()
    # the password (with characters YAML and the URL must escape) is in no file, spec or argv
    password = kv.secrets["password"]
    assert not [p for p in run_dir.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert password not in group_cmdlines(pids["features"])
    # the demo rows went to Redis: Feast's keys end with the project (the instance name)
    keys = env_python(kv, "import os, redis; r = redis.Redis.from_url(os.environ['URL']); "
                          "print(sum(1 for _ in r.scan_iter(match='*features')))", URL=out["kv"]["url"])
    assert int(keys) >= 5

    root.smoke(out, {"features": {"kv_store": {"url": out["kv"]["url"]}}})
    root.destroy()
    assert_down(root, pids, ports)


def test_feast_with_redis_and_seaweedfs(root_factory):
    """The registry in the object store, the online store in Redis."""
    sw, kv = seaweedfs(), redis()
    root = root_factory(sw, kv, feast(kv="kv", store="store"))
    out = root.apply()
    pids = root.processes()
    ports = root.ports("store") + root.ports("kv") + root.ports("features")
    run_dir = root.run_dir("features")
    assert not (run_dir / "data" / "registry.db").exists()
    store = out["store"]
    key = env_python(sw, "import os, boto3; s3 = boto3.client('s3', endpoint_url=os.environ['EP'], "
                                  "aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'], "
                                  "region_name=os.environ['REGION']); "
                                  "print([o['Key'] for o in s3.list_objects_v2(Bucket=os.environ['BUCKET'], "
                                  "Prefix='feast/').get('Contents', [])])",
                     EP=store["s3_endpoint"], AK=store["access_key"], SK=store["secret_key"],
                     REGION=store["region"], BUCKET=store["bucket"])
    assert key == "['feast/features/registry.db']"

    root.smoke(out, {"features": {"kv_store": {"url": out["kv"]["url"]}, **store_inputs(store)}})
    root.destroy()
    assert_down(root, pids, ports)
