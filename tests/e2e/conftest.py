"""Shared e2e fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import REPO


@pytest.fixture(scope="session", autouse=True)
def shared_envs_dir():
    """Component virtualenvs are keyed by their requirements: share them between tests and runs.

    A caller's STACKCTL_ENVS_DIR wins; otherwise <repo>/.cache/envs (kept between CI runs).
    """
    if os.environ.get("STACKCTL_ENVS_DIR"):
        yield Path(os.environ["STACKCTL_ENVS_DIR"])
        return
    path = REPO / ".cache" / "envs"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["STACKCTL_ENVS_DIR"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("STACKCTL_ENVS_DIR", None)


@pytest.fixture(scope="module")
def ssh_cluster(request):
    """Real sshd hosts in network namespaces for a test module (tests/sshhosts.py); the module's
    `SSH_HOSTS = {name: HostSpec}` says which. Removed afterwards, failing or not, and checked gone."""
    from tests import sshhosts

    reason = sshhosts.missing_tools()
    if reason:
        pytest.skip(reason)
    with sshhosts.cluster(request.module.SSH_HOSTS) as made:
        yield made
    left = made.leftovers()
    assert not left, f"ssh test hosts left behind: {left}"
