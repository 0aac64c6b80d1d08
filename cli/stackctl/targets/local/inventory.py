"""What runs of a local stack: drift, progress, stopping, leftovers (processes, ports) and status."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...workdir import port_is_open

if TYPE_CHECKING:
    from ...stack import Stack

DISCARD_GRACE = 3.0  # seconds after its stop signal before `down` kills a server (its data goes next)


def process_status(run_dir):
    # imported on use: the supervisor is only needed once a stack runs, not for validate/render
    from ...runtime.supervisor import process_status as status

    return status(run_dir)


def _deployed(stack: Stack) -> list[str]:
    """Instances in the manifest, and those still deployed from an earlier version of it."""
    record = stack.workdir.load_record()
    return sorted(set(stack.components) | set(record.components if record else ()))


class Inventory:
    def replace_addresses(self, instances: list[str]) -> list[str]:
        return [f"module.{i}.module.process.terraform_data.this" for i in instances]  # modules/_lib/terraform

    def drifted(self, stack: Stack) -> list[str]:
        """Components Terraform believes are up whose process is gone: replace them on the next up."""
        return [inst for inst in stack.components
                if (stack.workdir.run_dir(inst) / "pid").exists()
                and process_status(stack.workdir.run_dir(inst))["state"] != "running"]

    def progress(self, stack: Stack, instance: str, since: float) -> str | None:
        from ...runtime.supervisor import read_progress

        return read_progress(stack.workdir.run_dir(instance), since)

    @contextlib.contextmanager
    def stopping(self, stack: Stack) -> Iterator[None]:
        """Stop every component at once while Terraform destroys them.

        `down` removes the workdir, data included, so the order destroy follows (dependents first)
        protects nothing here; it only makes down as slow as the sum of the stops along the longest
        chain. Each server still gets its own stop signal, and SIGKILL after DISCARD_GRACE instead of
        its own stop_timeout: what a graceful stop saves is deleted next (measured: SeaweedFS 4.48's
        admin server at times waits out mini's 10 s shutdown timeout on a plugin job). Postgres, the
        one whose graceful stop also cleans up outside its data (its SysV shared memory), takes
        well under that. Destroy's stop provisioners wait on the same run-dir lock and then find the
        server stopped; one that failed to stop fails there.
        """
        from ...runtime.supervisor import SupervisorError, stop_recorded

        def stop(inst: str) -> None:
            with contextlib.suppress(SupervisorError, OSError):  # destroy's own stop reports it
                stop_recorded(stack.workdir.run_dir(inst), say=lambda _line: None, grace=DISCARD_GRACE)

        instances = _deployed(stack)
        with ThreadPoolExecutor(max_workers=max(1, len(instances))) as pool:
            for inst in instances:
                pool.submit(stop, inst)
            yield

    def sweep(self, stack: Stack, say) -> None:
        from ...runtime.supervisor import SupervisorError, stop_recorded

        for inst in _deployed(stack):
            try:
                if stop_recorded(stack.workdir.run_dir(inst), say=lambda _line: None):
                    say(f"  {inst}: stopped a process Terraform had lost track of (an interrupted start)")
            except SupervisorError as err:
                say(f"  {inst}: {err}")  # what is left is reported by leftovers()

    def leftovers(self, stack: Stack) -> list[str]:
        left = []
        for inst in _deployed(stack):
            status = process_status(stack.workdir.run_dir(inst))
            if status["state"] == "running":
                left.append(f"{inst}: process {status['pid']} still running")
            elif status["state"] == "broken":
                left.append(f"{inst}: processes {', '.join(map(str, status['left']))} still running")
        record = stack.workdir.load_record()
        for inst, ports in (record.ports if record else {}).items():
            for name, port in ports.items():
                if port_is_open(port):
                    left.append(f"{inst}: port {port} ({name}) still open")
        return left

    def smoke_fail_reason(self, stack: Stack, instance: str) -> str | None:
        from ...runtime.supervisor import describe_status

        status = process_status(stack.workdir.run_dir(instance))
        if status["state"] in ("dead", "broken"):
            return f"not running: {describe_status(status)}; `stackctl up` replaces it as a whole"
        return None

    def component_status(self, stack: Stack, instance: str) -> dict[str, Any]:
        run_dir = stack.workdir.run_dir(instance)
        status = process_status(run_dir)
        pid_file = run_dir / "pid"
        started = pid_file.stat().st_mtime if status["state"] == "running" and pid_file.exists() else None
        from ...runtime.supervisor import describe_status, health_of

        return {
            "state": status["state"],
            "health": health_of(run_dir) if status["state"] == "running" else (
                describe_status(status) if status["state"] in ("dead", "broken") else None),
            "pid": status["pid"],
            "uptime_s": round(time.time() - started, 1) if started else None,
            "log": str(stack.workdir.log_file(instance)),
            **({"left": status["left"]} if "left" in status else {}),  # what of a broken one still runs
        }
