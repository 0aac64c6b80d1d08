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
