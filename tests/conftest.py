"""Shared fixtures: an isolated stackctl home per test, and the small test catalog."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE_CATALOG = REPO / "tests" / "fixtures" / "catalog"


@pytest.fixture(autouse=True)
def stackctl_home(tmp_path, monkeypatch):
    home = tmp_path / "stackctl-home"
    monkeypatch.setenv("STACKCTL_HOME", str(home))
    yield home
    stop_left_servers(home)


def stop_left_servers(home: Path) -> None:
    """Stop every server a test started under its home and did not take down (it failed before its
    `down`), so a failed test leaves no process behind. Tests assert their own leftovers before this."""
    from stackctl.runtime.supervisor import stop_recorded

    for run_dir in home.glob("stacks/*/run/*"):
        if (run_dir / "spec.json").is_file():
            with contextlib.suppress(Exception):  # a broken spec is what some tests make on purpose
                stop_recorded(run_dir, say=lambda _line: None, grace=3.0)


@pytest.fixture
def fixture_catalog(monkeypatch) -> Path:
    """Point stackctl at tests/fixtures/catalog: tiny components whose modules need no servers."""
    monkeypatch.setenv("STACKCTL_MODULES_DIR", str(FIXTURE_CATALOG))
    return FIXTURE_CATALOG


@pytest.fixture
def write(tmp_path, monkeypatch):
    """Write a manifest into the test's cwd and return its relative path (errors show it as typed)."""
    monkeypatch.chdir(tmp_path)

    def _write(text: str, name: str = "stack.yaml") -> Path:
        path = Path(name)
        path.write_text(text)
        return path

    return _write


def terraform_command() -> list[str]:
    """The Terraform stackctl runs here (a binary on PATH, else the embedded one), as an argv prefix."""
    from stackctl.terraform import find_binary

    return find_binary(None)


def run_cli(*args: str, env: dict | None = None):
    """Run the real console entry point in a child process and capture what a user would see."""
    return subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def run_inprocess(path: Path) -> tuple[int, str, float]:
    """`stackctl validate PATH` through the console entry point, in this process: (exit code, output, seconds).

    Fast enough for fuzzing; an exception that escapes `main` is what a user would see as a traceback.
    """
    from stackctl.app import main

    out, started = io.StringIO(), time.monotonic()
    argv = sys.argv
    sys.argv = ["stackctl", "validate", str(path)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # what a user would see as a traceback
        code, text = 1, traceback.format_exc()
        return code, "Traceback (most recent call last):\n" + out.getvalue() + text, time.monotonic() - started
    finally:
        sys.argv = argv
    return code, out.getvalue(), time.monotonic() - started


def run_limited(path: Path, memory: int = 1 << 30, timeout: float = 30) -> tuple[int, str, float]:
    """`stackctl validate PATH` in a child process whose address space is capped (RLIMIT_AS)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "stackctl.app", "validate", str(path)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap, env=os.environ.copy())
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


@pytest.fixture(scope="session")
def aws_emulator(tmp_path_factory):
    """moto in server mode on 127.0.0.1 for the whole session (see tests/aws_emulator.py)."""
    from tests import aws_emulator as emulator

    server = emulator.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


@pytest.fixture
def aws_env(aws_emulator, tmp_path, monkeypatch):
    """An empty emulated AWS account, reached the standard way (AWS_ENDPOINT_URL) by stackctl and boto3."""
    aws_emulator.reset()
    for key, value in aws_emulator.env(tmp_path).items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    return aws_emulator
