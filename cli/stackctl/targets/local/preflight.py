"""Before Terraform runs on this machine: who deploys, enough disk, and the components' environments."""

from __future__ import annotations

import getpass
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...datatypes import Check

if TYPE_CHECKING:
    from ...stack import Stack


class Preflight:
    def identity(self, stack: Stack | None = None) -> str:
        return f"{getpass.getuser()}@{socket.gethostname()}"

    def preflight(self, stack: Stack) -> list[Check]:
        free = shutil.disk_usage(stack.workdir.root.parent if stack.workdir.root.parent.exists() else "/").free
        checks = [Check("disk space", "OK" if free > 2 * 2**30 else "NO", f"{free / 2**30:.1f} GiB free",
                        "free at least 2 GiB for component environments and data")]
        return checks

    def prepare(self, stack: Stack, console) -> None:
        """Build (or find cached) each component's virtualenv, with progress: the slow part of a cold up."""
        from ...runtime import envs

        wanted: dict[tuple[str, ...], list[str]] = {}
        for inst, comp in stack.components.items():
            if comp.requirements():
                wanted.setdefault(tuple(comp.requirements()), []).append(inst)
        todo = {reqs: insts for reqs, insts in wanted.items() if not envs.is_ready(envs.env_path(list(reqs)))}
        for reqs, insts in wanted.items():
            if reqs not in todo:
                console.print(f"  environment for {', '.join(insts)}: cached")
        if not todo:
            return

        def build(item):
            reqs, insts = item
            started = time.monotonic()
            envs.ensure_env(list(reqs))
            return insts, time.monotonic() - started

        with console.status(f"building {len(todo)} component environment(s) (first run only)…"):
            with ThreadPoolExecutor(max_workers=min(3, len(todo))) as pool:
                for insts, seconds in pool.map(build, todo.items()):
                    console.print(f"  environment for {', '.join(insts)}: built in {seconds:.0f}s")
