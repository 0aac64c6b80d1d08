"""Secrets at rest, for real: after `up` (smoke tests included), every file stackctl, Terraform and the
servers wrote under stackctl's home is private (files 0600 or at least not group/other accessible,
directories 0700), nothing is left in the temp dirs, and no file outside the state, the secret store
and a server's own identity file holds one of the stack's secrets in plain text.

The stackctl runs get a TMPDIR of their own (0755, like /tmp), so what anything would write to "the
system temp dir" is seen there; the real system temp dir is searched for the secrets too.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tests.conftest import REPO

from stackctl.workdir import Workdir

pytestmark = pytest.mark.e2e

FIXTURE_STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: private}
target: {kind: local}
components:
  storage: {use: store}
  sleeper: {use: sleeper}
  db: {use: db}
"""


def stackctl(*args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=900, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"stackctl {' '.join(args)}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def stack_secrets(manifest: Path, home: Path, name: str, env: dict) -> list[str]:
    """The generated secrets (the store) and every sensitive output value (masked in --json)."""
    shown = json.loads(stackctl("outputs", str(manifest), "--json", "--show-secrets", env=env).stdout)
    masked = json.loads(stackctl("outputs", str(manifest), "--json", env=env).stdout)
    values = [str(shown[inst][key]) for inst, outs in masked.items() for key, v in outs.items() if v == "***"]
    values += list(json.loads((home / "secrets" / f"{name}.json").read_text()).values())
    secrets = sorted({v for v in values if len(v) >= 8})
    assert secrets, "the stack should have secrets to look for"
    return secrets


def files_under(root: Path, since: float | None = None, skip: Path | None = None):
    """Regular files under root; with `since`, those changed since then (outside pytest's own dirs and skip)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (since is not None and d.startswith(("pytest-of-", "bash_jobs")))
                       and Path(dirpath, d) != skip]
        for name in filenames:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (since is None or st.st_mtime >= since):
                yield path, st


def holders(paths, secrets: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, st in paths:
        if st.st_size > 50 * 2**20:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits = [s[:4] + "…" for s in secrets if s.encode() in data]
        if hits:
            found[str(path)] = hits
    return found


def assert_private(root: Path, loose_ok: tuple[str, ...] = ()) -> None:
    loose = []
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [Path(dirpath), *(Path(dirpath, n) for n in dirnames + filenames)]:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != 0o700:
                loose.append(f"{oct(stat.S_IMODE(st.st_mode))} {path}/")
            elif not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077 and not any(
                    path.match(pattern) for pattern in loose_ok):
                loose.append(f"{oct(stat.S_IMODE(st.st_mode))} {path}")
    assert loose == [], "not private:\n" + "\n".join(loose)


def check_stack_at_rest(manifest: Path, name: str, home: Path, tmp_path: Path, allowed: set[str],
                        loose_ok: tuple[str, ...] = ()) -> None:
    systmp = tmp_path / "systmp"
    systmp.mkdir(mode=0o755)
    systmp.chmod(0o755)
    env = {"TMPDIR": str(systmp)}
    started = time.time() - 1
    wd = Workdir(name)
    try:
        stackctl("up", str(manifest), "--yes", env=env)
        secrets = stack_secrets(manifest, home, name, env)
        check_files(wd, name, home, systmp, started, secrets, allowed, loose_ok)
    finally:
        if wd.root.exists():
            subprocess.run([sys.executable, "-m", "stackctl.app", "down", str(manifest), "--yes"], timeout=600,
                           capture_output=True, env={**os.environ, **env})
    assert not wd.root.exists() and not (home / "secrets" / f"{name}.json").exists()
    assert holders(files_under(Path(tempfile.gettempdir()), since=started, skip=home), secrets) == {}
    assert list(files_under(systmp)) == []


def check_files(wd: Workdir, name: str, home: Path, systmp: Path, started: float, secrets: list[str],
                allowed: set[str], loose_ok: tuple[str, ...]) -> None:
    assert_private(home, loose_ok)  # the stack's dirs, state, records, lock, run files, logs, the secret store
    assert list((wd.root / "tmp").iterdir()) == []  # no plan outlives its run
    assert list(files_under(systmp)) == [], "something wrote to the system temp dir"
    ok = {str(home / "secrets" / f"{name}.json")} | {str(wd.root / rel) for rel in allowed}
    leaked = {path: hits for path, hits in holders(files_under(home), secrets).items() if path not in ok}
    assert leaked == {}, f"secrets in plain text outside the state and the secret store: {leaked}"
    assert holders(files_under(Path(tempfile.gettempdir()), since=started, skip=home), secrets) == {}


STATE = {"tf/terraform.tfstate", "tf/terraform.tfstate.backup"}


@pytest.mark.timeout(300)
def test_fixture_stack_files_are_private_and_secrets_stay_in_the_state(write, fixture_catalog, stackctl_home,
                                                                      tmp_path):
    check_stack_at_rest(write(FIXTURE_STACK), "private", stackctl_home, tmp_path, STATE)


@pytest.mark.timeout(1200)
def test_minimal_stack_files_are_private_and_secrets_stay_in_the_state(stackctl_home, tmp_path):
    # SeaweedFS reads its S3 identities from a file of its own (written 0600 by its launcher). It makes
    # its volume info files (*.vif: ids and versions, no secret) 0644 whatever the umask: they are in
    # its 0700 data dir, and the secrets search covers them like every other file.
    check_stack_at_rest(REPO / "stacks" / "minimal.yaml", "minimal", stackctl_home, tmp_path,
                        STATE | {"run/storage/s3.json"}, loose_ok=("run/storage/data/*.vif",))
