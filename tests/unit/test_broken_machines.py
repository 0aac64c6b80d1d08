"""A full disk and a read-only home: one clear error each, never a traceback, and `down` still works
on a full disk. stackctl's home is a tmpfs of our own (root only), filled or remounted read-only."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from tests.conftest import run_cli
from tests.unit.test_lifecycle import STACK

from stackctl.workdir import RESERVE_BYTES, Workdir

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a tmpfs: root only")


@pytest.fixture
def small_home(tmp_path, monkeypatch):
    home = tmp_path / "tmpfs-home"
    home.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3g", "tmpfs", str(home)], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot mount a tmpfs here: {err.stderr.decode().strip()}")
    monkeypatch.setenv("STACKCTL_HOME", str(home))
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def _remount(home, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(home)], check=True)


def _fill(home) -> None:
    """Shrink the tmpfs to what it holds plus a little, then write until nothing is left."""
    used = shutil.disk_usage(home).used
    _remount(home, f"size={used + 256 * 1024}")
    with open(home / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    assert shutil.disk_usage(home).free < 8192


def _clean(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) <= 6, result.stderr


def test_full_disk_is_one_clear_error_and_down_still_works(write, fixture_catalog, small_home):
    path = write(STACK)
    up = run_cli("up", str(path), "--yes", "--no-smoke")
    assert up.returncode == 0, up.stderr
    reserve = Workdir("life").reserve_path
    assert reserve.stat().st_blocks * 512 >= RESERVE_BYTES and oct(reserve.stat().st_mode & 0o777) == "0o600"
    _fill(small_home)

    render = run_cli("render", str(path))
    assert render.returncode == 1
    _clean(render)
    assert "error: no space left to write" in render.stderr and "fix: free space on that file system" in render.stderr

    status = run_cli("status", str(path), "--json")  # reading needs no space
    assert status.returncode == 0, status.stderr

    down = run_cli("down", str(path), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stack life destroyed" in down.stdout
    assert not Workdir("life").root.exists()


def test_read_only_home_is_one_clear_error(write, fixture_catalog, small_home):
    path = write(STACK)
    assert run_cli("up", str(path), "--yes", "--no-smoke").returncode == 0
    _remount(small_home, "ro")
    try:
        for args in (("render", str(path)), ("up", str(path), "--yes", "--no-smoke"), ("down", str(path), "--yes")):
            result = run_cli(*args)
            assert result.returncode == 1, (args, result.stderr)
            _clean(result)
            assert "is on a read-only file system" in result.stderr, (args, result.stderr)
            assert "fix: remount it read-write, or set STACKCTL_HOME" in result.stderr
        assert run_cli("ls").returncode == 0
    finally:
        _remount(small_home, "rw")
    assert Workdir("life").load_record().state == "up"  # nothing was half-changed
    assert run_cli("down", str(path), "--yes").returncode == 0
