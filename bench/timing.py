"""What every bench script times a command with (run from bench/, so `from timing import timed`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds `argv` took; a failure stops the bench with the end of its output."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def stackctl(*args: str) -> float:
    """Seconds one `stackctl ARGS` took, run as a user runs it (its own process, this interpreter)."""
    return timed([sys.executable, "-m", "stackctl.app", *args])


def ratios(times: dict[str, list[float]], what_ran: str) -> dict[str, float]:
    """Print the medians of "stackctl up|down" and "baseline up|down" and their ratios; return them."""
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{what_ran}, medians:")
    for k, v in med.items():
        print(f"  {k:14s} {v:7.2f}s")
    for what in ("up", "down"):
        med[f"ratio {what}"] = med[f"stackctl {what}"] / med[f"baseline {what}"]
        med[f"overhead {what}"] = med[f"stackctl {what}"] - med[f"baseline {what}"]
        print(f"ratio {what:4s} (stackctl / baseline): {med[f'ratio {what}']:.2f}x "
              f"({med[f'overhead {what}']:+.2f}s)")
    return med
